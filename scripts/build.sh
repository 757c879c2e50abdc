#!/bin/bash
# Build one test kernel out of tree in build/out/ARCH, with ccache, from
# tinyconfig plus configs/common.config and configs/ARCH.config, and the
# userspace that runs in its VM (selftests for x86_64, tests/e2e for arm64,
# and for both the ARCH's benchmark program of tests/bench and the fuzzer
# of tests/fuzz).
# FLAVOR=bench builds make bench's kernel instead: configs/bench.config on
# top, in build/bench/out/ARCH, with only the benchmark program.
# FLAVOR=cov builds make coverage's: configs/cov.config (gcov) on top, in
# build/cov/out/ARCH, with all the test programs.
#
# usage: build.sh x86_64|arm64 [kernel|user|all]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: build.sh x86_64|arm64 [kernel|user|all]}
what=${2:-all}
out=$outdir/$arch
jobs=$(nproc)

case $arch in
x86_64) karch=x86_64; cross=; image=arch/x86/boot/bzImage; target=bzImage ;;
arm64)  karch=arm64; cross=aarch64-linux-gnu-; image=arch/arm64/boot/Image; target=Image ;;
*) die "unknown arch $arch" ;;
esac
[ -d "$linux/.git" ] || die "no build/linux: run 'make tree'"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# Paths under the checkout are hashed relative to it, so a fresh clone
# elsewhere (CI) still hits the cache.
export CCACHE_BASEDIR=$top
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
export KBUILD_BUILD_USER=nesting KBUILD_BUILD_HOST=localhost
export KBUILD_BUILD_TIMESTAMP="2000-01-01"
kmake() {
	make -s -C "$linux" O="$out" ARCH="$karch" CROSS_COMPILE="$cross" \
		CC="ccache ${cross}gcc" HOSTCC="ccache gcc" -j"$jobs" "$@"
}

# Fragments: common first, then the arch's own; later lines win.
frags=("$top/configs/common.config" "$top/configs/$arch.config")
[ "$flavor" = test ] || frags+=("$top/configs/$flavor.config")

make_config() {
	local tmp=$out/.config.new sym val line want bad=0
	mkdir -p "$out"
	kmake KCONFIG_CONFIG=.config.new tinyconfig >/dev/null
	KCONFIG_CONFIG=$tmp "$linux/scripts/kconfig/merge_config.sh" -m -Q \
		-O "$out" "$tmp" "${frags[@]}" >/dev/null
	kmake KCONFIG_CONFIG=.config.new olddefconfig >/dev/null
	# Every option the fragments ask for must have survived olddefconfig.
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*}; val=${line#*=} ;;
		*) continue ;;
		esac
		if [ "$val" = n ]; then
			want="# $sym is not set"
			grep -qx "$want" "$tmp" || ! grep -q "^$sym=" "$tmp" ||
				{ echo "config: $sym=n not honoured" >&2; bad=1; }
		else
			grep -qx "$sym=$val" "$tmp" ||
				{ echo "config: $sym=$val not honoured (dependency missing?)" >&2; bad=1; }
		fi
	done < <(cat "${frags[@]}" | awk -F= '/^CONFIG_/ { last[$1] = $0; order[++n] = $1 }
		END { for (i = 1; i <= n; i++) if (!seen[order[i]]++) print last[order[i]] }')
	[ "$bad" = 0 ] || die "the config fragments for $arch do not apply"
	if cmp -s "$tmp" "$out/.config"; then
		rm -f "$tmp"
	else
		mv "$tmp" "$out/.config"
	fi
}

build_kernel() {
	make_config
	msg "building $arch kernel"
	kmake "$target"
	# iommufd, VFIO and vfio-pci are modules, as in distributions; the VM's
	# initramfs takes them from out/modules (with modules.dep, for
	# busybox's modprobe). arm64: Module.symvers for the L2 guest's
	# out-of-tree edu driver too.
	kmake modules
	rm -rf "$out/modules"
	kmake INSTALL_MOD_PATH="$out/modules" DEPMOD=/sbin/depmod \
		modules_install >/dev/null
	kmake headers_install >/dev/null
	ln -sfn "$image" "$out/boot-image"
}

build_user() {
	local hdr="-isystem $out/usr/include" cc=${cross}gcc
	[ -d "$out/usr/include/linux" ] || die "no headers in $out: build the kernel first"
	msg "building the $arch benchmark program"
	make -s -C "$top/tests/bench" ARCH="$arch" OUT="$out/bench" \
		KHDR="$out/usr/include" LINUX="$linux" CC="$cc"
	[ "$flavor" = bench ] && return
	msg "building the $arch fuzzer and stress"
	make -s -C "$top/tests/fuzz" ARCH="$arch" OUT="$out/fuzz" \
		KHDR="$out/usr/include" LINUX="$linux" CC="$cc"
	case $arch in
	x86_64)
		msg "building iommu selftests"
		mkdir -p "$out/selftests/iommu"
		make -s -C "$linux/tools/testing/selftests/iommu" \
			OUTPUT="$out/selftests/iommu" KHDR_INCLUDES="$hdr" \
			USERLDFLAGS=-static CC="$cc" -j"$jobs"
		;;
	arm64)
		msg "building end-to-end tests"
		make -s -C "$top/tests/e2e" OUT="$out/e2e" KHDR="$out/usr/include" \
			LINUX="$linux" CC="$cc" -j"$jobs"
		build_l2
		;;
	esac
}

# The real-VMM suites' L2 guest: the same kernel image, booted by UEFI,
# with an initramfs of busybox, tests/vmm/l2-init and the edu driver
# (built out of tree in its own directory, so the checkout stays clean).
build_l2() {
	local mod=$out/vmm/mod stage=$out/vmm/l2-stage
	msg "building the L2 guest's edu driver and initramfs"
	mkdir -p "$mod"
	install -m 0644 "$top/tests/vmm/edu_guest.c" "$top/tests/vmm/Kbuild" "$mod/"
	kmake M="$mod" modules
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,dev,proc,sys,tmp}
	install -m 0755 "$build/pkgs/busybox-arm64/bin/busybox" "$stage/bin/busybox"
	ln -sf busybox "$stage/bin/sh"
	install -m 0755 "$top/tests/vmm/l2-init" "$stage/init"
	install -m 0644 "$mod/edu_guest.ko" "$stage/"
	(cd "$stage" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) \
		>"$out/vmm/l2.cpio.gz"
}

case $what in
kernel) build_kernel ;;
user) build_user ;;
all) build_kernel; build_user ;;
*) die "unknown step $what" ;;
esac
