#!/bin/bash
# make demo: from a fresh machine, install what is missing, build the
# arm64 kernel, boot it under QEMU with a nesting-capable SMMUv3 and two
# edu devices, and show what the guest sees: the SMMU, the devices bound
# to vfio-pci, DMA through an IOAS, then the walkthrough of nested
# translation (tests/e2e/smmu_nested_dma.c): the objects allocated with
# their IDs, the guest's STEs, CDs and page tables, and for every DMA the
# route IOVA -> IPA -> PA it took and the bytes it saw.
# Then a real VMM: the same kernel as an L1 host running Debian's QEMU 11
# with an accelerated SMMUv3, and an L2 guest whose edu DMA and MSIs go
# through nested translation (tests/vmm/), narrated level by level.
# DEMO_PART=1 or DEMO_PART=2 runs one part only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

part=${DEMO_PART:-all}
"$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
"$top/scripts/build.sh" arm64
rc=0
if [ "$part" != 2 ]; then
	echo
	echo "Part 1: the series' objects, driven by a test program that plays VMM and guest"
	echo "Booting: qemu-system-aarch64 -M virt,iommu=smmuv3 -global arm-smmuv3.stage=nested -device edu -device edu"
	echo "(kernel parameter arm_smmu_v3.nesting_assume_coherent=1: QEMU's SMMUv3 has no S2FWB)"
	echo
	LIVE=1 "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/demo.suites" || rc=$?
	echo
	echo "Kernel console: build/logs/arm64.console; guest output: build/logs/arm64.tests"
fi
if [ "$part" != 1 ]; then
	"$top/scripts/vmm-root.sh" >/dev/null
	echo
	echo "Part 2: a real VMM. Three levels, all emulated on this machine:"
	echo "  L0  QEMU $(qemu-system-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') (TCG): arm64 virt with virtualization=on (EL2), an SMMUv3 with"
	echo "      both stages, two edu PCI devices"
	echo "  L1  the series' kernel, at EL2 hosting KVM: the host. Its userspace is a Debian"
	echo "      trixie arm64 root ($(tr '\n' ' ' <"$build/vmm/root.versions")) on a disk;"
	echo "      QEMU 11 runs the guest with -device arm-smmuv3,accel=on and the edu via"
	echo "      vfio-pci + iommufd: a vIOMMU, a vDEVICE, nested HWPTs from the guest's STEs,"
	echo "      a vEVENTQ that carries the guest's own faults back to it"
	echo "  L2  the same kernel, booted by UEFI with ACPI: the guest. Its SMMUv3 driver owns"
	echo "      stage 1; tests/vmm/edu_guest.ko drives edu with the DMA API and an MSI, and"
	echo "      its DMA to an IOVA it unmapped faults in its own SMMUv3 log"
	echo
	LIVE=1 VM_TAG=vmm-demo "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/vmm-demo.suites" || rc=$?
	echo
	echo "L1 kernel console: build/logs/vmm-demo.console; L1 output with L2's: build/logs/vmm-demo.tests"
fi
exit $rc
