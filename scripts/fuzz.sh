#!/bin/bash
# make fuzz: build the test kernels (debug checkers on: KASAN, lockdep,
# UBSAN, kmemleak, hung-task detection) and run tests/fuzz/iommufd_fuzz
# in each VM for FUZZ_SECONDS (default 300) per architecture: on the mock
# driver in the x86_64 VM, on the SMMUv3 driver with two edu devices in
# the arm64 VM, then the concurrency stress of that VM for STRESS_SECONDS
# (default 60). The seed is FUZZ_SEED, or taken from the clock and
# printed; a failing run prints the seed and the sequence that replays it
# (iommufd_fuzz -T TARGET -s SEED -r SEQUENCE). Any kernel splat or
# kmemleak report fails it, as in make test.
#
# usage: fuzz.sh [x86_64|arm64]...   (default: both)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x86_64 arm64)
secs=${FUZZ_SECONDS:-300}
ssecs=${STRESS_SECONDS:-60}
seed=${FUZZ_SEED:-$(date +%s)}
out=$build/fuzz
start=$(date +%s)
rc=0

"$top/scripts/setup.sh"
[ -d "$linux/.git" ] || "$top/scripts/tree.sh"
mkdir -p "$out"
msg "seed $seed, ${secs}s per architecture"
for arch in "${archs[@]}"; do
	case $arch in
	x86_64) target=mock setup='# the mock needs no setup'; kunit=()
		stress=iommufd_stress ;;
	arm64) target=smmu setup='! vfio-bind 1234:11e8' stress=smmu_stress
		# KUnit ran in make test; it need not run again here
		kunit=(VM_KUNIT=0 VM_APPEND=kunit.enable=0) ;;
	*) die "unknown arch $arch" ;;
	esac
	msg "building the $arch test kernel and fuzzer"
	"$top/scripts/build.sh" "$arch" all
	{
		echo "$setup"
		echo "fuzz-$target $((secs + 300)) ./iommufd_fuzz -T $target -s $seed -n 1000000000 -t $secs"
		echo "stress-$target $((ssecs + 300)) ./$stress -s $seed -t $ssecs"
	} >"$out/fuzz-$arch.suites"
	msg "fuzzing the $target driver for ${secs}s (build/logs/fuzz-$arch.tests)"
	env "${kunit[@]}" VM_TAG=fuzz-$arch \
		VM_TIMEOUT=$((secs + ssecs + 900)) \
		"$top/scripts/run-vm.sh" "$arch" "$out/fuzz-$arch.suites" || rc=1
	tr -d '\r' <"$build/logs/fuzz-$arch.tests" | grep -a '^#\|ok 1' || true
done
msg "done after $(( $(date +%s) - start ))s: $([ $rc = 0 ] && echo passed || echo FAILED)"
exit $rc
