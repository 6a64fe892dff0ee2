#!/usr/bin/env bash
# vmwait record under faults: SIGKILL and --recover (exact with known pages,
# and live with numbered markers), SIGKILL during the final copy, signals at
# random moments, a full disk, the disk space a recording needs, tracefs
# read-only, and a ring buffer that overflows.
. "$(dirname "$0")/lib.sh"

RB=$TOP/build/tests/record
WTEST=$RB/rec-wtest
MARK=$RB/mark-loop
GETPPID=$RB/getppid-loop
COUNT=$RB/rec-count
SUF=.vmwait-tmp
MOUNTS=()
HELPERS=()

cleanup() {
	local m p
	for p in "${HELPERS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null
	done
	cleanup_instances
	rm -rf "$T"
}
trap cleanup EXIT

for b in "$VMWAIT" "$WTEST" "$MARK" "$GETPPID" "$COUNT"; do
	if [ ! -x "$b" ]; then
		nok recfault "missing $b (make tests)"
		exit 0
	fi
done

# readable FILE: "yes" if trace-cmd report reads FILE, else why not.
readable() {
	if trace-cmd report -i "$1" > "$T/rd.txt" 2> "$T/rd.err"; then
		echo yes
	else
		echo "no: $(head -c 200 "$T/rd.err")"
	fi
}

# ticks: "CPU COUNT MIN MAX UNIQUE" per CPU of rec-wtest's tick events, in
# the report of the file readable() read last.
ticks() {
	sed -n 's/.* tick: *seq=\([0-9]*\) cpu=\([0-9]*\) .*/\2 \1/p' "$T/rd.txt" |
		sort -n -k1,1 -k2,2 | uniq -c |
		awk '{ n[$2] += $1; u[$2]++; if (!($2 in lo)) lo[$2] = $3; hi[$2] = $3 }
		     END { for (c in n) print c, n[c], lo[c], hi[c], u[c] }' | sort -n | paste -sd';'
}

# mount_small SIZE: a tmpfs of SIZE at $SMALL (0), or 1 if the machine refuses.
mount_small() {
	SMALL=$T/small${#MOUNTS[@]}
	mkdir -p "$SMALL"
	mount -t tmpfs -o "size=$1" vmwait-test "$SMALL" 2>/dev/null || return 1
	MOUNTS+=("$SMALL")
}

# ---- exact recovery with known pages (rec-wtest: 100 ticks per page) ----

for mode in v6 v7-none v7-zstd v7-zlib; do
	f=$T/k-$mode.dat
	"$WTEST" kill "$f" "$mode" 2 25 > /dev/null 2>&1
	check_eq "kill_$mode: killed" 137 $?
	check_eq "kill_$mode: work directory left" 1 "$([ -f "$f$SUF/meta" ] && [ -f "$f$SUF/cpu0" ] && echo 1)"
	"$VMWAIT" record -o "$f" -d 1 > "$T/out" 2> "$T/err"
	check_eq "kill_$mode: record refuses" "1 vmwait: $f$SUF holds an interrupted recording: run 'vmwait record --recover $f' (or remove it)" "$? $(cat "$T/err")"
	"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
	check_eq "kill_$mode: recover rc" 0 $?
	check_eq "kill_$mode: recover says" "vmwait: recovered $f: 50 ring-buffer pages of 2 CPUs
vmwait: warning: $f ends where its recorder was killed: events still in the ring buffers then are not in it, nor the loss counters" \
		"$(grep -v 'stale tracefs instance' "$T/err")"
	check_eq "kill_$mode: work directory removed" "" "$(ls -d "$f$SUF" 2>/dev/null)"
	if [ $mode = v7-zlib ]; then
		# Debian's trace-cmd lacks zlib; libtracecmd reads it through vmwait's codec
		check_eq "kill_$mode: every event" "events 5000" "$("$COUNT" "$f" | grep '^events ')"
		continue
	fi
	check_eq "kill_$mode: readable" yes "$(readable "$f")"
	check_eq "kill_$mode: every event once" "0 2500 0 2499 2500;1 2500 0 2499 2500" "$(ticks)"
done

# A page (v6) or chunk (zstd) cut by the kill is dropped, and said so.
f=$T/cut-v6.dat
"$WTEST" kill "$f" v6 2 25 > /dev/null 2>&1
truncate -s -100 "$f$SUF/cpu0"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "cut_v6: recover rc" 0 $?
check_eq "cut_v6: recover says" "vmwait: recovered $f: 49 ring-buffer pages of 2 CPUs
vmwait: warning: $f ends where its recorder was killed: events still in the ring buffers then are not in it, nor the loss counters; dropped what the kill cut short (CPU 0: 3996 bytes)" \
	"$(grep -v 'stale tracefs instance' "$T/err")"
check_eq "cut_v6: readable" yes "$(readable "$f")"
check_eq "cut_v6: the whole pages" "0 2400 0 2399 2400;1 2500 0 2499 2500" "$(ticks)"

f=$T/cut-zstd.dat
"$WTEST" kill "$f" v7-zstd 2 25 > /dev/null 2>&1
# cpu0 holds two chunks (pages 0-9, 10-19) and cpu0.pend five pages (20-24)
size=$(stat -c %s "$f$SUF/cpu0")
z1=$(od -An -tu4 -N4 "$f$SUF/cpu0" | tr -d ' ')
check_eq "cut_zstd: pending pages" $((5 * 4096)) "$(stat -c %s "$f$SUF/cpu0.pend")"
truncate -s -100 "$f$SUF/cpu0"
truncate -s -10 "$f$SUF/cpu1.pend"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "cut_zstd: recover rc" 0 $?
check_eq "cut_zstd: recover says" "vmwait: recovered $f: 39 ring-buffer pages of 2 CPUs
vmwait: warning: $f ends where its recorder was killed: events still in the ring buffers then are not in it, nor the loss counters; dropped what the kill cut short (CPU 0: $((size - 100 - 8 - z1)) bytes, CPU 1: 4086 bytes)" \
	"$(grep -v 'stale tracefs instance' "$T/err")"
check_eq "cut_zstd: readable" yes "$(readable "$f")"
sed -n 's/.* tick: *seq=\([0-9]*\) cpu=0 .*/\1/p' "$T/rd.txt" > "$T/cpu0.seq"
check_eq "cut_zstd: cpu0 has its first chunk and its pending pages" same \
	"$(cmp -s <(seq 0 999; seq 2000 2499) "$T/cpu0.seq" && echo same || echo differ)"
check_eq "cut_zstd: cpu1 up to its cut pending page" "1 2400 0 2399 2400" "$(ticks | cut -d';' -f2)"

# Killed between a chunk's write and the emptying of cpu0.pend: no page twice.
f=$T/dup.dat
"$WTEST" dup "$f" v7-zstd 2 20 > /dev/null 2>&1
check_eq "dup: pending pages also in the last chunk" $((9 * 4096)) "$(stat -c %s "$f$SUF/cpu0.pend")"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "dup: recover rc" 0 $?
check_eq "dup: pages" "vmwait: recovered $f: 40 ring-buffer pages of 2 CPUs" "$(head -n1 "$T/err")"
check_eq "dup: readable" yes "$(readable "$f")"
check_eq "dup: every event once" "0 2000 0 1999 2000;1 2000 0 1999 2000" "$(ticks)"

# Killed during the final copy (by RLIMIT_FSIZE's SIGXFSZ when the output
# passes 1 MB; the per-CPU files stay below): the copy is resumed.
for mode in v7-zstd v6; do
	f=$T/asm-$mode.dat
	pages=$([ $mode = v6 ] && echo 200 || echo 1400)
	(ulimit -c 0; ulimit -f 1024; exec "$WTEST" write "$f" "$mode" 2 "$pages") > /dev/null 2>&1
	check_eq "asm_$mode: killed by SIGXFSZ" 153 $?
	check_eq "asm_$mode: killed while copying" "1 1048576" \
		"$(ls "$f$SUF/meta" | wc -l) $(stat -c %s "$f")"
	"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
	check_eq "asm_$mode: recover rc" 0 $?
	check_eq "asm_$mode: resumed, nothing lost" "vmwait: recovered $f: finished writing it (the kill came at its end)" "$(cat "$T/err")"
	check_eq "asm_$mode: readable" yes "$(readable "$f")"
	check_eq "asm_$mode: every event once" "0 $((pages * 100)) 0 $((pages * 100 - 1)) $((pages * 100));1 $((pages * 100)) 0 $((pages * 100 - 1)) $((pages * 100))" "$(ticks)"
	check_eq "asm_$mode: work directory removed" "" "$(ls -d "$f$SUF" 2>/dev/null)"
done

# A step whose blocks were freed before its copy (a full disk) and then a
# kill: zeros where chunks were. The CPU's data ends before them.
# (3 CPUs of 1400 pages: 550 KB per CPU file; killed at 800 KB of output,
# while CPU 1 is copied; CPU 2's file is whole, its blocks from chunk 100
# on are freed.)
f=$T/zero.dat
(ulimit -c 0; ulimit -f 800; exec "$WTEST" write "$f" v7-zstd 3 1400) > /dev/null 2>&1
check_eq "asm_zeros: killed while copying" "153 819200" "$? $(stat -c %s "$f")"
off=0
for n in $(seq 100); do
	off=$((off + 8 + $(od -An -tu4 -j $off -N4 "$f$SUF/cpu2" | tr -d ' ')))
done
fallocate -p -o $off -l $(($(stat -c %s "$f$SUF/cpu2") - off)) "$f$SUF/cpu2"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "asm_zeros: recover rc" 0 $?
check_eq "asm_zeros: readable" yes "$(readable "$f")"
check_eq "asm_zeros: CPU 2 up to the zeros" \
	"0 140000 0 139999 140000;1 140000 0 139999 140000;2 100000 0 99999 100000" "$(ticks)"
check_eq "asm_zeros: CPU 2's data ends before them" "$((4 + off))" \
	"$(trace-cmd dump --flyrecord -i "$f" 2>/dev/null | awk '$1 == 2 && /data offset/ { print $3 }')"

# Killed before the head was written: nothing to recover, leftovers removed.
f=$T/unborn.dat
"$WTEST" kill "$f" v7-zstd 2 0 > /dev/null 2>&1
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "unborn: recover rc" 1 $?
check_eq "unborn: message" "vmwait: nothing to recover in $f$SUF: the recording was stopped before it began (removed it)" "$(cat "$T/err")"
check_eq "unborn: nothing left" "" "$(ls -d "$f" "$f$SUF" 2>/dev/null)"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "recover_nothing: rc" 1 $?
check_eq "recover_nothing: message" "vmwait: nothing to recover: there is no $f$SUF" "$(cat "$T/err")"
check_rc recover_with_options 2 "$VMWAIT" record --recover "$f" -d 1
check_eq recover_with_options_msg "vmwait: record: --recover takes no other option than -q" "$(head -n1 "$T/err")"

# ---- the disk space a recording needs: output + 9 pages per CPU + 64 KB ----

if [ "$(id -u)" != 0 ]; then
	skip space "needs root to mount a small tmpfs"
else
	for mode in v7-zstd v7-none v6; do
		for ncpus in 1 4; do
			pages=$((4000 / ncpus))
			"$WTEST" write "$T/big.dat" $mode $ncpus $pages > "$T/out" 2> "$T/err"
			raw=$(sed -n 's/^raw //p' "$T/out")
			final=$(stat -c %s "$T/big.dat")
			rm -f "$T/big.dat"
			bound=$(( (final + ncpus * 9 * 4096 + 65536 + 4095) / 4096 * 4096 ))
			if ! mount_small $bound; then
				skip space "cannot mount a tmpfs"
				break 2
			fi
			"$WTEST" write "$SMALL/s.dat" $mode $ncpus $pages > "$T/out" 2> "$T/err"
			check_eq "space_${mode}_${ncpus}cpu: fits in output + bound" "0 $final" "$? $(stat -c %s "$SMALL/s.dat")"
			if [ $mode = v7-zstd ]; then
				check_eq "space_${mode}_${ncpus}cpu: raw pages would not fit" 1 \
					"$([ "$raw" -gt "$bound" ] && echo 1)"
			fi
			check_eq "space_${mode}_${ncpus}cpu: every event" "events $((pages * ncpus * 100))" \
				"$("$COUNT" "$SMALL/s.dat" | grep '^events ')"
			check_eq "space_${mode}_${ncpus}cpu: nothing else left" "s.dat" "$(ls "$SMALL")"
			umount "$SMALL"
		done
	done
fi

# ---- live recordings ----

if [ "$(id -u)" != 0 ]; then
	skip recfault_live "needs root"
	exit 0
fi
if ! TD=$(tracefs_dir); then
	skip recfault_live "no tracefs"
	exit 0
fi
left_by() { ls -d "$TD/instances/vmwait-$1-"* 2>/dev/null | wc -l; }
wait_line() {
	local i
	for i in $(seq 200); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# sigs_taken PID: wait until PID blocks SIGHUP, SIGINT and SIGTERM (it reads
# them from its signalfd from then on); before, a signal never reaches vmwait.
sigs_taken() {
	local i blk
	for i in $(seq 400); do
		blk=$(sed -n 's/^SigBlk:\t//p' "/proc/$1/status" 2>/dev/null) || return 1
		[ -n "$blk" ] || return 1
		[ $((0x$blk & 0x4003)) = $((0x4003)) ] && return 0
		sleep 0.005
	done
	return 1
}
wait_file() {
	local i
	for i in $(seq 400); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# drained INSTANCE CPU: wait until the recorder has read all but the last
# page of CPU's buffer (at most 100 events left in it).
drained() {
	local i n
	for i in $(seq 200); do
		n=$(sed -n 's/^entries: //p' "$1/per_cpu/cpu$2/stats")
		[ "${n:-0}" -le 100 ] && return 0
		sleep 0.05
	done
	return 1
}
PIN=()
command -v taskset > /dev/null && PIN=(taskset -c 0)

# SIGKILL after 2 s of numbered markers (5000/s, one CPU) once they are read:
# --recover gives every marker from the first on, without a gap, over at
# least 1 s.
for fmt in "" "--file-version 6" "--compression none"; do
	name=kill_live$(tr -d ' -' <<< "$fmt")
	f=$T/$name.dat
	"$VMWAIT" record -b 4096 $fmt -o "$f" > "$T/out" 2> "$T/$name.err" &
	p=$!
	wait_line "$T/$name.err" '^vmwait: recording to'
	rm -f "$T/2s"
	"${PIN[@]}" "$MARK" "$TD/instances/vmwait-$p-0/trace_marker" 5000 2 "$T/2s" &
	m=$!
	HELPERS+=($m)
	wait_file "$T/2s"
	kill -KILL $m
	wait $m 2>/dev/null
	drained "$TD/instances/vmwait-$p-0" 0
	kill -KILL $p
	wait $p 2>/dev/null
	check_eq "$name: instance left by the kill" 1 "$(left_by $p)"
	"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
	check_eq "$name: recover rc" 0 $?
	check_eq "$name: recover says" 1 "$(grep -cE "^vmwait: recovered $f: [0-9]+ ring-buffer pages of [12] CPUs?$" "$T/err")"
	check_eq "$name: loss stated" 1 "$(grep -c "^vmwait: warning: $f ends where its recorder was killed: events still in the ring buffers then are not in it, nor the loss counters" "$T/err")"
	# (by --recover, or by any other recorder that started meanwhile)
	check_eq "$name: stale instance removed" 0 "$(left_by $p)"
	check_eq "$name: readable" yes "$(readable "$f")"
	sed -n 's/^.* \([0-9][0-9]*\.[0-9]*\): print: .*vmwait-test seq=\([0-9]*\)\.*$/\2 \1/p' "$T/rd.txt" |
		sort -n > "$T/marks"
	# "first last count unique span": 1..N all there, once, over >= 1 s
	got=$(awk 'NR == 1 { lo = $1; t0 = $2 } { if (!($1 in s)) u++; s[$1] = 1; hi = $1; t = $2; n++ }
		   END { printf "%d %d %d %d", lo, hi, n, u; print (t - t0 >= 1.0) ? " >=1s" : " <1s" }' "$T/marks")
	n=$(awk '{ print $2 }' <<< "$got")
	check_eq "$name: markers 1..N once, over >= 1 s" "1 $n $n $n >=1s" "$got"
	check_eq "$name: libtracecmd agrees" "$n" "$("$COUNT" "$f" | grep -c '^marker vmwait-test seq=')"
	"$VMWAIT" analyze "$f" > "$T/out" 2> "$T/err"
	check_eq "$name: analyze rc" 0 $?
done

# A second recorder, or --recover, aimed at a live recording's output.
f=$T/live.dat
"$VMWAIT" record -o "$f" > "$T/out" 2> "$T/live.err" &
p=$!
wait_line "$T/live.err" '^vmwait: recording to'
"$VMWAIT" record -q -d 1 -o "$f" > "$T/out" 2> "$T/err" &
q=$!; wait $q
check_eq "busy: second recorder refused" "1 vmwait: $f is being written by another 'vmwait record' ($f$SUF is in use)" "$? $(cat "$T/err")"
check_eq "busy: second recorder left no instance" 0 "$(left_by $q)"
"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/err"
check_eq "busy: recover refused" "1 vmwait: $f is being written by a running 'vmwait record' ($f$SUF is in use)" "$? $(cat "$T/err")"
stop_wait $p INT
check_eq "busy: the live recording ends well" "0 yes" "$? $(readable "$f")"

# Signals at random moments once vmwait has taken them over (during setup,
# recording, the final drain; a second one sometimes): a readable file, and
# neither instance nor work directory left.
"$GETPPID" 4000000000 > /dev/null &
load=$!
HELPERS+=($load)
sigs=(INT TERM HUP)
for i in 1 2 3 4 5 6 7 8 9; do
	sig=${sigs[i % 3]}
	d1=$(printf '0.%03d' $((RANDOM % 1000)))
	[ $i -le 3 ] && d1=$(printf '0.%03d' $((RANDOM % 40)))	# in the setup
	d2=$(printf '0.%03d' $((RANDOM % 150)))
	f=$T/sig$i.dat
	"$VMWAIT" record -q -b 2048 -e syscalls:sys_enter_getppid -o "$f" > "$T/out" 2> "$T/err" &
	p=$!
	sigs_taken $p
	sleep "$d1"
	kill -$sig $p
	[ $((i % 2)) = 0 ] && { sleep "$d2"; kill -$sig $p 2>/dev/null; }
	wait_bounded $p
	rc=$?
	echo "# signal $sig after $d1 s (second after $d2 s: $((i % 2 == 0))): rc $rc"
	if [ $rc = 0 ]; then
		got="$(readable "$f") $(ls -d "$f$SUF" 2>/dev/null | wc -l) $(left_by $p)"
	else
		got="rc $rc: $(cat "$T/err")"
	fi
	check_eq "signal_random_$i: readable, nothing left" "yes 0 0" "$got"
done

# SIGKILL at random moments (also right after a SIGINT, during the final
# drain and copy): --recover (or nothing to recover) gives a readable file.
killed=()
for i in 1 2 3 4 5 6 7 8; do
	d1=$(printf '0.%03d' $((RANDOM % 1000)))
	d2=$(printf '0.%03d' $((RANDOM % 400)))
	f=$T/kr$i.dat
	"$VMWAIT" record -q -b 2048 -e syscalls:sys_enter_getppid -o "$f" > "$T/out" 2> "$T/err" &
	p=$!
	sleep "$d1"
	if [ $((i % 2)) = 0 ]; then
		kill -INT $p
		sleep "$d2"
	fi
	kill -KILL $p 2>/dev/null
	wait $p
	rc=$?
	killed+=($p)
	state="finished"
	if [ -d "$f$SUF" ]; then
		"$VMWAIT" record --recover "$f" > "$T/out" 2> "$T/rerr"
		rrc=$?
		state="recovered rc $rrc"
		[ $rrc = 1 ] && grep -q 'stopped before it began' "$T/rerr" && state="unborn"
	elif [ ! -e "$f" ]; then
		state="nothing"
	fi
	echo "# SIGKILL after $d1 s ($((i % 2 == 0)): SIGINT first, $d2 s before): rc $rc, $state"
	case $state in
	finished|"recovered rc 0")
		got="$(readable "$f") $(ls -d "$f$SUF" 2>/dev/null | wc -l)" ;;
	unborn|nothing)
		got="yes $(ls -d "$f" "$f$SUF" 2>/dev/null | wc -l)" ;;
	*)
		got="$state: $(cat "$T/rerr")" ;;
	esac
	check_eq "sigkill_random_$i: readable or nothing, no work directory" "yes 0" "$got"
done
kill -KILL $load
wait $load 2>/dev/null
# the next recorder removes what the killed ones left
"$VMWAIT" record -q -d 0.2 -o "$T/after.dat" > "$T/out" 2> "$T/err"
check_eq "sigkill_random: next recording rc" 0 $?
check_eq "sigkill_random: no instance of the killed recorders" 0 \
	"$(for q in "${killed[@]}"; do left_by $q; done | awk '{ n += $1 } END { print n + 0 }')"

# ---- a full disk: one line, exit 1, readable, analyzable, nothing left ----

enospc() {
	local name=$1 size=$2 f p k load
	shift 2
	if ! mount_small "$size"; then
		skip "$name" "cannot mount a tmpfs"
		return
	fi
	f=$SMALL/f.dat
	"$GETPPID" 4000000000 > /dev/null &
	load=$!
	HELPERS+=($load)
	"$VMWAIT" record -q "$@" -b 8192 -e syscalls:sys_enter_getppid -o "$f" > "$T/out" 2> "$T/err" &
	p=$!
	wait $p
	check_eq "$name: rc" 1 $?
	kill -KILL $load
	wait $load 2>/dev/null
	check_eq "$name: one line" "vmwait: cannot write $f: No space left on device (kept the trace up to the last page that fitted)" "$(cat "$T/err")"
	check_eq "$name: no instance" 0 "$(left_by $p)"
	check_eq "$name: no work directory" "f.dat" "$(ls "$SMALL")"
	check_eq "$name: readable" yes "$(readable "$f")"
	k=$(grep -c ' sys_enter_getppid: ' "$T/rd.txt")
	check_eq "$name: has events" 1 "$([ "$k" -gt 0 ] && echo 1)"
	"$VMWAIT" analyze --json "$f" > "$T/a.json" 2> "$T/a.err"
	check_eq "$name: analyze rc" 0 $?
	check_eq "$name: analyze counts every event" "$("$COUNT" "$f" | sed -n 's/^events //p')" \
		"$(grep -o '"events":[0-9]*' "$T/a.json" | head -n1 | cut -d: -f2)"
	umount "$SMALL"
}
enospc enospc_zstd 3m
enospc enospc_none 8m --compression none
enospc enospc_v6 8m --file-version 6

# Not even the head fits: one line, nothing left.
if mount_small 256k; then
	f=$SMALL/h.dat
	"$VMWAIT" record -q -d 1 -o "$f" > "$T/out" 2> "$T/err" &
	p=$!; wait $p
	check_eq "enospc_head: rc" 1 $?
	check_eq "enospc_head: one line" "vmwait: cannot write $f: No space left on device" "$(cat "$T/err")"
	check_eq "enospc_head: nothing left" "0 " "$(left_by $p) $(ls "$SMALL")"
	umount "$SMALL"
fi

# A recording whose raw pages are 4 times the disk fits (compressed as written).
if mount_small 16m; then
	f=$SMALL/g.dat
	"$VMWAIT" record -b 16384 --light -e syscalls:sys_enter_getppid -o "$f" -- "$GETPPID" 3000000 \
		> "$T/out" 2> "$T/err"
	check_eq "space_live: rc" 0 $?
	raw=$(sed -n 's/^vmwait: wrote .* events, \([0-9.]*\) MB of ring-buffer pages.*/\1/p' "$T/err")
	check_eq "space_live: raw pages over the disk's 16 MB" 1 "$(awk -v r="$raw" 'BEGIN { print (r > 16.78) ? 1 : 0 }')"
	check_eq "space_live: every event in the file" \
		"$(sed -n 's/^vmwait: wrote .*: \([0-9]*\) events,.*/\1/p' "$T/err")" \
		"$("$COUNT" "$f" | sed -n 's/^events //p')"
	umount "$SMALL"
fi

# ---- tracefs read-only (a private mount namespace): one line, nothing left ----

if unshare -m --propagation private sh -c 'mount -o remount,bind,ro /sys/kernel/tracing' 2>/dev/null; then
	f=$T/ro.dat
	unshare -m --propagation private sh -c \
		'mount -o remount,bind,ro /sys/kernel/tracing && exec "$1" record -q -d 0.2 -o "$2"' \
		sh "$VMWAIT" "$f" > "$T/out" 2> "$T/err"
	check_eq tracefs_ro_rc 1 $?
	check_eq tracefs_ro_msg 1 "$(grep -cxE "vmwait: cannot create tracefs instance vmwait-[0-9]+-0: Read-only file system" "$T/err")"
	check_eq tracefs_ro_one_line 1 "$(wc -l < "$T/err")"
	check_eq tracefs_ro_nothing_left "" "$(ls -d "$f" "$f$SUF" 2>/dev/null)"
	inst=$(new_instance "$TD") && check_eq tracefs_ro_host_unchanged 1 "$([ -d "$inst" ] && echo 1)"
else
	skip tracefs_ro "cannot remount tracefs read-only in a private mount namespace"
fi

# ---- a ring buffer that overflows: losses per CPU, in the file, in analyze ----

# markers of varying sizes as fast as one process writes them, for 1 s, into
# 64 KB buffers: pages end with room for the count of the events lost before
# them, which is what the analyzer adds up
"$VMWAIT" record -b 64 -o "$T/o.dat" > "$T/out" 2> "$T/err" &
p=$!
wait_line "$T/err" '^vmwait: recording to'
rm -f "$T/1s"
"$MARK" "$TD/instances/vmwait-$p-0/trace_marker" 0 1 "$T/1s" &
m=$!
HELPERS+=($m)
wait_file "$T/1s"
kill -KILL $m
wait $m 2>/dev/null
kill -INT $p
wait $p
check_eq loss_rc 0 $?
trace-cmd report -i "$T/o.dat" > "$T/o.txt" 2>/dev/null
trace-cmd report --stat -i "$T/o.dat" > "$T/o.stat" 2>/dev/null
# per CPU, what record reports: the larger of the kernel's counters (overrun
# + commit overrun + dropped events, stored in the file) and the counts the
# pages flag ("CPU:N [M EVENTS DROPPED]" in trace-cmd report)
want= total=0
for cpu in $(seq 0 $(($(sed -n 's/^cpus=//p' "$T/o.txt") - 1))); do
	st=$(awk -F': *' -v c=$cpu '/^CPU: / { on = ($2 == c) }
		on && /^(overrun|commit overrun|dropped events):/ { n += $2 } END { print n + 0 }' "$T/o.stat")
	pg=$(sed -n "s/^CPU:$cpu \[\([0-9]*\) EVENTS DROPPED\]$/\1/p" "$T/o.txt" | awk '{ n += $1 } END { print n + 0 }')
	l=$((st > pg ? st : pg))
	[ $l -gt 0 ] && want="$want${want:+, }CPU $cpu: $l"
	total=$((total + l))
done
pages=$(sed -n 's/^CPU:[0-9]* \[\([0-9]*\) EVENTS DROPPED\]$/\1/p' "$T/o.txt" | awk '{ n += $1 } END { print n + 0 }')
check_eq loss_happened 1 "$([ "$pages" -gt 0 ] && echo 1)"
check_eq loss_per_cpu_warning "vmwait: warning: $total events were LOST ($want)" \
	"$(grep -o '^vmwait: warning: .* events were LOST ([^)]*)' "$T/err")"
"$VMWAIT" analyze --json "$T/o.dat" > "$T/o.json" 2> "$T/o.err"
check_eq loss_analyze_rc 0 $?
check_eq loss_analyze_equals_pages "$pages" "$(grep -o '"lost_events":[0-9]*' "$T/o.json" | cut -d: -f2)"
