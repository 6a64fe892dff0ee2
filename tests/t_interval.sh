#!/usr/bin/env bash
# --interval: the slices of every vCPU add up exactly to its totals (states,
# waits per reason, exits per reason), on the shipped trace and synthetic
# scenarios (full, light, nested, losses) and random traces; each slice lies
# inside its interval; the text report has one row per vCPU and slice.
. "$(dirname "$0")/lib.sh"

SYNTH=$TOP/build/tests/synth/vmwait-synth
SCN=$TOP/tests/synth/scenarios

# sums NAME FILE LEN: compare the slices with the totals, print the mismatches.
sums() {
	local out
	if ! "$VMWAIT" analyze --json --interval "$3" "$2" > "$T/iv.json" 2> "$T/err"; then
		nok "$1" "analyze: $(head -n 1 "$T/err")"
		return
	fi
	out=$(python3 - "$T/iv.json" <<-'EOF'
	import json, sys
	j = json.load(open(sys.argv[1]))
	tot, bad = {}, []
	for iv in j['intervals']:
	    if iv['end_ns'] - iv['start_ns'] > j['interval_ns']:
	        bad.append('slice longer than the interval')
	    for vm in iv['vms']:
	        for v in vm['vcpus']:
	            k = (vm['pid'], vm['name'], v['tid'], v['vcpu'])
	            d = tot.setdefault(k, {})
	            if sum(v['states_ns'].values()) > iv['end_ns'] - iv['start_ns']:
	                bad.append('slice of %s holds more than its interval' % (k,))
	            for s, n in v['states_ns'].items():
	                d[s] = d.get(s, 0) + n
	            for r, w in v['waits'].items():
	                d['w' + r] = d.get('w' + r, 0) + w['count']
	                d['t' + r] = d.get('t' + r, 0) + w['total_ns']
	            for e in v['exits']:
	                d['e' + e['reason']] = d.get('e' + e['reason'], 0) + e['count']
	for vm in j['vms']:
	    for v in vm['vcpus']:
	        d = tot.get((vm['pid'], vm['name'], v['tid'], v['vcpu']), {})
	        want = dict(v['states_ns'])
	        for r, w in v['waits'].items():
	            want['w' + r] = w['count']
	            want['t' + r] = w['total_ns']
	        for e in v['exits']:
	            want['e' + e['reason']] = e['count']
	        for key, n in want.items():
	            if d.get(key, 0) != n:
	                bad.append('vCPU %d %s: %d in slices, %d in all' % (v['vcpu'], key, d.get(key, 0), n))
	print('; '.join(bad[:3]) if bad else 'equal (%d intervals)' % len(j['intervals']))
	EOF
	)
	case "$out" in
	equal*) ok "$1: $out" ;;
	*) nok "$1" "$out" ;;
	esac
}

sums "shipped demo, 7ms" "$TOP/tests/data/demo.dat" 7ms
sums "shipped demo, 1ms" "$TOP/tests/data/demo.dat" 1ms
for s in basic-vmx nested-vmx lost-stored mid-trace hlt-fastpath; do
	[ -f "$SCN/$s.scn" ] || continue
	"$SYNTH" -o "$T/s.dat" "$SCN/$s.scn" 2> /dev/null || { nok "synth $s" "failed"; continue; }
	sums "scenario $s, 100us" "$T/s.dat" 100us
	"$SYNTH" --light -o "$T/l.dat" "$SCN/$s.scn" 2> /dev/null && sums "scenario $s light, 77us" "$T/l.dat" 77us
done
for seed in 3 4; do
	"$SYNTH" --random "$seed" --events 100000 -o "$T/r.dat" 2> /dev/null &&
		sums "random $seed, 10ms" "$T/r.dat" 10ms
done
"$VMWAIT" analyze --interval 20ms "$TOP/tests/data/demo.dat" > "$T/text"
# both vCPU threads exit 45 ms in: three slices of two vCPUs
check_eq "text: a row per vCPU and slice" "6" "$(grep -cE '^  \+0\.0[0-6]0000 +[01] \(CPU' "$T/text")"
check_rc "--interval 0 is refused" 2 "$VMWAIT" analyze --interval 0 "$TOP/tests/data/demo.dat"
