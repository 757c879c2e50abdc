#!/bin/bash
# make coverage: which lines of the series' iommufd code the tests reach.
# Builds the test kernels with gcov (configs/cov.config) in
# build/cov/out/ARCH, runs what make test runs there (x86_64: the
# iommufd selftests, the fuzzer and the stress on the mock; arm64: KUnit,
# the end-to-end programs, the fuzzer and the stress on the SMMUv3), reads
# the gcov data out of the VM and writes, in build/coverage/:
#   coverage.txt    one "ARCH FILE LINES_RUN LINES PERCENT" line per file
#                   and "ARCH FILE:FUNCTION ..." per vIOMMU function
#   coverage.md     the same as tables
#   uncovered-ARCH.txt  every line of those files no test ran
#
# usage: coverage.sh [x86_64|arm64]...   (default: both)
set -euo pipefail
export FLAVOR=cov
. "$(dirname "$0")/lib.sh"

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)
res=$build/coverage
start=$(date +%s)
mkdir -p "$res"

# The files whose coverage is reported, and the functions of the shared
# files that are the vIOMMU's (matched by name)
ifd=drivers/iommu/iommufd
files_x86_64="$ifd/viommu.c $ifd/veventq.c $ifd/eventq.c $ifd/driver.c
	$ifd/hw_pagetable.c $ifd/device.c $ifd/main.c $ifd/selftest.c"
files_arm64="$files_x86_64 drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c"
funcs='viommu|vdev|veventq|vevent|hw_queue|nested|invalidate|_destroy$|object_remove|fops_release'

"$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
: >"$res/coverage.txt"
for arch in "${archs[@]}"; do
	out=$outdir/$arch
	case $arch in
	x86_64)
		gcov=gcov
		suites=$top/tests/guest/x86_64.suites
		;;
	arm64)
		gcov=aarch64-linux-gnu-gcov
		suites=$top/tests/guest/arm64.suites
		;;
	*) die "unknown arch $arch" ;;
	esac
	msg "building the $arch kernel with gcov"
	"$top/scripts/build.sh" "$arch" all
	# What make test runs, then the counts, out through the test channel
	{
		grep -v '^#' "$suites"
		if [ "$arch" = arm64 ]; then
			for t in "$out"/e2e/*; do
				[ -x "$t" ] && echo "${t##*/} 600 ./${t##*/}"
			done
		fi
		echo "! gcov-dump"
	} >"$res/cov-$arch.suites"
	msg "running the $arch suites (build/logs/cov-$arch.tests)"
	VM_TAG=cov-$arch VM_TIMEOUT=3600 \
		"$top/scripts/run-vm.sh" "$arch" "$res/cov-$arch.suites" ||
		msg "some $arch suites failed (see above): coverage of what ran"

	# Each "@@gcda PATH" is followed by the file in base64
	find "$out" -name '*.gcda' -delete
	tr -d '\r' <"$build/logs/cov-$arch.tests" | awk -v out="$out" '
		/^@@gcda-end/ { if (f) close(f); f = ""; next }
		/^@@gcda / {
			if (f) close(f)
			i = index($2, "/drivers/")
			f = i ? out substr($2, i) ".b64" : ""
			next
		}
		/^@@/ { if (f) close(f); f = ""; next }
		f { print > f }'
	n=0
	while read -r b; do
		base64 -d "$b" >"${b%.b64}" && n=$((n + 1))
		rm -f "$b"
	done < <(find "$out" -name '*.gcda.b64')
	[ "$n" -gt 0 ] || die "no gcov data came out of the $arch VM"
	msg "$n gcov data files"

	files=files_$arch
	: >"$res/uncovered-$arch.txt"
	for src in ${!files}; do
		obj=$out/$(dirname "$src")
		base=$(basename "$src" .c)
		[ -e "$obj/$base.gcno" ] || continue
		tmp=$(mktemp -d)
		(cd "$tmp" && "$gcov" -f -o "$obj" "$linux/$src" >gcov.out 2>/dev/null) || true
		# The file's own total, and its vIOMMU functions'
		awk -v arch="$arch" -v src="$src" -v funcs="$funcs" '
			/^Function / { fn = $2; gsub(/\047/, "", fn); next }
			/^File / { fn = ""; file = $2; gsub(/\047/, "", file); next }
			/^Lines executed:/ {
				split($2, a, ":"); pct = a[2]; sub(/%/, "", pct)
				total = $4
				run = int(pct * total / 100 + 0.5)
				if (fn != "" && fn ~ funcs)
					printf "%s %s:%s %d %d %.1f\n", arch, src, fn, run, total, pct
				else if (fn == "" && file ~ src "$")
					printf "%s %s %d %d %.1f\n", arch, src, run, total, pct
			}' "$tmp/gcov.out" >>"$res/coverage.txt"
		if [ -r "$tmp/$(basename "$src").gcov" ]; then
			awk -v src="$src" -F: '$1 ~ /#####/ {
				sub(/^ +/, "", $2); printf "%s:%s:%s\n", src, $2, $3 }' \
				"$tmp/$(basename "$src").gcov" >>"$res/uncovered-$arch.txt"
		fi
		rm -rf "$tmp"
	done
done

{
	echo "Line coverage of the iommufd code by the tests of make test (gcov,"
	echo "measured $(date -u '+%Y-%m-%d'); x86_64: mock driver, arm64: SMMUv3)."
	echo
	echo "| arch | file | lines run | lines | % |"
	echo "|---|---|---:|---:|---:|"
	awk '$2 !~ /:/ { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' \
		"$res/coverage.txt"
	echo
	echo "| arch | vIOMMU function | lines run | lines | % |"
	echo "|---|---|---:|---:|---:|"
	awk '$2 ~ /:/ { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' \
		"$res/coverage.txt"
} >"$res/coverage.md"
cat "$res/coverage.md"
msg "results in build/coverage/ after $(( $(date +%s) - start ))s"
