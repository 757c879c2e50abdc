#!/bin/bash
# make demo: from a fresh machine, install what is missing, build the
# arm64 kernel, boot it under QEMU with a nesting-capable SMMUv3 and two
# edu devices, and show what the guest sees.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
"$top/scripts/build.sh" arm64
echo
echo "Booting: qemu-system-aarch64 -M virt,iommu=smmuv3 -global arm-smmuv3.stage=nested -device edu -device edu"
echo
rc=0
LIVE=1 "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/demo.suites" || rc=$?
echo
echo "Kernel console: build/logs/arm64.console; guest output: build/logs/arm64.tests"
exit $rc
