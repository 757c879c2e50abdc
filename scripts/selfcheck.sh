#!/bin/bash
# Prove the harness can fail: boot the arm64 VM with a suite list whose
# only step triggers a kernel WARN (LKDTM), and expect results.sh to
# report the splat. Prints "harness-selfcheck: ok" or fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

log=$build/logs/selfcheck.out
if VM_TAG=selfcheck "$top/scripts/run-vm.sh" arm64 "$top/tests/guest/warn.suites" >"$log" 2>&1; then
	cat "$log"
	die "a WARN in the guest did not fail the run"
fi
if ! grep -q 'splat' "$log"; then
	cat "$log"
	die "the run failed, but not because of the WARN"
fi
msg "a guest WARN fails the run, as it must"
