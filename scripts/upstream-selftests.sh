#!/bin/bash
# make upstream-selftests: mainline's own iommufd selftests, run against the
# series the way a distribution's or a stable kernel CI runs the newest
# kselftests against an older kernel.
#
#  1. fetch: the newest linux-source-N.M in Debian's UPSTREAM_SUITE
#     (default trixie-backports; 7.3 when this was written), downloaded with
#     a private apt configuration under build/upstream (the host's apt is
#     not touched) and cached there: only its tools/testing/selftests pieces
#     are unpacked
#  2. build: its tools/testing/selftests/iommu, files unchanged, against the
#     series' exported uAPI headers (build/out/x86_64/usr/include) and the
#     series' drivers/iommu/iommufd/iommufd_test.h, with
#     tests/upstream/compat.h force-included for the uAPI of the features
#     the series does not carry
#  3. run: iommufd and iommufd_fail_nth in the x86_64 debug VM
#     (tests/guest/upstream.suites), judged by scripts/results.sh with
#     tests/upstream/expected-fail: a listed test must fail, any other must
#     pass, and a listed test that passes or no longer exists fails the run
#
# UPSTREAM_SOURCE=linux-source-7.3 pins the package instead of the newest.
# Needs the x86_64 test kernel (make build-x86_64).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=${UPSTREAM_SUITE:-trixie-backports}
up=$build/upstream
apt=$up/apt
out=$outdir/x86_64
hdr=$out/usr/include
[ -d "$hdr/linux" ] || die "no x86_64 headers: run 'make build-x86_64'"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"

# 1. fetch
aptq() {
	"$@" -q -o Dir::Etc::SourceList="$apt/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$apt/lists" \
		-o Dir::Cache="$apt/cache" -o Dir::State::Status=/dev/null \
		-o Debug::NoLocking=1 -o APT::Architecture=amd64
}
echo "deb http://deb.debian.org/debian $suite main" >"$apt/sources.list"
pkg=${UPSTREAM_SOURCE:-}
if [ -z "$pkg" ]; then
	# A day-old package list is fresh enough; CI's clean clone fetches.
	if [ -z "$(find "$apt/lists" -maxdepth 1 -name '*Packages*' -mmin -1440)" ]; then
		aptq apt-get update >/dev/null
	fi
	pkg=$(aptq apt-cache pkgnames linux-source- | grep -E '^linux-source-[0-9]+\.[0-9]+$' |
		sort -V | tail -n 1)
	[ -n "$pkg" ] || die "no linux-source-N.M package in $suite"
fi
src=$up/$pkg
sel=$src/tools/testing/selftests
if [ ! -f "$sel/iommu/iommufd.c" ]; then
	ls "$apt/lists" | grep -q Packages || aptq apt-get update >/dev/null
	msg "downloading $pkg from $suite"
	rm -f "$up"/"$pkg"_*.deb
	(cd "$up" && aptq apt-get download "$pkg" >/dev/null)
	deb=$(ls "$up"/"$pkg"_*.deb)
	msg "unpacking the selftests of ${deb##*/}"
	rm -rf "$src.tmp"
	mkdir -p "$src.tmp"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO "./usr/src/$pkg.tar.xz" |
		tar -xJ -C "$src.tmp" --strip-components=1 \
			"$pkg/tools/testing/selftests/iommu" \
			"$pkg/tools/testing/selftests/kselftest_harness.h" \
			"$pkg/tools/testing/selftests/kselftest.h" \
			"$pkg/tools/testing/selftests/lib.mk" \
			"$pkg/tools/testing/selftests/kselftest"
	rm -rf "$src"
	mv "$src.tmp" "$src"
	rm -f "$deb"
fi
ver=${pkg#linux-source-}

# 2. build: their files in a tree of their layout, whose
# drivers/iommu/iommufd/iommufd_test.h is the series' (the selftests
# include it by that relative path)
stage=$up/stage
rm -rf "$stage"
mkdir -p "$stage/tools/testing" "$stage/drivers/iommu/iommufd"
cp -r "$sel" "$stage/tools/testing/"
cp "$linux/drivers/iommu/iommufd/iommufd_test.h" "$stage/drivers/iommu/iommufd/"
bin=$out/upstream
rm -rf "$bin"
mkdir -p "$bin"
msg "building mainline $ver's iommu selftests against the series"
make -s -C "$stage/tools/testing/selftests/iommu" OUTPUT="$bin" \
	KHDR_INCLUDES="-isystem $hdr -include $top/tests/upstream/compat.h" \
	USERLDFLAGS=-static CC=gcc -j"$(nproc)"
echo "$pkg" >"$bin/.source"

# 3. run and judge
[ "${UPSTREAM_RUN:-1}" = 1 ] || exit 0
VM_TAG=upstream RESULTS_XFAIL=$top/tests/upstream/expected-fail \
	exec "$top/scripts/run-vm.sh" x86_64 "$top/tests/guest/upstream.suites"
