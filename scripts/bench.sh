#!/bin/bash
# make bench: build non-debug kernels with the series (configs/bench.config
# over the test configs, in build/bench/out/ARCH, so the test kernels stay
# as they are), run tests/bench/iommufd_bench on the mock driver in the
# x86_64 VM and tests/bench/smmu_bench on QEMU's SMMUv3 in the arm64 VM,
# and write, in build/bench/:
#   results.txt  one "NAME VALUE UNIT" line per figure (the median over
#                the rounds) and per ratio (of medians of one VM run)
#   results.md   the same as a markdown table, with the min, the machine
#                and the date
#   bench.png    the invalidation figures per command, by batch size
#
# usage: bench.sh [x86_64|arm64]...   (default: both)
# BENCH_ROUNDS (default 9), BENCH_ROUND_MS (default 30) and BENCH_RUNS
# (iommufd_bench's setups, default 5) reach the programs;
# BENCH_REPORT_ONLY=1 only remakes the files from the last runs' logs
# (build/logs/bench-ARCH.tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)
out=$build/bench
start=$(date +%s)

mkdir -p "$out"
[ "${BENCH_REPORT_ONLY:-0}" = 1 ] && archs=()
[ ${#archs[@]} = 0 ] || "$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
command -v gnuplot >/dev/null || {
	msg "installing gnuplot-nox"
	apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
}

for arch in "${archs[@]}"; do
	msg "building the non-debug $arch kernel and $arch benchmark"
	FLAVOR=bench "$top/scripts/build.sh" "$arch" all
	msg "running the $arch benchmark (progress: build/logs/bench-$arch.tests)"
	# The guest gets the rounds on the benchmark's command line
	sed -E "s|^([^#! ][^ ]* [0-9]+ )\./|\1env BENCH_ROUNDS=${BENCH_ROUNDS:-9} BENCH_ROUND_MS=${BENCH_ROUND_MS:-30} ${BENCH_RUNS:+BENCH_RUNS=$BENCH_RUNS }./|" \
		"$top/tests/guest/bench-$arch.suites" >"$out/bench-$arch.suites"
	# KUnit ran in make test; it need not run again at every boot here
	kunit=()
	[ "$arch" = arm64 ] && kunit=(VM_KUNIT=0 VM_APPEND=kunit.enable=0)
	env "${kunit[@]}" FLAVOR=bench VM_TAG=bench-$arch LIVE=1 \
		"$top/scripts/run-vm.sh" "$arch" "$out/bench-$arch.suites" |
		grep --line-buffered -v '^figure \|^ratio ' || true
	read -r p f s <"$build/logs/bench-$arch.result" || f=1
	[ "${f:-1}" = 0 ] || die "the $arch benchmark failed; see build/logs/bench-$arch.*"
done

# Figures of this run, both arches if both ran now, else the latest of each
{
	for arch in x86_64 arm64; do
		[ -r "$build/logs/bench-$arch.tests" ] || continue
		tr -d '\r' <"$build/logs/bench-$arch.tests" |
			awk -v arch="$arch" '$1 == "figure" { print arch, $2, $3, $4, $5 }
				$1 == "ratio" { print arch, $2, $3, $3, $4 }'
	done
} >"$out/raw.txt"
[ -s "$out/raw.txt" ] || die "no figures in build/logs/bench-*.tests"
awk '{ print $2, $4, $5 }' "$out/raw.txt" >"$out/results.txt"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
	echo "Measured $(date -u '+%Y-%m-%d') on ${cpu:-this machine} ($(nproc) cores), under QEMU TCG"
	echo "(x86_64: mock driver; arm64: QEMU's SMMUv3 with two edu devices), non-debug"
	echo "kernels with the series; per operation, the median and the minimum over the"
	echo "rounds (x86_64: over the rounds of ${BENCH_RUNS:-5} setups); ratios of medians taken in"
	echo "the same VM run."
	echo
	echo "| figure | median | min | unit |"
	echo "|---|---:|---:|---|"
	awk '$5 == "x" { printf "| %s | %s | | ratio |\n", $2, $4; next }
		{ printf "| %s | %s | %s | %s/op |\n", $2, $4, $3, $5 }' "$out/raw.txt"
} >"$out/results.md"

# The invalidation figures, per command, against the batch size
plots=
for f in hwpt_inval:"6.12 nested HWPT (mock)" \
	 viommu_inval_1vdev:"vIOMMU, 1 vDEVICE (mock)" \
	 viommu_inval_1024vdev:"vIOMMU, 1024 vDEVICEs (mock)" \
	 viommu_lookup_1024vdev:"vIOMMU, 1024 vDEVICEs, lookup only (mock)" \
	 smmu_viommu_inval:"vIOMMU, TLBI_NH_VA (SMMUv3)"; do
	name=${f%%:*}
	awk -v f="$name" '{ n = $2; sub(/_b[0-9]+$/, "", n); b = $2; sub(/.*_b/, "", b) }
		n == f { print b, $4 }' "$out/raw.txt" >"$out/plot-$name.dat"
	[ -s "$out/plot-$name.dat" ] || continue
	plots+="${plots:+, }\"$out/plot-$name.dat\" with linespoints title \"${f#*:}\""
done
gnuplot <<EOF
set terminal pngcairo size 900,560 noenhanced
set output "$out/bench.png"
set title "Invalidation cost per command (median) by batch size"
set logscale xy
set xlabel "commands per IOMMU_HWPT_INVALIDATE"
set ylabel "ns per command"
set key top right
set grid
plot $plots
EOF
cat "$out/results.md"
msg "results in build/bench/ (results.txt, results.md, bench.png) after $(( $(date +%s) - start ))s"
