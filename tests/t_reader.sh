#!/usr/bin/env bash
# vmwait's trace.dat reader (common/tin*.c) against libtracecmd: the same
# event sequence (timestamp, CPU, type, pid, size, payload hash, losses) on
# every shipped trace, every synthetic scenario in every container (v6, v7
# none/zstd/zlib), light recordings, random traces over four kernel layouts;
# and what it does with damaged files: never a crash or a hang, one line.
. "$(dirname "$0")/lib.sh"

CMP=$TOP/build/tests/reader/tin-cmp
SYNTH=$TOP/build/tests/synth/vmwait-synth
SCN=$TOP/tests/synth/scenarios

# same NAME FILE: tin and libtracecmd read the same events.
same() {
	local out
	out=$("$CMP" "$2" 2>&1)
	case "$out" in
	"same "*) ok "$1 ($out)" ;;
	*) nok "$1" "$out" ;;
	esac
}

for f in "$TOP"/tests/data/*.dat; do
	same "shipped $(basename "$f")" "$f"
done
for s in "$SCN"/*.scn; do
	n=$(basename "$s" .scn)
	for mode in "6 none" "7 none" "7 zstd" "7 zlib"; do
		set -- $mode
		if "$SYNTH" -V "$1" -z "$2" -o "$T/s.dat" "$s" 2> "$T/err"; then
			same "$n v$1 $2" "$T/s.dat"
		else
			nok "$n v$1 $2" "synth: $(head -n 1 "$T/err")"
		fi
	done
	"$SYNTH" --light -V 7 -z zstd -o "$T/s.dat" "$s" 2> /dev/null && same "$n light" "$T/s.dat"
done
for seed in 1 2 3 4 5 6; do
	for k in 4.19 5.10 6.1 6.18; do
		"$SYNTH" -k "$k" -V 7 -z zstd --random "$seed" --events 100000 -o "$T/r.dat" 2> /dev/null &&
			same "random $seed on $k" "$T/r.dat"
	done
	"$SYNTH" -V 6 --random "$((seed + 100))" --events 100000 -o "$T/r.dat" 2> /dev/null &&
		same "random $((seed + 100)) v6" "$T/r.dat"
done

# The live path (vmwait top): the same files' pages pushed in the order a
# live reader gets them and merged up to what it knows, equal to the file.
replay() {
	local out
	out=$("$CMP" -R "$2" 2>&1)
	case "$out" in
	"same "*) ok "$1 ($out)" ;;
	*) nok "$1" "$out" ;;
	esac
}
for f in "$TOP"/tests/data/*.dat; do
	replay "live path: shipped $(basename "$f")" "$f"
done
for s in "$SCN"/*.scn; do
	n=$(basename "$s" .scn)
	"$SYNTH" -V 7 -z zstd -o "$T/s.dat" "$s" 2> /dev/null && replay "live path: $n" "$T/s.dat"
done
for seed in 1 2 3; do
	"$SYNTH" -V 6 --random "$seed" --events 100000 -o "$T/r.dat" 2> /dev/null &&
		replay "live path: random $seed" "$T/r.dat"
done

# analyze -j 2: the second thread reads ahead; the analysis is the same, byte
# for byte, with losses, on v6 and v7 zstd, with pictures and intervals.
two() {
	"$VMWAIT" analyze -j 1 --json --interval 100ms --perfetto "$T/1.pf" "$2" > "$T/1.json" &&
		"$VMWAIT" analyze -j 2 --json --interval 100ms --perfetto "$T/2.pf" "$2" > "$T/2.json"
	check_eq "-j 2: $1" "same same" \
		"$(cmp -s "$T/1.json" "$T/2.json" && echo same) $(cmp -s "$T/1.pf" "$T/2.pf" && echo same)"
}
two "demo" "$TOP/tests/data/demo.dat"
for seed in 2 5; do
	"$SYNTH" -V 6 --random "$seed" --events 300000 -o "$T/r.dat" 2> /dev/null && two "random $seed v6" "$T/r.dat"
	"$SYNTH" -V 7 -z zstd --random "$seed" --events 300000 -o "$T/r.dat" 2> /dev/null &&
		two "random $seed v7 zstd" "$T/r.dat"
done
check_rc "-j 3 is refused" 2 "$VMWAIT" analyze -j 3 "$TOP/tests/data/demo.dat"

# -j auto (the default): a second thread only when the process may run on
# two CPUs (its affinity); -j 1 and -j 2 as asked. Threads counted by strace.
threads_made() {
	strace -f -qq -e trace=clone,clone3 -o "$T/st" "$@" > /dev/null 2>&1
	grep -c "CLONE_THREAD" "$T/st"
}
if ! command -v strace > /dev/null || ! command -v taskset > /dev/null; then
	skip "-j auto" "no strace or taskset"
elif ! strace -f -qq -o /dev/null true 2> /dev/null; then
	skip "-j auto" "strace cannot trace here (ptrace refused)"
elif [ "$(nproc)" -lt 2 ]; then
	check_eq "-j auto on one CPU: no second thread" 0 \
		"$(threads_made "$VMWAIT" analyze -o /dev/null "$TOP/tests/data/demo.dat")"
	skip "-j auto on two CPUs" "this machine has one"
else
	D="$TOP/tests/data/demo.dat"
	check_eq "-j auto on two CPUs: a second thread" 1 \
		"$(threads_made "$VMWAIT" analyze -o /dev/null "$D")"
	check_eq "-j auto under taskset -c 0: none" 0 \
		"$(threads_made taskset -c 0 "$VMWAIT" analyze -o /dev/null "$D")"
	check_eq "-j 2 under taskset -c 0: as asked" 1 \
		"$(threads_made taskset -c 0 "$VMWAIT" analyze -j 2 -o /dev/null "$D")"
	check_eq "-j 1: none" 0 "$(threads_made "$VMWAIT" analyze -j 1 -o /dev/null "$D")"
fi
