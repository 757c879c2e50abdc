#!/bin/bash
# Judge one VM run: the suites' TAP on the test channel, KUnit's KTAP on
# the console, kernel splats, the kmemleak scan, and whether every suite
# ran and the VM finished. Prints a line per suite and, last,
# "ARCH: N passed, N failed, N skipped"; writes "P F S" to
# build/logs/ARCH.result. Exits non-zero when anything failed.
#
# usage: results.sh ARCH SUITES-FILE
#
# RESULTS_XFAIL=FILE lists tests that must fail, one "SUITE TEST REASON"
# per line (TEST may hold * wildcards): such a failure counts as expected,
# while a listed test that passes, or a line that matches no test of a
# suite that ran, is a failure (so that the list stays true). A TEST
# written ~TEST may fail or pass (a time limit it meets only sometimes).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=$1 suites=$2
logs=$build/logs
tag=${VM_TAG:-$arch}
con=$logs/$tag.console tst=$logs/$tag.tests
touch "$con" "$tst"
pass=0 fail=0 skip=0

# 1. Userspace suites, framed by "@@ suite NAME" ... "@@ end NAME rc=N".
expected=$(awk '!/^#/ && NF >= 3 && $1 != "!" { print $1 }' "$suites")
if [ "$arch" = arm64 ] && [ "$suites" = "$top/tests/guest/arm64.suites" ] &&
   [ -d "$build/out/$arch/e2e" ]; then
	expected+=" $(find "$build/out/$arch/e2e" -maxdepth 1 -type f -perm -u+x -printf '%f\n' | sort)"
fi
awk -v expected="$expected" -v xfile="${RESULTS_XFAIL:-}" '
	BEGIN {
		nx = 0
		if (xfile != "")
			while ((getline l < xfile) > 0) {
				if (l ~ /^[ \t]*(#|$)/) continue
				split(l, w, /[ \t]+/)
				re = w[2]; nx++; xmay[nx] = sub(/^~/, "", re)
				gsub(/\./, "\\.", re); gsub(/\*/, ".*", re)
				xsuite[nx] = w[1]; xre[nx] = "^" re "$"; xline[nx] = l
			}
	}
	function xmatch(name,   i) {
		for (i = 1; i <= nx; i++)
			if (xsuite[i] == cur && name ~ xre[i]) { xhit[i]++; return i }
		return 0
	}
	function close_suite(rc,   why) {
		why = ""
		if (cur ~ /^setup-/) {
			if (rc != 0) { why = "setup step failed (rc=" rc ")"; f++ }
		} else {
			if (sp + sf + ss + sx == 0) { why = "no test results"; f++ }
			else if (plan != "" && sp + sf + ss + sx < plan) {
				why = "stopped after " sp + sf + ss + sx " of " plan " tests"
				f += plan - (sp + sf + ss + sx)
			} else if (rc != 0 && sf + sx == 0) { why = "exit code " rc; f++ }
			p += sp; f += sf; s += ss; x += sx
		}
		if (cur !~ /^setup-/ || why != "")
			printf "  %-24s %d passed, %d failed, %d skipped%s%s%s\n", cur, sp, sf, ss,
				sx ? ", " sx " expected failures" : "",
				secs != "" ? " (" secs " s)" : "",
				why != "" ? "  <- " why : "" > "/dev/stderr"
		if (failed != "")
			printf "%s", failed > "/dev/stderr"
		ran[cur] = 1; cur = ""
	}
	{ sub(/\r$/, "") }	# the serial port turns \n into \r\n
	/^@@ suite / { cur = $3; sp = sf = ss = sx = 0; plan = ""; failed = ""; secs = ""; next }
	/^@@ time / { secs = $4; next }
	/^@@ end / && cur != "" {
		rc = $0; sub(/.*rc=/, "", rc); close_suite(rc + 0); next
	}
	/^@@ kmemleak/ { inleak = 1; next }
	/^@@ end kmemleak/ { inleak = 0; next }
	inleak && /unreferenced object/ { leaks++ }
	/^@@ done/ { done = 1; next }
	/^@@ timeout/ { timedout = 1; next }
	cur != "" && /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
	cur != "" && /^ok [0-9]+ / {
		if ($0 ~ /# [Ss][Kk][Ii][Pp]/) ss++
		else if ((i = xmatch($3)) && !xmay[i]) {
			sf++
			failed = failed "      PASS " substr($0, 4) "  <- listed to fail: " xline[i] "\n"
		} else sp++
		next
	}
	cur != "" && /^not ok [0-9]+ / {
		if ($0 ~ /# [Ss][Kk][Ii][Pp]/) { ss++; next }
		if (xmatch($4)) { sx++; next }
		sf++; failed = failed "      FAIL " substr($0, 8) "\n"
		next
	}
	END {
		if (cur != "") { close_suite(-1); print "  (VM stopped inside that suite)" > "/dev/stderr" }
		n = split(expected, e, " ")
		for (i = 1; i <= n; i++)
			if (!(e[i] in ran)) {
				printf "  %-24s did not run\n", e[i] > "/dev/stderr"; f++
			}
		for (i = 1; i <= nx; i++)
			if ((xsuite[i] in ran) && !xhit[i]) {
				printf "  expected-fail line matches no test: %s\n", xline[i] > "/dev/stderr"; f++
			}
		if (x) printf "  %d expected failures (%s)\n", x, xfile > "/dev/stderr"
		if (leaks) { printf "  kmemleak: %d unreferenced objects\n", leaks > "/dev/stderr"; f++ }
		if (timedout) { print "  VM timed out" > "/dev/stderr"; f++ }
		else if (!done) { print "  VM did not finish its suites" > "/dev/stderr"; f++ }
		print p + 0, f + 0, s + 0
	}' "$tst" 2>&1 >"$logs/.counts" | sed "s/^/$arch /"
read -r p f s <"$logs/.counts"
pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))

# 2. KUnit: the kernel's own KTAP parser reads the console log.
if grep -q 'KTAP version\|TAP version' "$con"; then
	k=$(python3 "$linux/tools/testing/kunit/kunit.py" parse "$con" 2>&1 || true)
	line=$(echo "$k" | grep -a 'Testing complete\.' | tail -n 1)
	if [ -z "$line" ]; then
		echo "$arch   kunit                    KTAP could not be parsed"
		fail=$((fail + 1))
	else
		kp=$(echo "$line" | sed -n 's/.*passed: \([0-9]*\).*/\1/p')
		kf=$(echo "$line" | sed -n 's/.*failed: \([0-9]*\).*/\1/p')
		ks=$(echo "$line" | sed -n 's/.*skipped: \([0-9]*\).*/\1/p')
		kc=$(echo "$line" | sed -n 's/.*crashed: \([0-9]*\).*/\1/p')
		kp=${kp:-0} kf=$(( ${kf:-0} + ${kc:-0} )) ks=${ks:-0}
		printf '%s   %-24s %d passed, %d failed, %d skipped\n' "$arch" kunit "$kp" "$kf" "$ks"
		echo "$k" | grep -a '\[FAILED\]\|\[CRASHED\]' | sed "s/^/$arch       /" || true
		pass=$((pass + kp)) fail=$((fail + kf)) skip=$((skip + ks))
	fi
elif [ "$arch" = arm64 ] && [ "${VM_KUNIT:-1}" = 1 ]; then
	echo "$arch   kunit                    did not run (no KTAP on the console)"
	fail=$((fail + 1))
fi

# 3. Kernel splats anywhere on the console.
splat='WARNING:|BUG:|UBSAN:|KASAN:|Kernel panic|Internal error:|Oops|general protection fault|kernel BUG at|suspected memory leak|INFO: task .* blocked|rcu: INFO:|detected stall|possible circular locking|inconsistent lock state|cut here'
if n=$(grep -aEc "$splat" "$con"); then
	echo "$arch   splat                    $n matching lines on the console:"
	grep -aE -m 5 -A 4 "$splat" "$con" | sed "s/^/$arch       | /"
	fail=$((fail + 1))
fi

echo "$pass $fail $skip" >"$logs/$tag.result"
echo "$arch: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
