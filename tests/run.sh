#!/usr/bin/env bash
# Runs every test of vmwait and prints "N passed, N failed" as its last line.
#
# A test is either a unit-test binary (build/tests/unit/*) or a script
# tests/t_*.sh. Each prints one line per check: "ok <name>",
# "not ok <name>: <why>" or "skip <name>: <why>". Anything else is shown as is.
# A script or binary that exits non-zero without printing "not ok" counts as
# one failure, so a crash can never pass silently.
set -u
cd "$(dirname "$0")/.."
export VMWAIT_TOP=$PWD
export VMWAIT_TMP=${VMWAIT_TMP:-$(mktemp -d /tmp/vmwait-tests.XXXXXX)}
trap 'rm -rf "$VMWAIT_TMP"' EXIT

pass=0 fail=0 skip=0
filter=${1:-}

# One line on what this machine lets the tests do (each probed by trying it).
tests/caps.sh

run_one() {
	local name=$1; shift
	local out rc nf=0
	out=$("$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		case "$line" in
		"ok "*)      pass=$((pass + 1)) ;;
		"not ok "*)  fail=$((fail + 1)); nf=$((nf + 1)); echo "FAIL [$name] ${line#not ok }" ;;
		"skip "*)    skip=$((skip + 1)); echo "SKIP [$name] ${line#skip }" ;;
		*)           [ -n "$line" ] && [ -n "${VERBOSE:-}" ] && echo "     [$name] $line" ;;
		esac
	done <<< "$out"
	if [ $rc -ne 0 ] && [ $nf -eq 0 ]; then
		fail=$((fail + 1))
		echo "FAIL [$name] exited with status $rc; last output:"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/     /'
	fi
}

for t in build/tests/unit/*; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
	[ -x "$t" ] || continue
	case "$t" in *"$filter"*) ;; *) continue ;; esac
	run_one "$(basename "$t" .sh)" "$t"
done

[ $skip -gt 0 ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
