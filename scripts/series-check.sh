#!/bin/bash
# Fail, saying why, when build/linux holds work that series/ does not.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -d "$linux/.git" ] || exit 0
exec "$top/scripts/series.sh" --check
