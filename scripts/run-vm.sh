#!/bin/bash
# Boot the ARCH test kernel under QEMU (TCG) with a generated initramfs,
# run the guest suites, then judge the logs with scripts/results.sh.
#
# usage: run-vm.sh x86_64|arm64 [SUITES-FILE]
# Logs: build/logs/ARCH.console (kernel console), build/logs/ARCH.tests
# (the suites' own output, on a second serial port).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: run-vm.sh x86_64|arm64 [SUITES-FILE]}
suites=${2:-$top/tests/guest/$arch.suites}
out=$outdir/$arch
logs=$build/logs
tag=${VM_TAG:-$arch}
# The real-VMM suites (tests/guest/vmm*.suites) need a different L0 VM:
# EL2 for KVM, more memory, the L1 root disk and the L2 payload.
vmm=${VMM:-0}
case ${suites##*/} in vmm*.suites) vmm=1 ;; esac
stage=$out/initramfs
[ -e "$out/boot-image" ] || die "no $arch kernel: run 'make build'"

mkdir -p "$logs"
# A stale result must never stand in for a run that died before judging.
rm -f "$logs/$tag.console" "$logs/$tag.tests" "$logs/$tag.result"
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc,suites}
install -m 0755 "$top/tests/guest/init" "$stage/init"
install -m 0755 "$top/tests/guest/vfio-bind" "$top/tests/guest/smmu-info" \
	"$top/tests/guest/gcov-dump" "$top/tests/guest/modules" "$stage/bin/"
# iommufd, VFIO and vfio-pci are modules (configs/common.config)
if [ -d "$out/modules/lib/modules" ]; then
	mkdir -p "$stage/lib"
	cp -a "$out/modules/lib/modules" "$stage/lib/"
fi
e2e_list=$stage/e2e.list
: >"$e2e_list"

case $arch in
x86_64)
	install -m 0755 /bin/busybox "$stage/bin/busybox"
	# The selftests (test kernel) and the benchmark, whichever are built
	for t in "$out"/selftests/iommu/iommufd \
		 "$out"/selftests/iommu/iommufd_fail_nth "$out"/bench/* \
		 "$out"/fuzz/*; do
		if [ -x "$t" ]; then install -m 0755 "$t" "$stage/suites/"; fi
	done
	# Mainline's selftests (make upstream-selftests), for its suites file
	if [ "${suites##*/}" = upstream.suites ]; then
		for t in "$out"/upstream/*; do
			install -m 0755 "$t" "$stage/suites/upstream-${t##*/}"
		done
	fi
	qemu=(qemu-system-x86_64 -accel tcg -cpu max -M q35 -smp 2 -m 2G)
	console=ttyS0 testout=/dev/ttyS1
	tmo=${VM_TIMEOUT:-2400}
	;;
arm64)
	install -m 0755 "$build/pkgs/busybox-arm64/bin/busybox" "$stage/bin/busybox"
	if [ "$suites" = "$top/tests/guest/$arch.suites" ] && [ -d "$out/e2e" ]; then
		for t in "$out"/e2e/*; do
			[ -x "$t" ] || continue
			install -m 0755 "$t" "$stage/suites/"
			echo "${t##*/} 600 ./${t##*/}" >>"$e2e_list"
		done
	else
		[ -d "$out/e2e" ] && install -m 0755 "$out"/e2e/* "$stage/suites/"
	fi
	for d in bench fuzz; do
		if [ -d "$out/$d" ]; then
			install -m 0755 "$out/$d"/* "$stage/suites/"
		fi
	done
	# pauth-impdef: QEMU's fast pointer-authentication algorithm (TCG).
	qemu=(qemu-system-aarch64 -accel tcg -cpu max,pauth-impdef=on
	      -M virt,iommu=smmuv3,gic-version=3 -global arm-smmuv3.stage=nested
	      -smp 2 -m 1G -device edu -device edu)
	console=ttyAMA0 testout=/dev/ttyAMA1
	# QEMU's SMMUv3 is coherent but has no S2FWB: the override that
	# lets vIOMMUs be created there (it taints the kernel, on purpose).
	kargs="arm_smmu_v3.nesting_assume_coherent=1"
	tmo=${VM_TIMEOUT:-1200}
	if [ "$vmm" = 1 ]; then
		root=$("$top/scripts/vmm-root.sh")
		[ -s "$out/vmm/l2.cpio.gz" ] || die "no L2 initramfs: run 'make build-arm64'"
		mkdir -p "$stage/vmm/l2"
		install -m 0644 "$out/boot-image" "$stage/vmm/l2/Image"
		install -m 0644 "$out/vmm/l2.cpio.gz" "$stage/vmm/l2/"
		install -m 0755 "$top/tests/vmm/vmm" "$stage/suites/"
		# virtualization=on: EL2, so the kernel hosts KVM (VHE). The
		# root is on a virtio-mmio disk, outside the SMMU.
		qemu=(qemu-system-aarch64 -accel tcg -cpu max,pauth-impdef=on
		      -M virt,iommu=smmuv3,gic-version=3,virtualization=on
		      -global arm-smmuv3.stage=nested -smp 2 -m 3G
		      -device edu -device edu
		      -drive "file=$root,if=none,format=raw,readonly=on,id=root"
		      -device virtio-blk-device,drive=root)
		# KUnit ran in the arm64 VM already.
		kargs+=" kunit.enable=0"
		export VM_KUNIT=0
		# Two L2 boots under KVM under TCG: 7-10 min each on a
		# 2-core machine measured on 2026-12-07
		tmo=${VM_TIMEOUT:-2700}
	fi
	;;
*) die "unknown arch $arch" ;;
esac

# What /init runs: the modules loaded first, then the suites file with the
# arm64 e2e programs in place of its "@e2e" line (or after it, without one)
{
	if [ -d "$stage/lib/modules" ]; then echo "! modules load"; fi
	awk -v list="$e2e_list" '
		/^@e2e$/ { while ((getline l < list) > 0) print l; done = 1; next }
		!/^#/ { print }
		END { if (!done) while ((getline l < list) > 0) print l }' "$suites"
} >"$stage/suites.list"
rm -f "$e2e_list"
ln -sf busybox "$stage/bin/sh"
(cd "$stage" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) \
	>"$out/initramfs.cpio.gz"

msg "booting $arch VM (timeout ${tmo}s); console in build/logs/$tag.console"
start=$(date +%s)
rc=0
tailpid=
if [ "${LIVE:-0}" = 1 ]; then
	: >"$logs/$tag.tests"
	{ tail -n +1 -f "$logs/$tag.tests" & echo $! >"$logs/.tail.pid"; wait; } |
		grep --line-buffered -v '^@@' &
	sleep 0.2
	tailpid=$(cat "$logs/.tail.pid")
fi
timeout --foreground -k 10 "$tmo" "${qemu[@]}" -nodefaults -no-reboot \
	-display none -monitor none -net none \
	-serial "file:$logs/$tag.console" -serial "file:$logs/$tag.tests" \
	-kernel "$out/boot-image" -initrd "$out/initramfs.cpio.gz" \
	-append "console=$console panic=-1 testout=$testout loglevel=7 ${kargs:-} ${VM_APPEND:-}" \
	</dev/null || rc=$?
secs=$(( $(date +%s) - start ))
if [ -n "$tailpid" ]; then
	sleep 1
	kill "$tailpid" 2>/dev/null || true
	wait "$tailpid" 2>/dev/null || true
fi
[ "$rc" = 124 ] && echo "@@ timeout after ${tmo}s" >>"$logs/$tag.tests"
msg "$arch VM finished in ${secs}s (qemu exit $rc)"
exec "$top/scripts/results.sh" "$arch" "$suites"
