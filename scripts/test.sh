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

for arch in x86_64 arm64; do
	step "build $arch"
	if ! "$top/scripts/build.sh" "$arch"; then
		echo "$arch: build failed"
		count 0 1 0
		continue
	fi
	step "run $arch VM"
	"$top/scripts/run-vm.sh" "$arch"
	if [ -r "$build/logs/$arch.result" ]; then
		read -r p f s <"$build/logs/$arch.result"
		count "$p" "$f" "$s"
	else
		count 0 1 0
	fi
	if [ "$arch" = arm64 ]; then
		step "harness self-check: a guest WARN must fail a run"
		if "$top/scripts/selfcheck.sh"; then count 1 0 0; else count 0 1 0; fi
		step "run the real-VMM suites: L0 arm64 VM (EL2) -> L1 series kernel with Debian's QEMU 11 -> L2 guest"
		VM_TAG=vmm "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/vmm.suites"
		if [ -r "$build/logs/vmm.result" ]; then
			read -r p f s <"$build/logs/vmm.result"
			count "$p" "$f" "$s"
		else
			count 0 1 0
		fi
	fi
done
finish
