# Helpers for test scripts (sourced). Print "ok"/"not ok"/"skip" lines that
# tests/run.sh counts. Every check compares against an exact expected value.
set -u
TOP=${VMWAIT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VMWAIT=$TOP/vmwait
VMWAIT_ASAN=$TOP/build/vmwait-asan
T=${VMWAIT_TMP:-/tmp}/$(basename "$0" .sh).$$
mkdir -p "$T"

# Leaks inside the trace libraries themselves are not ours (see the file).
export LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}

ok()   { echo "ok $1"; }
nok()  { echo "not ok $1: $2"; }
skip() { echo "skip $1: $2"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else nok "$1" "expected '$2', got '$3'"; fi
}

# check_rc NAME EXPECTED_RC CMD...: run CMD, compare its exit status.
check_rc() {
	local name=$1 want=$2 rc
	shift 2
	"$@" > "$T/out" 2> "$T/err"
	rc=$?
	check_eq "$name" "$want" "$rc"
}

# wait_bounded PID: wait for PID (a child) at most 60 s, so that a lost signal
# fails a check instead of hanging the suite; PID's exit status, or 254 after
# a SIGKILL.
wait_bounded() {
	local i
	for i in $(seq 600); do
		kill -0 "$1" 2> /dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2> /dev/null; then
		kill -KILL "$1"
		wait "$1" 2> /dev/null
		return 254
	fi
	wait "$1" 2> /dev/null
}

# stop_wait PID SIG: send SIG to PID, then wait_bounded PID.
stop_wait() {
	kill -"$2" "$1"
	wait_bounded "$1"
}

# Is tracefs usable (mounted or mountable) by this process?
tracefs_dir() {
	local d
	for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
		[ -e "$d/instances" ] && { echo "$d"; return 0; }
	done
	if [ "$(id -u)" = 0 ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
		echo /sys/kernel/tracing; return 0
	fi
	return 1
}

# A unique tracefs instance for this test, removed by the EXIT trap. The list
# lives in a file so that "inst=$(new_instance ...)" (a subshell) still registers.
new_instance() {
	local td=$1 n name
	n=$(cat "$T/.instances" 2>/dev/null | wc -l)
	name="vmwait-test-$$-$n"
	mkdir "$td/instances/$name" || return 1
	echo "$td/instances/$name" >> "$T/.instances"
	echo "$td/instances/$name"
}
cleanup_instances() {
	local i
	[ -f "$T/.instances" ] || return 0
	while IFS= read -r i; do
		[ -d "$i" ] || continue
		echo 0 > "$i/tracing_on" 2>/dev/null
		echo > "$i/set_event" 2>/dev/null
		rmdir "$i" 2>/dev/null
	done < "$T/.instances"
}
trap 'cleanup_instances; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
