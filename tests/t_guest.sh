#!/usr/bin/env bash
# Which guest program waited (README): host and guest traces of the same
# simulation from the generator (tests/synth/guest.h), as trace-cmd's
# host-guest mode writes them (ids, TIME_SHIFT) and as two files whose clocks
# differ by a known offset; the analyzer's guest tasks against the ground
# truth (exact JSON), --guest-offset auto against the known offset, the text
# report and --explain, and every bad input refused in one line.
. "$(dirname "$0")/lib.sh"

SYNTH=$TOP/build/tests/synth/vmwait-synth
SCN=$TOP/tests/synth/scenarios
K=1234567890123			# the generator's default offset (VM index i: + 1000003 i)
cd "$TOP" || exit 1

# json FILE EXPR: a Python expression on the parsed JSON (as j).
json() {
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

# same NAME TRUTH OUT: byte for byte.
same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		nok "$1" "differs from the ground truth: $(diff <(tr ',' '\n' < "$2") \
			<(tr ',' '\n' < "$3") | head -n 6 | tr '\n' ' ')"
	fi
}

# guests PREFIX: --guest for every guest trace the generator wrote.
guests() {
	local g
	for g in "$1"-*.dat; do printf -- '--guest %s ' "$g"; done
}

# refused NAME WANT_RC PATTERN CMD...: exit status, no report, one line matching PATTERN.
refused() {
	local name=$1 want=$2 pat=$3 rc
	shift 3
	"$@" > "$T/out" 2> "$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		nok "$name" "exit $rc, expected $want: $(head -n 2 "$T/err" | tr '\n' ' ')"
	elif [ -s "$T/out" ]; then
		nok "$name" "a report was printed"
	elif [ "$(wc -l < "$T/err")" != 1 ] || ! grep -q "^vmwait: analyze: .*$pat" "$T/err"; then
		nok "$name" "expected one line with '$pat', got: $(head -n 3 "$T/err" | tr '\n' ' ')"
	else
		ok "$name"
	fi
}

# 1. trace-cmd's host-guest form, every scenario: the guest files name their
#    VM by trace id and map their clock by TIME_SHIFT; exact equality.
for s in "$SCN"/*.scn; do
	n=$(basename "$s" .scn)
	case $n in
	exits-halted|spawn-nomarkers)
		skip "tracecmd form $n" "its VMs are grouped by evidence (no VMM pid): the truth does not model what a GUEST option naming them would change"
		continue ;;
	tid-reuse)
		skip "tracecmd form $n" "a vCPU tid reused: one guest CPU would be two threads"
		continue ;;
	esac
	mkdir -p "$T/$n"
	if ! "$SYNTH" "$s" -o "$T/$n.dat" -t "$T/$n.json" --guest "$T/$n/g" 2> "$T/err"; then
		nok "tracecmd form $n" "synth: $(head -n 1 "$T/err")"
		continue
	fi
	# shellcheck disable=SC2046
	if ! "$VMWAIT" analyze --json "$T/$n.dat" $(guests "$T/$n/g") > "$T/out.json" 2> "$T/err"; then
		nok "tracecmd form $n" "analyze failed: $(head -n 1 "$T/err")"
		continue
	fi
	same "tracecmd form $n" "$T/$n.json" "$T/out.json"
done
# poll-evidence-leak leaves a kvm_entry out: the guest ran inside what the host calls a halt
check_eq "a missing entry: the wait without a guest task, counted" "1 1" \
	"$(json "$T/poll-evidence-leak.json" "j['vms'][0]['guest']['inconsistent_waits'], \
	[t['waits']['count'] for t in j['vms'][0]['guest_tasks'] if t['pid'] < 0][0]")"

# 2. Random simulations (two VMs, nested guests, migrations, losses), both forms.
kernels=(6.18 6.1 5.10 4.19)
for seed in 1 2 3 4 5 6 7 8; do
	k=${kernels[$((seed % 4))]}
	r=$T/r$seed
	"$SYNTH" --random "$seed" --events 40000 -k "$k" -o "$r.dat" -t "$r.json" --guest "$r" \
		2> "$T/err" || { nok "random $seed tracecmd form" "synth: $(head -n 1 "$T/err")"; continue; }
	# shellcheck disable=SC2046
	"$VMWAIT" analyze --json "$r.dat" $(guests "$r") > "$T/out.json" 2> "$T/err"
	same "random $seed tracecmd form ($k layout)" "$r.json" "$T/out.json"

	"$SYNTH" --random "$seed" --events 40000 -k "$k" -o "$r.p.dat" -t "$r.p.json" \
		--guest "$r.p" --guest-form plain 2> "$T/err" ||
		{ nok "random $seed plain form" "synth: $(head -n 1 "$T/err")"; continue; }
	"$VMWAIT" analyze --json "$r.p.dat" --guest "$r.p-rnd0.dat=rnd0" --guest "$r.p-rnd1.dat=rnd1" \
		--guest-offset $K --guest-offset $((K + 1000003)) > "$T/out.json" 2> "$T/err"
	same "random $seed plain form, --guest-offset" "$r.p.json" "$T/out.json"

	# auto: the known offsets within 10 us, the rest as with them
	if ! "$VMWAIT" analyze --json "$r.p.dat" --guest "$r.p-rnd0.dat=rnd0" \
		--guest "$r.p-rnd1.dat=rnd1" --guest-offset auto > "$T/auto.json" 2> "$T/err"; then
		nok "random $seed --guest-offset auto" "$(head -n 1 "$T/err")"
		continue
	fi
	check_eq "random $seed --guest-offset auto within 10 us" "True True" \
		"$(json "$T/auto.json" "' '.join(str(abs(v['guest']['offset_ns'] - ($K + 1000003 * i)) \
		<= 10000 and v['guest']['offset_window_ns'][0] <= v['guest']['offset_ns'] <= \
		v['guest']['offset_window_ns'][1]) for i, v in enumerate(j['vms']))")"
	python3 - "$r.p.json" "$T/auto.json" > "$T/cmp" <<-'EOF'
	import json, sys
	t, a = (json.load(open(f)) for f in sys.argv[1:3])
	for v in t['vms'] + a['vms']:
	    for k in ('offset_ns', 'offset_from', 'offset_window_ns'):
	        v['guest'].pop(k)
	print(t == a)
	EOF
	check_eq "random $seed --guest-offset auto: the truth's guest tasks" "True" "$(cat "$T/cmp")"
done

# 3. v7 zstd files (host and guests), and trace-cmd reading the pair.
mkdir -p "$T/z"
"$SYNTH" "$SCN/two-vms.scn" -V 7 -z zstd -o "$T/z.dat" -t "$T/z.json" --guest "$T/z/g"
"$VMWAIT" analyze --json "$T/z.dat" --guest "$T/z/g-web1.dat" --guest "$T/z/g-db2.dat" > "$T/out.json"
same "v7 zstd host and guest traces" "$T/z.json" "$T/out.json"
if trace-cmd report -i "$T/two-vms.dat" -i "$T/two-vms/g-web1.dat" > "$T/tc" 2> "$T/tcerr" &&
   ! [ -s "$T/tcerr" ]; then
	# trace-cmd maps the guest's clock by its TIME_SHIFT: the guest lines fall inside the host's
	check_eq "trace-cmd report -i host -i guest: guest lines in host time" "ok" \
		"$(awk -v f="g-web1.dat:" '$1 == f && /\[/ { m++; if ($0 ~ /\] +4242\.12[34]/) n++ } \
		END { print (n == m && n > 0) ? "ok" : n "/" m }' "$T/tc")"
else
	nok "trace-cmd report -i host -i guest" "$(head -n 2 "$T/tcerr" | tr '\n' ' ')"
fi

# 4. Invariants on any result: per VM, the guest tasks' waits are the VM's waits.
#    With a window and a vCPU selection too.
r=$T/r5
for args in "" "--from +100ms --to +300ms" "--vcpu 1"; do
	# shellcheck disable=SC2046,SC2086
	"$VMWAIT" analyze --json $args "$r.dat" $(guests "$r") > "$T/inv.json" 2> "$T/err"
	check_eq "guest tasks sum to the VM's waits ${args:-(whole trace)}" "True True" \
		"$(json "$T/inv.json" "' '.join(str(sum(t['waits']['count'] for t in v['guest_tasks']) \
		== sum(w['count'] for w in v['totals']['waits'].values()) and sum(t['waits']['total_ns'] \
		for t in v['guest_tasks']) == sum(w['total_ns'] for w in v['totals']['waits'].values())) \
		for v in j['vms'])")"
done

# 5. Missing host records: the guest trace is whole, the waits the model's;
#    the guest tasks still equal the truth's (the host part is t_analyze's).
for seed in 3 4; do
	r=$T/d$seed
	"$SYNTH" --random "$seed" --events 40000 --drop 0.01 -o "$r.dat" -t "$r.json" --guest "$r" \
		2> /dev/null
	# shellcheck disable=SC2046
	"$VMWAIT" analyze --json "$r.dat" $(guests "$r") > "$T/out.json" 2> /dev/null
	check_eq "random $seed, 1% of host records dropped: guest tasks" "True" \
		"$(python3 -c "import json,sys; t, a = (json.load(open(f)) for f in sys.argv[1:]); \
		print([(v['guest'], v['guest_tasks']) for v in t['vms']] == \
		[(v['guest'], v['guest_tasks']) for v in a['vms']])" "$r.json" "$T/out.json")"
done

# 6. The text report: one row per guest task, as in the JSON.
"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms/g-web1.dat" --guest "$T/two-vms/g-db2.dat" \
	> "$T/report.txt"
check_eq "text report: the guest tasks table of each VM" \
	"$(json "$T/two-vms.json" "'|'.join('%s %d %d %d' % (t['comm'] + ('-%d' % t['pid'] if \
	t['pid'] >= 0 else ''), t['waits']['count'], t['state']['S'], t['woken']) for v in j['vms'] \
	for t in v['guest_tasks'])")" \
	"$(awk '/^    guest tasks of/ { on = 1; next } on && /^    \(/ { on = 0 } \
	on && !/ran last before/ { l = substr($0, 5, 26); sub(/ +$/, "", l); split(substr($0, 31), f); \
	printf "%s%s %s %s %s", sep, l, f[1], f[7], f[10]; sep = "|" }' "$T/report.txt")"

# 7. --explain: guest lines among the host's in time order, a note per wait
#    naming the tasks, which add up to the VM's guest tasks.
r=$T/r5
"$VMWAIT" analyze --explain --vm rnd0 "$r.dat" --guest "$r-rnd0.dat" --guest "$r-rnd1.dat" \
	> "$T/explain.txt" 2> "$T/err"
check_eq "--explain: guest lines in time order among the host's" "ok" \
	"$(awk -v f="$r-rnd0.dat:" '/^    =>/ { next } { for (i = 1; i <= NF; i++) if ($i ~ /^\[[0-9]+\]/) \
	{ t = $i; sub(/^\[[0-9]+\]/, "", t); if (t == "") t = $(i + 1); sub(/:$/, "", t); break } \
	if (t + 0 < last) bad++; last = t + 0; if ($1 == f) g++ } \
	END { print (bad || !g) ? bad "/" g : "ok" }' "$T/explain.txt")"
check_eq "--explain: a guest note per wait, adding up to the guest tasks" \
	"$(json "$r.json" "sorted('%s-%d:%d' % (t['comm'], t['pid'], t['waits']['count']) \
	for t in j['vms'][0]['guest_tasks'] if t['pid'] >= 0)")" \
	"$(python3 -c "import re,sys,collections; c = collections.Counter(m.group(1) for m in \
	re.finditer(r'guest: ran last (.+?) \(', open(sys.argv[1]).read())); \
	print(sorted('%s:%d' % kv for kv in c.items()))" "$T/explain.txt")"

# 8. Bad inputs: one line each, exit 1 (2 for usage), never a report.
p=$T/r6.p
refused "a guest of a VM the host trace lacks" 1 "has no such VM" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd0.dat=web9" --guest-offset $K
refused "plain guests without =VM: which VM" 1 "which VM is it" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd0.dat" --guest-offset $K
refused "clocks that cannot match (no offset)" 1 "the clocks differ" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd0.dat=rnd0"
refused "a guest with fewer CPUs than the VM's vCPUs" 1 "has 2 CPUs, but VM rnd1 has vCPU 2" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd0.dat=rnd1" --guest-offset $K
refused "another VM's guest trace, offset given" 1 "does not fit VM rnd0" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd1.dat=rnd0" --guest-offset $((K + 1000003))
refused "another VM's guest trace, offset auto" 1 "no clock offset puts VM rnd0" \
	"$VMWAIT" analyze "$p.dat" --guest "$p-rnd1.dat=rnd0" --guest-offset auto
refused "trace-cmd form: another VM's guest by its trace id" 1 "is guest 'web1' (its trace id), not VM 'db2'" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms/g-web1.dat=db2"
refused "trace-cmd form: a guest of another recording" 1 "recorded with another host trace" \
	"$VMWAIT" analyze "$T/r1.dat" --guest "$T/r2-rnd0.dat"
refused "two guest traces of one VM" 1 "are both of VM web1" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms/g-web1.dat" --guest "$T/z/g-web1.dat=web1"
"$SYNTH" --random 6 --events 40000 -o "$T/e.dat" --guest "$T/e" --guest-form empty
refused "a guest trace with no sched events" 1 "has no sched_switch events" \
	"$VMWAIT" analyze "$T/e.dat" --guest "$T/e-rnd0.dat=rnd0"
"$SYNTH" "$SCN/basic-vmx.scn" --events-only kvm_entry,kvm_exit -o "$T/nosched.dat"
refused "a guest trace that records no sched_switch" 1 "does not record sched_switch" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/nosched.dat=web1"
refused "a guest trace that is no trace" 1 "is not a trace.dat file" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms.json=web1"
refused "a guest trace that does not exist" 1 "cannot open" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/nonexistent.dat"
refused "--guest-offset without --guest" 2 "without --guest" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest-offset 5
refused "two --guest-offset for three --guest" 2 "give one for all, or one per --guest" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest a --guest b --guest c --guest-offset 1 --guest-offset 2
refused "a --guest-offset that is no number" 2 "invalid value '12x'" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms/g-web1.dat" --guest-offset 12x
refused "--guest-offset auto with too little evidence" 1 "too little evidence" \
	"$VMWAIT" analyze "$T/two-vms.dat" --guest "$T/two-vms/g-web1.dat" --guest-offset auto

# 9. The sanitizers: the same answers, nothing reported (join, auto, explain).
r=$T/r7
for args in "tracecmd" "auto" "explain"; do
	case $args in
	tracecmd) set -- --json "$r.dat" --guest "$r-rnd0.dat" --guest "$r-rnd1.dat" ;;
	auto) set -- --json "$r.p.dat" --guest "$r.p-rnd0.dat=rnd0" --guest "$r.p-rnd1.dat=rnd1" \
		--guest-offset auto ;;
	explain) set -- --explain --vcpu 0 "$r.dat" --guest "$r-rnd0.dat" --guest "$r-rnd1.dat" ;;
	esac
	"$VMWAIT" analyze "$@" > "$T/plain.out" 2> /dev/null
	if ASAN_OPTIONS=detect_leaks=1 "$VMWAIT_ASAN" analyze "$@" > "$T/asan.out" 2> "$T/asan.err" &&
	   cmp -s "$T/asan.out" "$T/plain.out" && ! [ -s "$T/asan.err" ]; then
		ok "asan guest join ($args)"
	else
		nok "asan guest join ($args)" "$(head -n 3 "$T/asan.err" | tr '\n' ' ')"
	fi
done
