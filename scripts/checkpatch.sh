#!/bin/bash
# checkpatch --strict one patch file, the way make test and make check gate it.
#
# usage: checkpatch.sh PATCH
#
# checkpatch warns "does MAINTAINERS need updating?" for every patch that adds
# a file, whether or not an existing MAINTAINERS pattern covers it. That check
# is replaced by the question it stands for: get_maintainer.pl must find a
# subsystem entry (not only "THE REST") for every file the patch adds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

patch=$(realpath "${1:?usage: checkpatch.sh PATCH}")
cd "$linux"
# checkpatch runs scripts/spdxcheck.py with the first python3 on PATH; it
# needs python3-ply, which setup.sh installs for Debian's python3. A python3
# from pyenv or a venv earlier on PATH would lack it.
export PATH=/usr/bin:$PATH
rc=0
scripts/checkpatch.pl --strict --quiet --ignore FILE_PATH_CHANGES "$patch" ||
	rc=1
# "+++ b/FILE" lines that follow "--- /dev/null" are added files.
one=$(mktemp)
trap 'rm -f "$one"' EXIT
while read -r f; do
	# A one-file patch, so the file need not exist in the tree.
	printf 'diff --git a/%s b/%s\nnew file mode 100644\n--- /dev/null\n+++ b/%s\n@@ -0,0 +1 @@\n+\n' \
		"$f" "$f" "$f" >"$one"
	subsys=$(scripts/get_maintainer.pl --no-git --no-git-fallback \
		--no-email --no-l --no-rolestats --subsystem "$one" 2>/dev/null |
		grep -vx 'THE REST' || true)
	if [ -z "$subsys" ]; then
		echo "$f: new file not covered by any MAINTAINERS entry"
		rc=1
	fi
done < <(awk '/^--- \/dev\/null/ { getline; sub(/^\+\+\+ b\//, ""); print }' \
	"$patch")
exit $rc
