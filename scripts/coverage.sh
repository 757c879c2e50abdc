#!/bin/bash
# make coverage: which lines of the series' iommufd code the tests reach.
# Builds the test kernels with gcov (configs/cov.config) in
# build/cov/out/ARCH, runs what make test runs there (x86_64: the
# iommufd selftests, the fuzzer and the stress on the mock; arm64: KUnit,
# the end-to-end programs, the fuzzer and the stress on the SMMUv3), reads
# the gcov data out of the VM and writes, in build/coverage/:
#   coverage.txt    one "ARCH FILE LINES_RUN LINES PERCENT" line per file,
#                   "ARCH FILE:FUNCTION ..." per vIOMMU function and
#                   "ARCH +FILE ..." for the lines the series adds or
#                   changes in the file (git diff base)
#   coverage.md     the same as tables
#   uncovered-ARCH.txt  every line of those files no test ran
#
# usage: coverage.sh [x86_64|arm64]...   (default: both)
#
# COVERAGE_SKIP=REGEX leaves out the suites whose names match (e.g.
# COVERAGE_SKIP='^(fuzz|stress)' for the hand-written tests alone);
# COVERAGE_TAG=NAME writes the results as NAME.txt/.md and
# uncovered-ARCH-NAME.txt instead (default: coverage). An arch's lines
# replace only that arch's in the results. COVERAGE_REPORT_ONLY=1 builds
# and runs nothing: it reports again from the last run's log.
set -euo pipefail
export FLAVOR=cov
. "$(dirname "$0")/lib.sh"

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)
res=$build/coverage
tag=${COVERAGE_TAG:-coverage}
skip=${COVERAGE_SKIP:-}
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
touch "$res/$tag.txt"
for arch in "${archs[@]}"; do
	sed -i "/^$arch /d" "$res/$tag.txt"
done
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
	if [ -z "${COVERAGE_REPORT_ONLY:-}" ]; then
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
		} | awk -v skip="$skip" 'skip == "" || $1 == "!" || $1 !~ skip' \
			>"$res/cov-$arch.suites"
		echo "! gcov-dump" >>"$res/cov-$arch.suites"
		msg "running the $arch suites (build/logs/cov-$arch.tests)"
		VM_TAG=cov-$arch VM_TIMEOUT=3600 \
			"$top/scripts/run-vm.sh" "$arch" "$res/cov-$arch.suites" ||
			msg "some $arch suites failed (see above): coverage of what ran"
	fi

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
	unrun=$res/uncovered-$arch.txt
	[ "$tag" = coverage ] || unrun=$res/uncovered-$arch-$tag.txt
	: >"$unrun"
	for src in ${!files}; do
		obj=$out/$(dirname "$src")
		base=$(basename "$src" .c)
		[ -e "$obj/$base.gcno" ] || continue
		tmp=$(mktemp -d)
		# From the build directory, where the objects' relative source
		# paths lead to the source; the annotated files move to $tmp
		(cd "$out" && "$gcov" -f -o "$obj" "$linux/$src" \
			>"$tmp/gcov.out" 2>/dev/null) || true
		mv "$out"/*.gcov "$tmp/" 2>/dev/null || true
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
			}' "$tmp/gcov.out" >>"$res/$tag.txt"
		# The series' own lines: those of the file that differ from base
		if [ -r "$tmp/$(basename "$src").gcov" ]; then
			git -C "$linux" diff -U0 base -- "$src" | awk '
				/^@@/ { split($3, a, ","); s = substr(a[1], 2)
					n = a[2] == "" ? 1 : a[2]
					for (i = 0; i < n; i++) print s + i }' \
				>"$tmp/added"
			awk -v arch="$arch" -v src="$src" -F: '
				FILENAME ~ /added$/ { added[$1] = 1; next }
				{ c = $1; gsub(/ /, "", c); l = $2 + 0 }
				l in added && c != "-" { total++; if (c !~ /^[#=]+$/) run++ }
				END { if (total) printf "%s +%s %d %d %.1f\n", arch, src,
					run, total, 100 * run / total }' \
				"$tmp/added" "$tmp/$(basename "$src").gcov" >>"$res/$tag.txt"
		fi
		if [ -r "$tmp/$(basename "$src").gcov" ]; then
			awk -v src="$src" -F: '$1 ~ /#####/ {
				sub(/^ +/, "", $2); printf "%s:%s:%s\n", src, $2, $3 }' \
				"$tmp/$(basename "$src").gcov" >>"$unrun"
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
	awk '$2 !~ /[:+]/ { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' \
		"$res/$tag.txt"
	echo
	echo "| arch | the series' lines of | lines run | lines | % |"
	echo "|---|---|---:|---:|---:|"
	awk '$2 ~ /^\+/ { printf "| %s | %s | %s | %s | %s |\n", $1, substr($2, 2), $3, $4, $5 }' \
		"$res/$tag.txt"
	echo
	echo "| arch | vIOMMU function | lines run | lines | % |"
	echo "|---|---|---:|---:|---:|"
	awk '$2 ~ /:/ { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' \
		"$res/$tag.txt"
} >"$res/$tag.md"
cat "$res/$tag.md"
msg "results in build/coverage/ after $(( $(date +%s) - start ))s"
