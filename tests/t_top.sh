#!/usr/bin/env bash
# vmwait top: its JSON lines, replayed from every synthetic scenario (full and
# light) and the shipped trace, sum exactly to `vmwait analyze --json` of the
# same file (states, waits, pending time, events, lost events) and account for
# every nanosecond of each vCPU's span at every line (tests/top/sums.py);
# interval boundaries split a period exactly; -p and --vm select; options.
# As root: live runs (no VM: 3 lines, a clear line, no loss, no instance
# left; with the KVM workload: its waits exactly, and -o FILE's analysis equals
# the lines), clean-up on q, SIGINT, SIGTERM, SIGHUP and after SIGKILL; the
# screen under a pseudo-terminal (tmux): it draws, refreshes, sorts, quits on q.
. "$(dirname "$0")/lib.sh"

SYNTH=$TOP/build/tests/synth/vmwait-synth
SCN=$TOP/tests/synth/scenarios
VMM=$TOP/build/tests/vmm/vmwait-vmm
SUMS=$TOP/tests/top/sums.py
TMUXS=vmwait-top-test-$$
BG=
trap 'for p in $BG; do stop_wait "$p" INT 2>/dev/null; done
      command -v tmux > /dev/null && tmux -L "$TMUXS" kill-server 2>/dev/null
      cleanup_instances; rm -rf "$T"' EXIT

# entry NAME TRACE NS [LEN]: replay TRACE (intervals of NS), analyze it, list the pair for
# sums.py (which checks that lines last NS but the last, or LEN; 0: not checked).
entry() {
	local base=$T/e$(wc -l < "$T/list")
	if ! "$VMWAIT" top --replay "$2" -i "${3}ns" > "$base.jsonl" 2> "$base.err"; then
		nok "$1" "top: $(grep -v 'CPU time\|no vCPU' "$base.err" | head -n 1)"
		return
	fi
	"$VMWAIT" analyze --json "$2" > "$base.json" 2> /dev/null
	printf '%s\t%s\t%s\t%s\n' "$1" "$base.jsonl" "$base.json" "${4:-$3}" >> "$T/list"
}

# ---- replay equals analysis ----
: > "$T/list"
for s in "$SCN"/*.scn; do
	n=$(basename "$s" .scn)
	if "$SYNTH" -o "$T/$n.dat" "$s" 2> /dev/null; then
		entry "replay $n, 100us" "$T/$n.dat" 100000
	else
		nok "replay $n" "synth failed"
	fi
	"$SYNTH" --light -o "$T/$n.light.dat" "$s" 2> /dev/null &&
		entry "replay $n light, 77us" "$T/$n.light.dat" 77000
done
entry "replay shipped demo, 7ms" "$TOP/tests/data/demo.dat" 7000000
entry "replay shipped demo, 1ms" "$TOP/tests/data/demo.dat" 1000000
for seed in 3 4; do
	"$SYNTH" --random "$seed" --events 100000 -o "$T/r$seed.dat" 2> /dev/null &&
		entry "replay random $seed, 10ms" "$T/r$seed.dat" 10000000
done
# a page whose time is 10^6 s late (corrupt): one line for the gap, not 10^10
"$SYNTH" -V 6 -z none -o "$T/v6.dat" "$SCN/basic-vmx.scn" 2> /dev/null
python3 - "$T/v6.dat" "$T/late.dat" <<-'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.index(b'flyrecord\0') + 10
off, = struct.unpack_from('<Q', b, i + 16)      # CPU 1's data: its first page's time
struct.pack_into('<Q', b, off, struct.unpack_from('<Q', b, off)[0] + 10**15)
open(sys.argv[2], 'wb').write(b)
EOF
entry "replay: a page 10^6 s late" "$T/late.dat" 100000 0
check_eq "replay: a page 10^6 s late makes one long line" "999999997700000" \
	"$(python3 -c "
import json, sys
print(' '.join(str(j['end_ns'] - j['start_ns']) for j in map(json.loads, open(sys.argv[1]))
               if j['end_ns'] - j['start_ns'] > 100000 and not j['final']))" \
	"$(tail -n 1 "$T/list" | cut -f2)")"
python3 "$SUMS" "$T/list"
rm -f "$T"/e*.json "$T"/e*.jsonl

# ---- a period spanning boundaries is split exactly ----
# long-idle: halts of 500 ms and 1.2 s. Each run of lines holding idle time
# is one halt: its parts add up to that idle period (analyze's periods), and
# a line inside it holds exactly 100 ms of idle and nothing else.
"$SYNTH" -o "$T/li.dat" "$SCN/long-idle.scn" 2> /dev/null
"$VMWAIT" top --replay "$T/li.dat" -i 100ms > "$T/li.jsonl" 2> /dev/null
"$VMWAIT" analyze --json "$T/li.dat" > "$T/li.json"
"$SYNTH" --light -o "$T/lil.dat" "$SCN/long-idle.scn" 2> /dev/null
"$VMWAIT" top --replay "$T/lil.dat" -i 100ms > "$T/lil.jsonl" 2> /dev/null
"$VMWAIT" analyze --json "$T/lil.dat" > "$T/lil.json"
python3 - "$T/li.jsonl" "$T/li.json" "$T/lil.jsonl" "$T/lil.json" <<-'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ana = json.load(open(sys.argv[2]))
p = ana['vms'][0]['vcpus'][0]['periods']['idle']
want = sorted([p['total_ns'] - p['max_ns'], p['max_ns']]) if p['count'] == 2 else None
runs, cur, inner = [], [], []
for l in lines:
    v = l['vms'][0]['vcpus'][0]
    if v['states_ns']['idle']:
        cur.append(v)
    elif cur:
        runs.append(cur)
        cur = []
runs.append(cur)
got = sorted(sum(v['states_ns']['idle'] for v in r) for r in runs if r)
print('ok' if got == want else 'not ok', 'halts across boundaries: their parts add up%s' %
      ('' if got == want else ': %r, analyze %r' % (got, want)))
inner = [v for r in runs for v in r[1:-1]]
odd = [v['states_ns'] for v in inner
       if v['states_ns']['idle'] != 100000000 or sum(v['states_ns'].values()) != 100000000 or v['pending_ns']]
print('ok' if len(inner) == 15 and not odd else 'not ok',
      'halts across boundaries: the 15 lines inside them hold 100 ms idle only%s' %
      ('' if len(inner) == 15 and not odd else ': %d lines, %r' % (len(inner), odd[:2])))
# light: the same halts are tentative until kvm_vcpu_wakeup: pending, then decided
light = [json.loads(l) for l in open(sys.argv[3])]
pend = [l['vms'][0]['vcpus'][0] for l in light[1:5]]
ok = all(v['pending_ns'] == 100000000 and not any(v['states_ns'].values()) for v in pend)
print('ok' if ok else 'not ok', 'light: a tentative halt is pending, 100 ms a line%s' %
      ('' if ok else ': %r' % [(v['states_ns'], v['pending_ns']) for v in pend]))
lana = json.load(open(sys.argv[4]))
lp = lana['vms'][0]['vcpus'][0]['periods']['idle']
dec = light[5]['vms'][0]['vcpus'][0]
left = sum(l['vms'][0]['vcpus'][0]['pending_ns'] for l in light[:6])
ok = dec['states_ns']['idle'] == lp['total_ns'] - lp['max_ns'] and left == 0
print('ok' if ok else 'not ok', 'light: the line where kvm_vcpu_wakeup decides it holds the halt%s' %
      ('' if ok else ': idle %d (analyze: %d), %d ns left pending' %
       (dec['states_ns']['idle'], lp['total_ns'] - lp['max_ns'], left)))
EOF

# ---- selections ----
"$SYNTH" -o "$T/two.dat" "$SCN/two-vms.scn" 2> /dev/null
vms_of() { python3 -c "
import json, sys
print(' '.join(sorted({'%d:%s' % (vm['pid'], vm['name']) for l in sys.stdin for vm in json.loads(l)['vms']})))"; }
check_eq "replay: both VMs" "1000:web1 2000:db2" \
	"$("$VMWAIT" top --replay "$T/two.dat" -i 1ms 2> /dev/null | vms_of)"
check_eq "replay: --vm NAME" "2000:db2" \
	"$("$VMWAIT" top --replay "$T/two.dat" -i 1ms --vm db2 2> /dev/null | vms_of)"
check_eq "replay: --vm PID" "1000:web1" \
	"$("$VMWAIT" top --replay "$T/two.dat" -i 1ms --vm 1000 2> /dev/null | vms_of)"
check_eq "replay: -p PID" "1000:web1" \
	"$("$VMWAIT" top --replay "$T/two.dat" -i 1ms -p 1000 2> /dev/null | vms_of)"
check_rc "replay: --vm matching nothing" 1 "$VMWAIT" top --replay "$T/two.dat" --vm nope
check_eq "replay: --vm matching nothing, said so" \
	"vmwait: top: --vm nope: no such VM in $T/two.dat (its VMs: web1 (1000), db2 (2000))" \
	"$(cat "$T/err")"
# --speed paces the same lines
"$VMWAIT" top --replay "$TOP/tests/data/demo.dat" -i 7ms 2> /dev/null | sed 's/"top_cpu_ns":[0-9]*//' > "$T/fast"
"$VMWAIT" top --replay "$TOP/tests/data/demo.dat" -i 7ms --speed 2 2> /dev/null |
	sed 's/"top_cpu_ns":[0-9]*//' > "$T/slow"
check_eq "replay: --speed gives the same lines" "10 same" \
	"$(wc -l < "$T/slow") $(cmp -s "$T/fast" "$T/slow" && echo same || echo differ)"
check_rc "replay: exit status" 0 "$VMWAIT" top --replay "$TOP/tests/data/demo.dat"
check_eq "replay: CPU time of top at exit" 1 "$(grep -c '^vmwait: top: CPU time of top: ' "$T/err")"

# ---- options ----
# opt NAME RC EXPECTED-LINE ARGS...: exit status and the one line on stderr.
opt() {
	local name=$1 rc=$2 line=$3
	shift 3
	check_rc "option: $name" "$rc" "$VMWAIT" top "$@"
	check_eq "option: $name, one line" "$line" "$(cat "$T/err")"
}
opt "-i 0" 2 "vmwait: top: bad interval '0' (seconds, or 500ms, 2s, ...)" -i 0
opt "-i x" 2 "vmwait: top: bad interval 'x' (seconds, or 500ms, 2s, ...)" -i x
opt "-d 0" 2 "vmwait: top: bad duration '0'" -d 0
opt "--light --full" 2 "vmwait: top: --light and --full exclude each other" --light --full
opt "-p with --vm" 2 "vmwait: top: -p and --vm exclude each other (pick the VM one way)" -p 1 --vm x
opt "--speed alone" 2 "vmwait: top: --speed needs --replay" --speed 2
opt "--speed 0" 2 "vmwait: top: bad speed '0' (a factor above 0, e.g. 1 or 0.5)" --replay x --speed 0
opt "--replay with -o" 2 \
	"vmwait: top: -o keeps what is traced: not with --replay (the file is one)" --replay x -o y
opt "--replay with --light" 2 \
	"vmwait: top: --light and --full choose what is traced: not with --replay" --replay x --light
opt "--replay with -d" 2 "vmwait: top: -d is for live tracing: a replay ends with its file" \
	--replay x -d 1
opt "unknown option" 2 "vmwait: top: unknown option '--bogus' (see 'vmwait top --help')" --bogus
opt "an argument" 2 "vmwait: top: unexpected argument 'x'" x
opt "--replay of a missing file" 1 \
	"vmwait: top: $T/none.dat: cannot open: No such file or directory" --replay "$T/none.dat"
opt "--replay of a directory" 1 \
	"vmwait: top: $T is not a regular file (a trace.dat is read by seeking)" --replay "$T"
check_rc "option: --replay of a text file" 1 "$VMWAIT" top --replay "$TOP/README.md"
check_eq "option: --replay of a text file, one line" 1 "$(wc -l < "$T/err")"
check_rc "option: --help" 0 "$VMWAIT" top --help
check_eq "option: --help, usage" "usage: vmwait top [-p PID|--vm NAME] [-i SECONDS] [-d DURATION] [--light|--full]" \
	"$(head -n 1 "$T/out")"

# ---- the screen of a replay, under tmux ----
# pane_wait PATTERN: the pane shows PATTERN (30 s at most); the pane in $T/pane.
pane_wait() {
	local i
	for i in $(seq 300); do
		tmux -L "$TMUXS" capture-pane -p > "$T/pane" 2> /dev/null
		grep -q -- "$1" "$T/pane" && return 0
		[ -e "$T/scr.rc" ] && return 1
		sleep 0.1
	done
	return 1
}
# exit_wait: the pane's command has exited (30 s at most).
exit_wait() {
	local i
	for i in $(seq 300); do
		[ -e "$T/scr.rc" ] && return 0
		sleep 0.1
	done
	return 1
}
# pane_start COMMAND...: start COMMAND in a 200x50 tmux pane; its status goes to $T/scr.rc.
pane_start() {
	rm -f "$T/scr.rc" "$T/scr.err"
	tmux -L "$TMUXS" kill-server 2> /dev/null
	printf '%q ' "$@" > "$T/scr.cmd"
	tmux -L "$TMUXS" new-session -d -x 200 -y 50 \
		"$(cat "$T/scr.cmd") 2> $T/scr.err; echo \$? > $T/scr.rc; sleep 60"
}
if ! command -v tmux > /dev/null; then
	skip "screen" "tmux is not installed (scripts/setup installs it)"
else
	# basic-vmx is 2.4 ms long: at 1/1000 of its speed, a line every 0.1 s
	pane_start "$VMWAIT" top --replay "$T/basic-vmx.dat" -i 100us --speed 0.001
	if pane_wait "^web1 "; then
		ok "screen: draws the VM and its vCPUs ($(grep -c '^  [0-9] ' "$T/pane") vCPU rows)"
		first=$(sed -n 's/^vmwait top  interval \([0-9]*\).*/\1/p' "$T/pane")
		if pane_wait "end of the replay: q quits"; then
			last=$(sed -n 's/^vmwait top  interval \([0-9]*\).*/\1/p' "$T/pane")
			check_eq "screen: refreshes each interval, then says the replay ended" \
				"23 earlier" "$last $([ "$first" -lt "$last" ] && echo earlier)"
		else
			nok "screen: refreshes" "no end: $(head -n 3 "$T/pane" | tr '\n' '|')"
		fi
		tmux -L "$TMUXS" send-keys r
		pane_wait "^sort: reason timer" && ok "screen: r sorts by a reason" ||
			nok "screen: r sorts by a reason" "$(sed -n 2p "$T/pane")"
		tmux -L "$TMUXS" send-keys i
		pane_wait "^sort: idle" && ok "screen: i sorts by idle" ||
			nok "screen: i sorts by idle" "$(sed -n 2p "$T/pane")"
		tmux -L "$TMUXS" send-keys q
		exit_wait
		check_eq "screen: q quits, status 0" 0 "$(cat "$T/scr.rc" 2> /dev/null)"
		check_eq "screen: stderr after the screen" 1 "$(grep -c 'CPU time of top' "$T/scr.err")"
	else
		nok "screen: draws" "$(head -n 5 "$T/pane" | tr '\n' '|') $(cat "$T/scr.err")"
	fi
	# a terminal curses does not know: JSON lines instead, said so
	pane_start env TERM=nosuchterm "$VMWAIT" top --replay "$TOP/tests/data/demo.dat" -i 7ms
	exit_wait
	check_eq "screen: an unknown terminal, JSON lines instead" \
		"0 vmwait: top: warning: cannot draw on this terminal (TERM=nosuchterm): JSON lines instead" \
		"$(cat "$T/scr.rc") $(grep warning "$T/scr.err")"
fi

# ---- live ----
if [ "$(id -u)" != 0 ]; then
	skip "live" "needs root (tracefs)"
	exit 0
fi
if ! td=$(tracefs_dir); then
	skip "live" "tracefs is not available"
	exit 0
fi
if command -v setpriv > /dev/null; then
	check_rc "live: needs root" 1 setpriv --reuid 65534 --regid 65534 --clear-groups \
		"$VMWAIT" top -d 1
	check_eq "live: needs root, said so" \
		"vmwait: top: top needs root (it creates a tracefs instance); --replay FILE does not" \
		"$(head -n 1 "$T/err")"
fi

# leftovers: vmwait instances whose process is gone.
leftovers() {
	local i p
	for i in "$td"/instances/vmwait-*; do
		i=${i##*/}
		p=${i#vmwait-}
		p=${p%%-*}
		case $p in *[!0-9]*|"") continue ;; esac
		[ -e "/proc/$p" ] || echo "$i"
	done
}

check_rc "live: -o a directory" 1 "$VMWAIT" top -d 1 -o "$T"
check_eq "live: -o a directory, one line" "vmwait: top: cannot write $T: not a regular file" \
	"$(cat "$T/err")"
check_eq "live: -o a directory, no instance left" "" "$(leftovers)"

# instances_of PID: tracefs instances of the vmwait process PID.
instances_of() {
	ls "$td/instances" | grep -c "^vmwait-$1-"
}

# kvm_vms: processes holding a KVM VM now.
kvm_vms() {
	local p
	for p in /proc/[0-9]*; do
		ls -l "$p/fd" 2> /dev/null | grep -q 'anon_inode:kvm-vm' && echo "${p#/proc/}"
	done
}

# A run of 3 s: 3 lines, no loss, the output's analysis equals the lines.
others=$(kvm_vms | tr '\n' ' ')
"$VMWAIT" top -d 3 --json-lines -o "$T/live.dat" > "$T/live.jsonl" 2> "$T/live.err" &
pid=$!
wait $pid
check_eq "live -d 3: exit status" 0 "$?"
check_eq "live -d 3: three intervals" "3" "$(wc -l < "$T/live.jsonl")"
check_eq "live -d 3: no lost events" "0 0" "$(python3 -c "
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
print(sum(l['lost_events'] for l in ls), sum(l['losses'] for l in ls))" "$T/live.jsonl")"
check_eq "live -d 3: no tracefs instance left" 0 "$(instances_of $pid)"
check_eq "live -d 3: its CPU time" 1 "$(grep -c '^vmwait: top: CPU time of top: ' "$T/live.err")"
vcpus=$(python3 -c "
import json, sys
print(sum(json.loads(l)['vcpus'] for l in open(sys.argv[1])))" "$T/live.jsonl")
if [ -z "$others" ] && [ "$vcpus" = 0 ]; then
	check_eq "live -d 3: no VM, said clearly" \
		"vmwait: top: no VM is running: no process holds a KVM VM (vCPUs show once one runs)" \
		"$(grep 'no VM is running' "$T/live.err" | head -n 1)"
	check_eq "live -d 3: no vCPU, said clearly" \
		"vmwait: top: no vCPU in interval 0: no VM is running on this host (or none of its vCPUs ran)" \
		"$(grep 'no vCPU in' "$T/live.err")"
else
	skip "live -d 3: no vCPU" "a VM ran on this host meanwhile (${others:-$vcpus vCPUs})"
fi
"$VMWAIT" analyze --json "$T/live.dat" > "$T/live.json" 2> /dev/null
printf 'live -d 3 -o FILE: analyze of FILE\t%s\t%s\t1000000000\n' "$T/live.jsonl" "$T/live.json" \
	> "$T/list"
python3 "$SUMS" "$T/list"

# Clean-up: q is tested with the screen; signals here; SIGKILL leaves one that
# the next run removes.
for sig in INT TERM HUP KILL; do
	rm -f "$T/sig.jsonl"	# else the last run's line may be seen before this one starts
	"$VMWAIT" top --json-lines -i 0.2 > "$T/sig.jsonl" 2> "$T/sig.err" &
	pid=$!
	BG="$BG $pid"
	for i in $(seq 600); do [ -s "$T/sig.jsonl" ] && break; sleep 0.1; done
	stop_wait $pid $sig
	rc=$?
	if [ $sig = KILL ]; then
		check_eq "live SIGKILL: leaves its instance" "137 1" "$rc $(instances_of $pid)"
		"$VMWAIT" top -d 0.2 --json-lines > /dev/null 2> "$T/sig.err"
		check_eq "live SIGKILL: the next run removes it" \
			"vmwait: top: removed stale tracefs instance vmwait-$pid-0 0" \
			"$(grep 'stale' "$T/sig.err") $(instances_of $pid)"
	else
		check_eq "live SIG$sig: exit 0, the last line, no instance left" "0 true 0" \
			"$rc $(tail -n 1 "$T/sig.jsonl" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["final"]).lower())') $(instances_of $pid)"
	fi
done

# The screen, live: draws, refreshes, quits on q, removes its instance.
if command -v tmux > /dev/null; then
	pane_start "$VMWAIT" top -i 0.2
	if pane_wait "^vmwait top  [0-9:]*  interval 2 "; then
		ok "screen live: draws and refreshes"
		tmux -L "$TMUXS" send-keys q
		exit_wait
		check_eq "screen live: q quits, status 0" 0 "$(cat "$T/scr.rc" 2> /dev/null)"
		check_eq "screen live: no tracefs instance left" "" "$(leftovers)"
	else
		nok "screen live: draws" "$(head -n 5 "$T/pane" | tr '\n' '|') $(cat "$T/scr.err")"
	fi
	tmux -L "$TMUXS" kill-server 2> /dev/null
fi

# With a VM: the KVM workload's waits, exactly, in the lines and in -o FILE.
. "$TOP/tests/caps.sh"
if ! caps_probe kvm; then
	skip "live with a VM" "$CAP_WHY"
	exit 0
fi
"$VMWAIT" top --json-lines -i 0.5 -o "$T/vm.dat" > "$T/vm.jsonl" 2> "$T/vm.err" &
pid=$!
BG="$BG $pid"
for i in $(seq 600); do [ -s "$T/vm.jsonl" ] && break; sleep 0.1; done
if ! "$VMM" -c 2 -p "timer:3:1ms,pit:3:1ms,ipi:3,disk:3,net:3" -o "$T/truth.json" \
	> /dev/null 2> "$T/vmm.err"; then
	stop_wait $pid INT
	skip "live with a VM" "the workload cannot run a VM here: $(head -n 1 "$T/vmm.err")"
	exit 0
fi
stop_wait $pid INT
check_eq "live with a VM: exit status after SIGINT" 0 "$?"
check_eq "live with a VM: no tracefs instance left" 0 "$(instances_of $pid)"
python3 - "$T/truth.json" "$T/vm.jsonl" <<-'EOF'
import json, sys
truth = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]

def check(what, want, got):
    print('%s live with a VM: %s%s' % ('ok' if want == got else 'not ok', what,
          '' if want == got else ': expected %r, got %r' % (want, got)))

check('no lost events', 0, sum(l['lost_events'] for l in lines))
vcpus, waits = {}, {}
for l in lines:
    for vm in l['vms']:
        if vm['pid'] != truth['pid']:
            continue
        for v in vm['vcpus']:
            vcpus[(v['vcpu'], v['tid'])] = v['comm']
            for r, w in v['waits'].items():
                if w['count']:
                    waits[(v['vcpu'], r)] = waits.get((v['vcpu'], r), 0) + w['count']
check('its vCPU ids and threads', sorted((v['vcpu'], v['tid'], v['comm']) for v in truth['vcpus']),
      sorted((k[0], k[1], c) for k, c in vcpus.items()))
want = {}
for ph in truth['phases']:
    for reason, w in ph['waits'].items():
        for v in w['vcpus']:
            want[(v['vcpu'], reason)] = want.get((v['vcpu'], reason), 0) + v['count']
check('waits per vCPU and reason, summed over the lines', sorted(want.items()), sorted(waits.items()))
EOF
"$VMWAIT" analyze --json "$T/vm.dat" > "$T/vm.json" 2> /dev/null
printf 'live with a VM -o FILE: analyze of FILE\t%s\t%s\t500000000\n' "$T/vm.jsonl" "$T/vm.json" \
	> "$T/list"
python3 "$SUMS" "$T/list"
