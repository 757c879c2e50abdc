#!/bin/bash
# Install, idempotently, everything the make targets use, from Debian's
# archive only: the 6.12 kernel source, compilers, QEMU 10 (backports),
# static busybox for both guest architectures, and the review tools.
set -euo pipefail

need_root() {
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null; then
			exec sudo -E "$0" "$@"
		fi
		echo "setup: must run as root (or have sudo)" >&2
		exit 1
	fi
}

. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}

pkgs=(
	linux-source-6.12 xz-utils
	build-essential bc bison flex libssl-dev libelf-dev cpio kmod rsync
	ccache git python3 python3-ply python3-git perl
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	sparse coccinelle
	busybox-static
	libcap-ng-dev libcap-dev
	mmdebstrap squashfs-tools
)
# QEMU comes from backports: bookworm's 7.2 has a stage-1 only SMMUv3.
bpo_pkgs=(qemu-system-arm qemu-system-x86 qemu-system-data qemu-utils)

missing() {
	local p out=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || out+=("$p")
	done
	echo "${out[@]}"
}

qemu_ok() {
	local v
	command -v qemu-system-aarch64 >/dev/null || return 1
	command -v qemu-system-x86_64 >/dev/null || return 1
	v=$(qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
	[ "${v:-0}" -ge 10 ]
}

# busybox-static:arm64 conflicts with the host's busybox-static, so the
# arm64 binary is unpacked from its .deb into the work area instead.
top=$(cd "$(dirname "$0")/.." && pwd)
bb_dir=$top/build/pkgs/busybox-arm64
bb_arm64=$bb_dir/bin/busybox

need_root "$@"
export DEBIAN_FRONTEND=noninteractive

m=$(missing "${pkgs[@]}")
if [ -z "$m" ] && qemu_ok && [ -x "$bb_arm64" ]; then
	echo "setup: everything is installed"
	exit 0
fi

changed=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	changed=1
fi
bpo=/etc/apt/sources.list.d/${codename}-backports.sources
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >"$bpo" <<EOS
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${codename}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	changed=1
fi

stamp=/var/lib/apt/periodic/.iommufd-nesting-update
if [ "$changed" = 1 ] || [ ! -e "$stamp" ] ||
   [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
	apt-get update -q
	mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi

m=$(missing "${pkgs[@]}")
if [ -n "$m" ]; then
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $m
fi
if ! qemu_ok; then
	apt-get install -y -q --no-install-recommends \
		-t "${codename}-backports" "${bpo_pkgs[@]}"
fi
qemu_ok || { echo "setup: QEMU >= 10 not available" >&2; exit 1; }
if [ ! -x "$bb_arm64" ]; then
	tmp=$(mktemp -d)
	chmod 0755 "$tmp"	# apt's _apt user downloads into it
	(cd "$tmp" && apt-get download -q busybox-static:arm64)
	rm -rf "$bb_dir" && mkdir -p "$bb_dir"
	dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x"
	install -D -m 0755 "$tmp/x/bin/busybox" "$bb_arm64"
	rm -rf "$tmp"
fi
echo "setup: done ($(qemu-system-aarch64 --version | head -n 1))"
