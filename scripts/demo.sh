#!/bin/bash
# make demo: from a fresh machine, install what is missing, build the
# arm64 kernel, boot it under QEMU with a nesting-capable SMMUv3 and two
# edu devices, and show what the guest sees: the SMMU, the devices bound
# to vfio-pci, DMA through an IOAS, then the walkthrough of nested
# translation (tests/e2e/smmu_nested_dma.c): the objects allocated with
# their IDs, the guest's STEs, CDs and page tables, and for every DMA the
# route IOVA -> IPA -> PA it took and the bytes it saw.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
"$top/scripts/build.sh" arm64
echo
echo "Booting: qemu-system-aarch64 -M virt,iommu=smmuv3 -global arm-smmuv3.stage=nested -device edu -device edu"
echo "(kernel parameter arm_smmu_v3.nesting_assume_coherent=1: QEMU's SMMUv3 has no S2FWB)"
echo
rc=0
LIVE=1 "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/demo.suites" || rc=$?
echo
echo "Kernel console: build/logs/arm64.console; guest output: build/logs/arm64.tests"
exit $rc
