#!/bin/bash
# The L1 host's userspace for the real-VMM suites: a Debian trixie arm64
# root with QEMU 11 from trixie-backports (its accelerated SMMUv3) and the
# guest UEFI firmware, made by mmdebstrap without running a foreign binary
# and packed as a read-only squashfs image that the L1 kernel mounts from
# a virtio-mmio disk. Cached: rebuilt only when the package list changes
# (or with VMM_ROOT_REBUILD=1).
#
# usage: vmm-root.sh      prints the image's path
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$build/vmm
img=$dir/root.sqfs
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie
pkgs=(
	qemu-system-arm/$suite-backports
	qemu-system-common/$suite-backports
	qemu-system-data/$suite-backports
	qemu-efi-aarch64
)
key="$suite ${pkgs[*]} v1"

if [ -s "$img" ] && [ "$(cat "$dir/root.key" 2>/dev/null)" = "$key" ] &&
   [ "${VMM_ROOT_REBUILD:-0}" != 1 ]; then
	echo "$img"
	exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run 'make setup'"
command -v mksquashfs >/dev/null || die "mksquashfs missing: run 'make setup'"

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
msg "making the L1 root: Debian $suite arm64 with ${pkgs[*]}" >&2
start=$(date +%s)
# extract: unpack the packages and their dependencies, run nothing.
mmdebstrap --quiet --variant=extract --arch=arm64 \
	--include="$(IFS=,; echo "${pkgs[*]}")" \
	--skip=cleanup/apt/cache \
	"$suite" "$tmp/root.tar" \
	"deb $mirror $suite main" "deb $mirror $suite-backports main" >&2
mkdir "$tmp/root"
tar -C "$tmp/root" -xf "$tmp/root.tar"
rm "$tmp/root.tar"
r=$tmp/root
# What the packages' maintainer scripts would have made: the merged-/usr
# links, and the mount points the L1 script binds into the chroot.
for l in bin sbin lib; do
	[ -e "$r/$l" ] || ln -s "usr/$l" "$r/$l"
done
# The .debs were kept for their names: the versions that went in.
ls "$r"/var/cache/apt/archives >"$tmp/debs"
rm -rf "$r"/var/cache/apt/archives/*.deb
mkdir -p "$r"/{dev,proc,sys,tmp,run,vmm}
rm -rf "$r"/usr/share/{doc,man,info,locale,lintian}
mksquashfs "$r" "$tmp/root.sqfs" -comp lz4 -noappend -quiet -no-progress >&2
mv "$tmp/root.sqfs" "$img"
# The versions that went in, for the logs and the README.
sed -n 's/^\(qemu-system-arm\|qemu-efi-aarch64\)_\([^_]*\)_.*/\1 \2/p' \
	"$tmp/debs" | sed 's/%3a/:/' >"$dir/root.versions"
echo "$key" >"$dir/root.key"
msg "L1 root: $(du -h "$img" | cut -f1) in $(( $(date +%s) - start ))s" >&2
echo "$img"
