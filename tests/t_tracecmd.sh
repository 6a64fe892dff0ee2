#!/usr/bin/env bash
# trace-cmd integration: files written by trace-cmd (extract: v7 zstd with an
# instance buffer; convert: v6 and uncompressed v7), the same data in a
# zlib-compressed v7 file and with a GUEST option, several buffers, the event
# list for trace-cmd, and --explain lines against trace-cmd report.
. "$(dirname "$0")/lib.sh"

VMM=$TOP/build/tests/vmm/vmwait-vmm
REWRITE=$TOP/build/tests/tc/tdat-rewrite

if [ "$(id -u)" != 0 ]; then skip "trace-cmd" "needs root"; exit 0; fi
if ! command -v trace-cmd > /dev/null; then skip "trace-cmd" "trace-cmd is not installed"; exit 0; fi
if ! td=$(tracefs_dir); then skip "trace-cmd" "tracefs is not available"; exit 0; fi
. "$TOP/tests/caps.sh"
if ! caps_probe kvm; then skip "trace-cmd" "$CAP_WHY"; exit 0; fi
if ! "$VMM" -c 1 -p spin:1:1ms > /dev/null 2> "$T/err"; then
	skip "trace-cmd" "the workload cannot run a VM here: $(head -n 1 "$T/err")"; exit 0
fi

json() {
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

# 1. Record the workload the way trace-cmd record would, with exactly the
#    events "vmwait events --trace-cmd" asks for, in our own instances; then
#    let trace-cmd extract them. A second instance holds only noise.
kvm_inst=$(new_instance "$td") || { nok "instance" "cannot create"; exit 0; }
noise_inst=$(new_instance "$td") || { nok "instance" "cannot create"; exit 0; }
kname=$(basename "$kvm_inst")
nname=$(basename "$noise_inst")
"$VMWAIT" events --trace-cmd > "$T/args"
read -r -a args < "$T/args"
for ((i = 1; i < ${#args[@]}; i += 2)); do
	echo "${args[$i]}" >> "$kvm_inst/set_event" || nok "enable ${args[$i]}" "cannot enable"
done
echo 8192 > "$kvm_inst/buffer_size_kb"
echo sched:sched_switch > "$noise_inst/set_event"
check_eq "every listed event is enabled" "$(( ${#args[@]} / 2 ))" "$(grep -c . "$kvm_inst/set_event")"
echo 1 > "$noise_inst/tracing_on"
echo 1 > "$kvm_inst/tracing_on"
"$VMM" -c 2 -p timer:3:1ms,pit:3:1ms,ipi:3,disk:3,net:3 -o "$T/truth.json" > /dev/null
echo 0 > "$kvm_inst/tracing_on"
echo 0 > "$noise_inst/tracing_on"
( cd "$T" && trace-cmd extract -B "$kname" -B "$nname" -o "$T/tc.dat" > "$T/extract.log" 2>&1 )
check_eq "trace-cmd extract" "0" "$?"
[ -d "$kvm_inst" ] && { echo 0 > "$kvm_inst/tracing_on"; echo > "$kvm_inst/set_event"; rmdir "$kvm_inst"; }
[ -d "$noise_inst" ] && { echo > "$noise_inst/set_event"; rmdir "$noise_inst"; }
[ -s "$T/tc.dat" ] || { nok "trace-cmd file" "extract wrote nothing"; exit 0; }

trace-cmd convert --file-version 6 -i "$T/tc.dat" -o "$T/tc6.dat" > /dev/null 2>&1
check_eq "trace-cmd convert to v6" "0" "$?"
trace-cmd convert --compression none -i "$T/tc.dat" -o "$T/tcn.dat" > /dev/null 2>&1
check_eq "trace-cmd convert to uncompressed v7" "0" "$?"
"$REWRITE" -b "$kname" -z zlib "$T/tcn.dat" "$T/tcz.dat"
check_eq "the same data as zlib-compressed v7" "0" "$?"
check_eq "Debian's trace-cmd cannot read it" "1" \
	"$(trace-cmd report -i "$T/tcz.dat" > /dev/null 2>&1 && echo 0 || echo 1)"

# 2. Every container gives the same analysis (all but the file name), which
#    holds the workload's waits.
for f in tc tc6 tcn tcz; do
	if "$VMWAIT" analyze --json "$T/$f.dat" > "$T/$f.json" 2> "$T/$f.err"; then
		# the file name, and tcz's buffer (the rewrite made it the top one)
		sed -i "s|\"file\":\"[^\"]*\",\"buffer\":\"[^\"]*\"|\"file\":\"x\"|" "$T/$f.json"
		ok "analyze $f"
	else
		nok "analyze $f" "$(head -n 1 "$T/$f.err")"
	fi
done
for f in tc6 tcn tcz; do
	check_eq "$f analysis = extract's" "" "$(cmp "$T/tc.json" "$T/$f.json" 2>&1)"
done
vmm_pid=$(json "$T/truth.json" "j['pid']")
check_eq "the VMM is found by its exec" "$vmm_pid vmwait-vmm" \
	"$(json "$T/tc.json" "' '.join('%d %s' % (v['pid'], v['name']) for v in j['vms'])")"
check_eq "waits as the workload counted them" \
	"$(json "$T/truth.json" "sorted((r, w['count']) for r, w in j['totals']['waits'].items())")" \
	"$(json "$T/tc.json" "sorted((r, w['count']) for r, w in j['vms'][0]['totals']['waits'].items() if w['count'])")"
check_eq "vCPU threads" "$(json "$T/truth.json" "sorted((v['vcpu'], v['tid']) for v in j['vcpus'])")" \
	"$(json "$T/tc.json" "sorted((v['vcpu'], v['tid']) for v in j['vms'][0]['vcpus'])")"

# The analyzer reads every event trace-cmd report prints, and no other.
nrep=$(trace-cmd report -i "$T/tc6.dat" 2> /dev/null | grep -c -E "^$kname: .*\[[0-9]{3}\] +[0-9]+\.[0-9]+: ")
check_eq "event count = trace-cmd report's" "$nrep" "$(json "$T/tc6.json" "j['trace']['events']")"

# 3. Buffers: the kvm one is chosen by default; --buffer names one.
check_eq "--buffer NAME" "" "$("$VMWAIT" analyze --json --buffer "$kname" "$T/tc.dat" |
	sed "s|\"file\":\"[^\"]*\",\"buffer\":\"[^\"]*\"|\"file\":\"x\"|" | cmp - "$T/tc.json" 2>&1)"
check_eq "JSON names the buffer analyzed" "$kname" \
	"$("$VMWAIT" analyze --json "$T/tc.dat" | python3 -c "import json,sys; print(json.load(sys.stdin)['trace']['buffer'])")"
"$VMWAIT" analyze --json --buffer "$nname" "$T/tc.dat" > "$T/noise.json"
# nothing there ties the two vCPU threads to a VM or to each other: two guessed VMs
check_eq "--buffer of the sched-only buffer: vCPUs by name, no waits, nothing groups them" \
	"~1:1:0 ~2:1:0" \
	"$(json "$T/noise.json" "' '.join('%s:%d:%d' % (v['name'], len(v['vcpus']), sum(w['count'] for w in v['totals']['waits'].values())) for v in j['vms'] if v['guessed'])")"
check_rc "--buffer that does not exist" 1 "$VMWAIT" analyze --buffer nosuch "$T/tc.dat"
check_eq "its message names the buffers" "1" \
	"$(grep -cxE "vmwait: analyze: $T/tc.dat: no buffer named 'nosuch' in this trace \(buffers: \(top\), ($kname, $nname|$nname, $kname)\)" "$T/err")"

# 4. trace-cmd's GUEST option names the VM and maps vCPUs to host threads.
t0=$(json "$T/truth.json" "[v['tid'] for v in j['vcpus'] if v['vcpu'] == 0][0]")
t1=$(json "$T/truth.json" "[v['tid'] for v in j['vcpus'] if v['vcpu'] == 1][0]")
"$REWRITE" -b "$kname" -z zstd -g "web7:$t0,$t1" "$T/tcn.dat" "$T/tcg.dat"
"$VMWAIT" analyze --json "$T/tcg.dat" > "$T/tcg.json"
check_eq "GUEST option names the VM" "web7" "$(json "$T/tcg.json" "j['vms'][0]['name']")"
check_eq "GUEST option maps the vCPUs" "[(0, $t0), (1, $t1)]" \
	"$(json "$T/tcg.json" "sorted((v['vcpu'], v['tid']) for v in j['vms'][0]['vcpus'])")"
check_eq "trace-cmd reads the GUEST file" "0" \
	"$(trace-cmd report -i "$T/tcg.dat" > /dev/null 2>&1; echo $?)"

# 5. --explain prints the vCPU's events exactly as trace-cmd report does, in
#    order, plus annotations.
"$VMWAIT" analyze --explain --vcpu 1 "$T/tc.dat" > "$T/explain" 2> "$T/explain.err"
check_eq "--explain runs" "" "$(cat "$T/explain.err")"
grep -v '^    => ' "$T/explain" > "$T/explain.events"
trace-cmd report -i "$T/tc.dat" 2> /dev/null > "$T/report"
python3 - "$T/explain.events" "$T/report" "$t1" "$kname" <<-'EOF'
import re, sys
ex = open(sys.argv[1]).read().splitlines()
rep = open(sys.argv[2]).read().splitlines()
tid = sys.argv[3]
i = 0
for line in ex:
    while i < len(rep) and rep[i] != line:
        i += 1
    if i == len(rep):
        print("not ok explain lines are trace-cmd report lines: not found in order: %r" % line)
        sys.exit(0)
    i += 1
print("ok explain lines are trace-cmd report lines, in order (%d)" % len(ex))
mine = [l for l in rep if l.startswith(sys.argv[4] + ": ") and
        re.search(r"-%s +\[\d{3}\]|pid=%s |:%s \[" % (tid, tid, tid), l)]
print(("ok" if len(mine) == len(ex) else "not ok") +
      " explain shows every event of the vCPU thread (%d of %d)" % (len(ex), len(mine)))
EOF
check_eq "explain annotates every wait of vCPU 1" \
	"$(json "$T/tc.json" "sum(w['count'] for v in j['vms'][0]['vcpus'] if v['vcpu'] == 1 for w in v['waits'].values())")" \
	"$(grep -c '=> vCPU 1 .*: wait of .* ended: ' "$T/explain")"
check_eq "explain names the IPI sender" "3" "$(grep -c 'ended: ipi from vCPU 0' "$T/explain")"
