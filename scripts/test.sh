#!/bin/bash
# Everything that must pass: install, (re)create the tree when needed,
# build both kernels, run both VMs, checkpatch --strict every patch.
# Ends with one line "N passed, N failed, N skipped"; non-zero on failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

start=$(date +%s)
pass=0 fail=0 skip=0
step() { printf '\n==== %s\n' "$*"; }
count() { # P F S
	pass=$((pass + $1)) fail=$((fail + $2)) skip=$((skip + $3))
}
finish() {
	step "summary ($(( $(date +%s) - start ))s)"
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" = 0 ]
	exit $?
}

step setup
"$top/scripts/setup.sh" || { count 0 1 0; finish; }

step tree
if [ ! -d "$linux/.git" ]; then
	"$top/scripts/tree.sh" || { count 0 1 0; finish; }
	# A fresh tree must export back to exactly series/ (cover letter
	# included), or a "make series" there would change the series.
	step "round trip: series/ -> build/linux -> series/"
	if "$top/scripts/series-check.sh"; then
		echo "series/ round trip: identical"
		count 1 0 0
	else
		count 0 1 0
	fi
elif ! "$top/scripts/series-check.sh" >/dev/null 2>&1; then
	echo "build/linux holds work series/ lacks: testing build/linux as it is"
else
	echo "build/linux matches series/"
fi

step "checkpatch --strict on series/"
n=0
while read -r p; do
	n=$((n + 1))
	if "$top/scripts/checkpatch.sh" "$p" >"$build/checkpatch.out" 2>&1; then
		count 1 0 0
	else
		echo "checkpatch: ${p##*/}"; sed 's/^/  /' "$build/checkpatch.out"
		count 0 1 0
	fi
done < <(series_patches)
echo "checkpatch: $n patches checked"

# The x86_64 VM's selftests keep about one of the machine's cores busy for
# 25 minutes: they run in the background beside the arm64 build and VMs
# (TEST_PARALLEL=0: one after the other), at a lower CPU priority, with
# room in their time limits for that; the report is printed at the end.
# Mainline's own selftests (make upstream-selftests, 10 minutes in a
# second x86_64 VM) follow the arm64 steps, which finish first.
x86pid= x86_built=0
vm_result() { # ARCH-TAG
	if [ -r "$build/logs/$1.result" ]; then
		read -r p f s <"$build/logs/$1.result"
		count "$p" "$f" "$s"
	else
		count 0 1 0
	fi
}
for arch in x86_64 arm64; do
	step "build $arch"
	if ! "$top/scripts/build.sh" "$arch"; then
		echo "$arch: build failed"
		count 0 1 0
		continue
	fi
	[ "$arch" = x86_64 ] && x86_built=1
	if [ "$arch" = x86_64 ] && [ "${TEST_PARALLEL:-1}" = 1 ]; then
		step "run $arch VM in the background (its report follows the arm64 steps)"
		mkdir -p "$build/logs"
		VM_TIMEOUT=${VM_TIMEOUT:-3600} nice -n 10 \
			"$top/scripts/run-vm.sh" "$arch" >"$build/logs/$arch.run" 2>&1 &
		x86pid=$!
		continue
	fi
	step "run $arch VM"
	"$top/scripts/run-vm.sh" "$arch"
	vm_result "$arch"
	if [ "$arch" = arm64 ]; then
		step "harness self-check: a guest WARN must fail a run"
		if "$top/scripts/selfcheck.sh"; then count 1 0 0; else count 0 1 0; fi
		step "run the real-VMM suites: L0 arm64 VM (EL2) -> L1 series kernel with Debian's QEMU 11 -> L2 guest"
		VM_TAG=vmm "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/vmm.suites"
		vm_result vmm
	fi
done
# Needs the x86_64 kernel: without it, no run (its build failure counted)
if [ "$x86_built" = 1 ]; then
	step "mainline's selftests against the series (make upstream-selftests)"
	rm -f "$build/logs/upstream.result"
	VM_TIMEOUT=${VM_TIMEOUT:-3600} "$top/scripts/upstream-selftests.sh"
	vm_result upstream
fi
if [ -n "$x86pid" ]; then
	step "run x86_64 VM (ran in the background)"
	wait "$x86pid" || true
	cat "$build/logs/x86_64.run" || true
	vm_result x86_64
fi
finish
