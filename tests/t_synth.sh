#!/usr/bin/env bash
# The synthetic trace generator: every scenario and a few random seeds give
# a trace.dat that trace-cmd and libtracecmd read cleanly, whose records match
# the ground truth's counts, and whose decoded fields match the scenario.
. "$(dirname "$0")/lib.sh"
SYNTH=$TOP/build/tests/synth/vmwait-synth
CHECK=$TOP/build/tests/synth/synth-check
SCN=$TOP/tests/synth/scenarios
FMT=$TOP/tests/data/formats

if [ ! -x "$SYNTH" ] || [ ! -x "$CHECK" ]; then
	nok synth-build "run make tests first"; exit 1
fi
if ! command -v trace-cmd > /dev/null; then
	skip synth "trace-cmd is not installed"; exit 0
fi

# json_get FILE KEY: the first numeric value of "KEY": in FILE
json_get() { grep -o "\"$2\":[0-9]*" "$1" | head -n 1 | cut -d: -f2; }

# gen NAME ARGS...: generate $T/NAME.dat and $T/NAME.json; check it reads cleanly.
gen() {
	local name=$1 out
	shift
	if ! "$SYNTH" -F "$FMT" -o "$T/$name.dat" -t "$T/$name.json" "$@" 2> "$T/$name.gen"; then
		nok "$name generate" "$(head -n 3 "$T/$name.gen")"; return 1
	fi
	ok "$name generate"
	trace-cmd report "$T/$name.dat" > "$T/$name.txt" 2> "$T/$name.err"
	check_eq "$name trace-cmd report status" 0 $?
	check_eq "$name trace-cmd report stderr" "" "$(head -c 300 "$T/$name.err")"
	trace-cmd report -R -t "$T/$name.dat" > "$T/$name.raw" 2> /dev/null
	out=$("$CHECK" "$T/$name.dat") || { nok "$name libtracecmd" "cannot read"; return 1; }
	check_eq "$name libtracecmd records/lost/first/last" \
		"records=$(json_get "$T/$name.json" events) lost=$(json_get "$T/$name.json" lost_events) first=$(json_get "$T/$name.json" start_ns) last=$(json_get "$T/$name.json" end_ns) bad=0 unordered=0" \
		"$out"
	check_eq "$name trace-cmd report records" "$(json_get "$T/$name.json" events)" \
		"$(grep -cE '^ *.+-[0-9]+ +\[[0-9]{3}\] +[0-9]+\.[0-9]+: ' "$T/$name.txt")"
	spans_ok "$name"
}

# Every vCPU's states sum to its span, its preempted time to its wakeup
# latency and preemptors; a vCPU's span runs to its end_ns, the end of the
# trace or its thread's exit (an L2 vCPU's may stop short: a loss drops it
# until its next VM-enter); exit counts are closed + open + unpaired.
spans_ok() {
	command -v python3 > /dev/null || { skip "$1 spans" "no python3"; return; }
	check_eq "$1 states sum to spans, credits to preempted" "ok" "$(python3 - "$T/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
for vm in r["vms"]:
    l2 = [v for n in vm["nested"] for v in n["vcpus"]]
    for v in list(vm["vcpus"]) + l2:
        if sum(v["states_ns"].values()) != v["span_ns"]:
            bad.append("span %s" % v["tid"])
        end = v["first_ns"] + v["span_ns"]
        if v["end_ns"] > r["trace"]["end_ns"] or \
           (end != v["end_ns"] and (v not in l2 or end > v["end_ns"])):
            bad.append("end %s" % v["tid"])
        pre = sum(p["total_ns"] for p in v["preempted_by"]) + v["preempted_by_others_ns"] + \
            v["wakeup_latency_ns"]
        if pre != v["states_ns"]["preempted"]:
            bad.append("preempt %s" % v["tid"])
        if v["polled_ns"] > v["states_ns"]["idle"]:
            bad.append("polled %s" % v["tid"])
print("ok" if not bad else " ".join(bad))
PY
)"
}

# has NAME PATTERN COUNT: COUNT raw lines of NAME match the extended regex.
has() {
	check_eq "$1 has $3 x '$2'" "$3" "$(grep -cE "$2" "$T/$1.raw")"
}

n=0
for f in "$SCN"/*.scn; do
	name=$(basename "$f" .scn)
	gen "$name" "$f"
	n=$((n + 1))
done
check_eq "at least 20 scenarios" yes "$([ $n -ge 20 ] && echo yes || echo no)"

# Decoded fields against the scenarios (names as the .scn files say).
has basic-vmx 'CPU 0/KVM-1001 .*kvm_exit: +exit_reason=32 .*isa=1 .*vcpu_id=0 ' 4
has basic-vmx 'kvm_apic_ipi: +icr_low=251 dest_id=1$' 1
has basic-vmx 'CPU 1/KVM-1002 .*kvm_inj_virq: +vector=0xfb soft=0 reinjected=0$' 1
has basic-vmx 'CPU 0/KVM-1001 .*kvm_inj_virq: +vector=0xec ' 1
has basic-vmx 'hrtimer_expire_entry: .*function=0xffffffffc0a1f2e0$' 1
has basic-vmx 'kvm_pio: +rw=1 port=0x3f8 size=1 count=1 val=0x41$' 1
has basic-vmx 'kvm_mmio: +type=2 len=4 gpa=0xfebf0000 ' 1
has basic-vmx 'kvm_userspace_exit: +reason=2 errno=0$' 1
has basic-vmx 'kvm_userspace_exit: +reason=6 errno=0$' 1
has basic-vmx 'print: +ip=tracing_mark_write buf=vmwait: vm pid=1000 cmdline=qemu-system-x86_64 -name guest=web1,debug-threads=on' 1
has basic-vmx 'buf=vmwait: task tid=1002 tgid=1000 comm=CPU 1/KVM' 1
check_eq "basic-vmx timer function name" 1 "$(grep -c 'function=apic_timer_fn' "$T/basic-vmx.txt")"
has kernel-4.19 'kvm_entry: +vcpu_id=[01]$' 10
has kernel-4.19 'kvm_exit: +exit_reason=32 guest_rip=0x[0-9a-f]+ isa=1 info1=0 info2=0$' 4
has kernel-4.19 'CPU 1/KVM-1002 .*kvm_inj_virq: +irq=251$' 1
has kernel-5.10-apicv 'kvm_exit: +exit_reason=32 .*error_code=0x00000000 vcpu_id=0$' 4
has kernel-5.10-apicv 'kvm_apicv_accept_irq' 0
has kernel-6.1-svm 'kvm_entry: +vcpu_id=[01] rip=0x[0-9a-f]+$' 10
has svm-basic 'kvm_exit: +exit_reason=120 .*isa=2 ' 2
has svm-basic 'kvm_exit: +exit_reason=114 .*isa=2 .*vcpu_id=0 ' 2
has apicv-vmx 'kvm_inj_virq' 0
has apicv-vmx 'kvm_apicv_accept_irq: +apicid=1 dm=0 tm=0 vec=251$' 1
has old-guest-timer 'kvm_inj_virq: +vector=0xef ' 2
has old-guest-timer 'kvm_apic_accept_irq: +apicid=1 dm=0 tm=0 vec=239$' 1
has poll-success 'kvm_vcpu_wakeup: +ns=[0-9]+ waited=0 valid=1$' 3
has poll-success 'sched_switch:.*prev_pid=100[12] ' 0
has poll-success 'kvm_halt_poll_ns: +grow=1 vcpu_id=1 new=20000 old=10000$' 1
has poll-block 'kvm_halt_poll_ns: +grow=0 vcpu_id=0 new=5000 old=10000$' 1
has hlt-fastpath 'kvm_exit: +exit_reason=12 ' 5
has hlt-fastpath 'kvm_vcpu_wakeup' 1
has net-vhost 'vhost-1000-1010 .*kvm_msi_set_irq: +address=4276092928 data=35$' 2
has net-vhost 'vhost-1000-1010 .*sched_waking: +comm=CPU 1/KVM pid=1002 ' 1
has disk-iothread 'IO iothread0-1011 .*block_rq_issue: .*comm=IO iothread0 ' 2
has disk-iothread '<idle>-0 .*block_rq_complete: ' 2
has device-irqs 'kvm_ioapic_set_irq: +e=50 pin=10 coalesced=0$' 2
has device-irqs 'kvm_set_irq: +gsi=10 level=1 irq_source_id=0$' 1
has device-irqs 'kvm_pic_set_irq: +chip=0 pin=4 ' 1
has device-irqs 'kvm_inj_virq: +vector=0x34 ' 1
has preempt-host 'sched_switch: .*prev_pid=1001 prev_prio=120 prev_state=256 next_comm=kworker/0:1 next_pid=300 ' 2
has two-vms 'CPU 0/KVM-2001 .*kvm_exit: +exit_reason=1024 .*isa=2 ' 1
has busy-wake 'sched_switch: .*prev_pid=300 prev_prio=120 prev_state=1 next_comm=CPU 0/KVM next_pid=1001 ' 1
has migrate 'sched_waking: +comm=CPU 0/KVM pid=1001 prio=120 target_cpu=002$' 1
has migrate '\[002\] .*sched_switch: .*next_pid=1001 ' 1
has migrate '\[003\] .*sched_switch: .*next_pid=1001 ' 1
has nested-vmx 'CPU 0/KVM-1001 .*kvm_nested_vmenter: .*vmcb=0x000000012a3f5000 .*event_inj=0x800000ec tdp_enabled=1 guest_pgd=0x000000010b41e05e isa=1$' 1
has nested-vmx 'kvm_nested_vmexit_inject: +exit_code=12 ' 2
has nested-vmx 'kvm_exit: +exit_reason=20 ' 2
has nested-svm 'kvm_nested_intr_vmexit' 1
has nested-svm 'kvm_nested_vmenter: .*isa=2$' 5
has nested-svm-5.10 'kvm_nested_vmrun: .*npt=1$' 5
has lost-stored 'kvm_exit: +exit_reason=12 ' 0
check_eq "lost-stored dropped count" "CPU:0 [11 EVENTS DROPPED]" "$(grep DROPPED "$T/lost-stored.txt")"
check_eq "lost-unstored dropped marker" "CPU:0 [EVENTS DROPPED]" "$(grep DROPPED "$T/lost-unstored.txt")"
check_eq "lost-unstored lost_events" 0 "$(json_get "$T/lost-unstored.json" lost_events)"
check_eq "mid-trace first event after start" 1 \
	"$([ "$(json_get "$T/mid-trace.json" start_ns)" -ge 4242123576789 ] && echo 1)"
check_eq "mid-trace vcpu 1 first seen by a wake" 1 \
	"$(grep -v 'print:' "$T/mid-trace.raw" | grep -m1 -E 'pid=1002 |-1002 ' | grep -c 'sched_waking')"

# The same episodes in every kernel's layout, and trace.dat v7 with zstd.
for k in 4.19 5.10 6.1 6.18; do
	gen "basic-$k" -k "$k" "$SCN/basic-vmx.scn"
	check_eq "basic-$k same events as 6.18" "$(json_get "$T/basic-vmx.json" events)" \
		"$(json_get "$T/basic-$k.json" events)"
done
gen basic-v7 -V 7 -z zstd "$SCN/basic-vmx.scn"

# Random compositions, and their determinism.
for seed in 1 2 3; do
	gen "random-$seed" --random "$seed" --events 100000
	check_eq "random-$seed events" 100000 "$(json_get "$T/random-$seed.json" events)"
done
gen random-old -k 5.10 --random 4 --events 50000
"$SYNTH" -F "$FMT" -o "$T/again.dat" -t "$T/again.json" --random 1 --events 100000
check_eq "random is deterministic (trace)" same "$(cmp -s "$T/again.dat" "$T/random-1.dat" && echo same)"
check_eq "random is deterministic (truth)" 1 \
	"$(diff <(sed 1,2d "$T/again.json") <(sed 1,2d "$T/random-1.json") > /dev/null && echo 1)"

# Bad scenarios are usage errors.
printf 'cpus 2\nvm pid=10\nvcpu vm=10 tid=11 id=0 cpu=0\nep 11 exit guest=1us\n' > "$T/bad.scn"
check_rc "bad scenario is a usage error" 2 "$SYNTH" -o "$T/bad.dat" "$T/bad.scn"

# Time extends: exact timestamps across gaps longer than 2^27 ns.
has long-idle 'kvm_vcpu_wakeup: +ns=50000[0-9]{4} waited=1 valid=1$' 1
has long-idle 'kvm_vcpu_wakeup: +ns=120000[0-9]{4} waited=1 valid=1$' 1

# A trace-cmd style recording: no markers, vCPU threads created by the VMM.
has spawn-nomarkers 'print:' 0
has spawn-nomarkers 'qemu-system-x86-1000 .*task_newtask: +pid=1001 comm=qemu-system-x86 clone_flags=3d0f00 oom_score_adj=0$' 1
has spawn-nomarkers 'sched_wakeup_new: +comm=CPU 1/KVM pid=1002 prio=120 target_cpu=001$' 1
check_eq "spawn-nomarkers: vCPU 0 joins the VM of its vhost, vCPU 1 is a guessed VM" \
	'1000 qemu-system-x86 [0] / -1 ~1 [1]' \
	"$(python3 -c "import json,sys; print(' / '.join('%d %s %s' % (m['pid'], m['name'], [v['vcpu'] for v in m['vcpus']]) for m in json.load(open(sys.argv[1]))['vms']))" "$T/spawn-nomarkers.json")"

# ---- light recordings, common_flags, the richer random mode ----

# count NAME EVENT...: "EVENT=N ..." for these events of NAME's trace (libtracecmd).
count() {
	local name=$1 a=()
	shift
	for e in "$@"; do a+=(-c "$e"); done
	"$CHECK" "${a[@]}" "$T/$name.dat" | sed -n 2p
}
HEAVY=(kvm_entry kvm_exit kvm_nested_vmexit kvm_pio kvm_mmio kvm_fast_mmio hrtimer_expire_exit)
NOHEAVY="kvm_entry=0 kvm_exit=0 kvm_nested_vmexit=0 kvm_pio=0 kvm_mmio=0 kvm_fast_mmio=0 hrtimer_expire_exit=0"

# --light writes the same simulation without the per-exit events: exactly the
# full trace's records minus those, the same timestamps for the rest.
for n in basic-vmx nested-vmx nested-svm device-irqs; do
	gen "light-$n" --light "$SCN/$n.scn"
	check_eq "light-$n has no per-exit events" "$NOHEAVY" "$(count "light-$n" "${HEAVY[@]}")"
	heavy=$(($(count "$n" "${HEAVY[@]}" | tr ' ' '\n' | cut -d= -f2 | paste -sd+)))
	check_eq "light-$n = $n minus its per-exit events" \
		"$(($(json_get "$T/$n.json" events) - heavy))" "$(json_get "$T/light-$n.json" events)"
	check_eq "light-$n keeps the other records, at the same times" \
		"$(grep -vE ': (kvm_entry|kvm_exit|kvm_nested_vmexit|kvm_pio|kvm_mmio|hrtimer_expire_exit):' "$T/$n.raw")" \
		"$(cat "$T/light-$n.raw")"
	check_eq "light-$n truth: no exits, no guest/hypervisor time" "0 0 0" \
		"$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); v=[x for m in j['vms'] for x in m['vcpus']]; print(sum(len(x['exits']) for x in v), sum(x['states_ns']['guest'] for x in v), sum(x['states_ns']['hypervisor'] for x in v))" "$T/light-$n.json")"
done
check_eq "light-basic-vmx truth: running time, and both halts (tentative) as waits" "True 2" \
	"$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); v=j['vms'][0]['totals']; print(v['states_ns']['running'] > 0, sum(w['count'] for w in v['waits'].values()))" "$T/light-basic-vmx.json")"
check_eq "light-nested-vmx still follows L2 (vmenter, inject)" \
	"$(json_get "$T/nested-vmx.json" vcpus)" "$(json_get "$T/light-nested-vmx.json" vcpus)"
# the 'light 1' directive does the same
check_eq "light-tentative.scn (light 1) has no per-exit events" "$NOHEAVY" \
	"$(count light-tentative "${HEAVY[@]}")"
has light-tentative 'sched_switch: .*prev_pid=1001 prev_prio=120 prev_state=2 ' 1
check_eq "light-tentative truth: vCPU 0 timer+ipi waits, vCPU 1 net" "0:ipi=1,timer=1 1:net=1" \
	"$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(' '.join('%d:%s' % (v['vcpu'], ','.join('%s=%d' % (k, w['count']) for k, w in sorted(v['waits'].items()) if w['count'])) for v in j['vms'][0]['vcpus']))" "$T/light-tentative.json")"

# common_flags (TRACE_FLAG_*: 0x01 irqs off, 0x04 need resched, 0x08 hardirq,
# 0x10 softirq), the set each event carries (libtracecmd) ...
flags() { "$CHECK" -f "$2" "$T/$1.dat" | sed -n 2p; }
check_eq "sched_switch: IRQs off" "sched_switch flags:0x01" "$(flags basic-vmx sched_switch)"
check_eq "kvm_entry: IRQs off" "kvm_entry flags:0x01" "$(flags basic-vmx kvm_entry)"
check_eq "kvm_exit: IRQs off" "kvm_exit flags:0x01" "$(flags basic-vmx kvm_exit)"
check_eq "kvm_vcpu_wakeup: task context" "kvm_vcpu_wakeup flags:0x00" "$(flags basic-vmx kvm_vcpu_wakeup)"
check_eq "kvm_userspace_exit: task context" "kvm_userspace_exit flags:0x00" \
	"$(flags basic-vmx kvm_userspace_exit)"
check_eq "hrtimer_expire_entry: hardirq" "hrtimer_expire_entry flags:0x09" \
	"$(flags basic-vmx hrtimer_expire_entry)"
check_eq "hrtimer_expire_exit: hardirq, need_resched after waking the idle CPU's vCPU" \
	"hrtimer_expire_exit flags:0x0d" "$(flags basic-vmx hrtimer_expire_exit)"
check_eq "irq_handler_entry: hardirq" "irq_handler_entry flags:0x09" "$(flags vfio-irq irq_handler_entry)"
check_eq "print (markers): task context" "print flags:0x00" "$(flags basic-vmx print)"
# ... and as trace-cmd report -l prints them (irqs-off, need-resched, hardirq/softirq)
lat() { trace-cmd report -l "$T/$1.dat" 2> /dev/null | grep -cE "$2"; }
check_eq "report -l: the IPI sender's fastpath waking is IRQs-off task context" 1 \
	"$(lat basic-vmx '^CPU 0/KV-1001 +0d\.\.\.\. +[0-9.]+: sched_waking: +comm=CPU 1/KVM ')"
check_eq "report -l: the timer's waking on vCPU 0's idle CPU is hardirq" 1 \
	"$(lat basic-vmx '^ +<idle>-0 +0d\.h\.\. +[0-9.]+: sched_waking: +comm=CPU 0/KVM ')"
check_eq "report -l: ... and its wakeup sets need_resched on the idle task" 1 \
	"$(lat basic-vmx '^ +<idle>-0 +0dNh\.\. +[0-9.]+: sched_wakeup: +CPU 0/KVM:1001 ')"
check_eq "report -l: a preempting wake from the host interrupt of an EXTERNAL_INTERRUPT exit" 2 \
	"$(lat preempt-host '^CPU 0/KV-1001 +0dNh\.\. +[0-9.]+: sched_wakeup: +kworker/0:1:300 ')"
check_eq "report -l: the vfio MSI in hardirq on the vhost worker" 1 \
	"$(lat vfio-irq '^vhost-10-1010 +2d\.h\.\. +[0-9.]+: sched_waking: +comm=CPU 0/KVM ')"
check_eq "report -l: the vfio MSI from a softirq on the I/O thread" 1 \
	"$(lat vfio-irq '^IO iothr-1011 +3d\.s\.\. +[0-9.]+: sched_waking: +comm=CPU 0/KVM ')"
check_eq "report -l: the vhost worker woken from the NET_RX softirq" 3 \
	"$(lat net-vhost '^ +<idle>-0 +2d\.s\.\. +[0-9.]+: sched_waking: +comm=vhost-1000 ')"
check_eq "report -l: the vhost worker's irqfd signal runs with IRQs off" 3 \
	"$(lat net-vhost '^vhost-10-1010 +2d\.\.\.\. +[0-9.]+: kvm_msi_set_irq: ')"
check_eq "report -l: a block completion in hardirq wakes the I/O thread" 2 \
	"$(lat disk-iothread '^ +<idle>-0 +[0-9]d\.h\.\. +[0-9.]+: block_rq_complete: ')"
has vfio-irq 'irq_handler_entry: +irq=40 name=vfio-msix\[0\]\(0000:01:00.0\)$' 3
has vfio-irq 'CPU 1/KVM-1002 .*kvm_exit: +exit_reason=1 .*intr_info=0x80000025 ' 2

# The random mode's features, as the seed picks them (VMWAIT_SYNTH_DEBUG
# prints the choice): migration to spare CPUs, losses with and without
# stored counts, nested guests of both isas, a --light run.
rgen() {
	VMWAIT_SYNTH_DEBUG=1 gen "$@"
}
rgen rnd-21 --random 21 --events 60000
check_eq "random 21 picks" \
	"synth: random 21: vcpus 3+3, isa 1/1, apicv 1/1, migrate 22% (2 spare CPUs), loss 7, nested 0x3e, timers posted/hv" \
	"$(grep '^synth: random' "$T/rnd-21.gen")"
check_eq "random 21: vCPU threads ran on the spare CPUs 6 and 7" yes \
	"$(grep -qE '^ *CPU [0-9]/KVM-[45]01[0-9] +\[00[67]\]' "$T/rnd-21.txt" && echo yes)"
check_eq "random 21: losses reported with and without counts" "yes yes" \
	"$(grep -qE '\[[0-9]+ EVENTS DROPPED\]' "$T/rnd-21.txt" && echo yes) $(grep -q '\[EVENTS DROPPED\]' "$T/rnd-21.txt" && echo yes)"
check_eq "random 21: nested L2 vCPUs (VMX)" yes \
	"$(grep -q 'kvm_nested_vmenter: .*isa=1$' "$T/rnd-21.raw" && [ "$(grep -o '"nested":\[{' "$T/rnd-21.json" | wc -l)" -ge 1 ] && echo yes)"
rgen rnd-27 --random 27 --events 60000
check_eq "random 27: nested L2 vCPUs (SVM, kvm_nested_intr_vmexit)" yes \
	"$(grep -q 'kvm_nested_vmenter: .*isa=2$' "$T/rnd-27.raw" && grep -q kvm_nested_intr_vmexit "$T/rnd-27.raw" && echo yes)"
rgen rnd-21l --random 21 --events 60000 --light
check_eq "random 21 --light has no per-exit events" "$NOHEAVY" "$(count rnd-21l "${HEAVY[@]}")"
check_eq "random 21 --light: the sleeps of the host page faults (D)" yes \
	"$(grep -qE 'prev_comm=CPU [0-9]/KVM .*prev_state=2 ' "$T/rnd-21l.raw" && echo yes)"
"$SYNTH" -F "$FMT" -o "$T/again.dat" -t "$T/again.json" --random 21 --events 60000 --light
check_eq "random --light is deterministic" same "$(cmp -s "$T/again.dat" "$T/rnd-21l.dat" && echo same)"

# ---- guest timers and posted-interrupt wakeups ----

# The event names of report lines (trace-cmd report's default text).
EVNAME='function name(   i) {
	for (i = 2; i <= NF; i++)
		if ($(i - 1) ~ /^[0-9]+\.[0-9]+:$/)
			return substr($i, 1, length($i) - 1)
}'
# counted: sort the lines, "COUNT LINE" joined by ';'
counted() { sort | uniq -c | sed 's/^ *//' | paste -sd';'; }
# after NAME WHO REGEX N: for each record of WHO (a regex on the report line
# before the timestamp, e.g. '-1001 +\[' or '<idle>-0 +\[003\]') matching
# REGEX, its event and the events of WHO's next N records, counted (a
# sequence cut by the end of the trace is shown as far as it goes).
after() {
	awk -v who="$2" -v re="$3" -v n="$4" "$EVNAME"'
		{
			if (!match($0, who)) next
			if (left > 0) {
				seq = seq " " name()
				if (--left == 0) print seq
			} else if ($0 ~ re) {
				seq = name(); left = n
			}
		}
		END { if (left > 0) print seq }' "$T/$1.txt" | counted
}
# upto NAME WHO START END: the events of WHO from each record matching START
# to the next one matching END, counted.
upto() {
	awk -v who="$2" -v re="$3" -v end="$4" "$EVNAME"'
		!match($0, who) { next }
		on { seq = seq " " name(); if ($0 ~ end) { print seq; on = 0 }; next }
		$0 ~ re { seq = name(); on = 1 }' "$T/$1.txt" | counted
}
# before NAME WHO REGEX: the event of WHO's record before each record of WHO
# matching REGEX, and that one's, counted.
before() {
	awk -v who="$2" -v re="$3" "$EVNAME"'
		!match($0, who) { next }
		{ ev = name(); if ($0 ~ re) print prev " " ev; prev = ev }' "$T/$1.txt" | counted
}
# waits NAME VMPID: "vcpu:reason=count,..." of each vCPU of that VM in the truth
waits() {
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(' '.join('%d:%s' % (v['vcpu'], ','.join('%s=%d' % (k, w['count']) for k, w in sorted(v['waits'].items()) if w['count'])) for m in j['vms'] if m['pid'] == int(sys.argv[2]) for v in m['vcpus']))" "$T/$1.json" "$2"
}

# The VMX preemption timer (hv-timer.scn): TSC-deadline writes arm it in the
# IRQs-off fastpath; its expiry is accepted (and posted, with APICv) at the
# PREEMPTION_TIMER exit, injected without; kvm_wait_lapic_expire follows the
# delivering entry; halts move the timer to its hrtimer and back.
check_eq "hv-timer: TSC-deadline write" "1 kvm_exit kvm_hv_timer_state kvm_msr kvm_entry" \
	"$(after hv-timer '-1001 +\[' 'reason MSR_WRITE' 3)"
check_eq "hv-timer: PREEMPTION_TIMER with APICv" \
	"1 kvm_exit kvm_apic_accept_irq kvm_apicv_accept_irq kvm_entry kvm_wait_lapic_expire" \
	"$(after hv-timer '-2001 +\[' 'reason PREEMPTION_TIMER' 4)"
check_eq "hv-timer: PREEMPTION_TIMER without APICv" \
	"1 kvm_exit kvm_apic_accept_irq kvm_inj_virq kvm_entry kvm_wait_lapic_expire" \
	"$(after hv-timer '-1001 +\[' 'reason PREEMPTION_TIMER' 4)"
check_eq "hv-timer: kvm_hv_timer_state 0 after every HLT exit" "3 kvm_exit kvm_hv_timer_state" \
	"$(after hv-timer '-1001 +\[' 'reason HLT' 1)"
check_eq "hv-timer: back to the preemption timer unless the timer fired" \
	"1 kvm_vcpu_wakeup kvm_apic_accept_irq kvm_inj_virq kvm_entry kvm_wait_lapic_expire;1 kvm_vcpu_wakeup kvm_hv_timer_state kvm_inj_virq kvm_entry kvm_exit" \
	"$(after hv-timer '-1001 +\[' 'kvm_vcpu_wakeup: +wait' 4)"
has hv-timer 'kvm_hv_timer_state: +vcpu_id=0 hv_timer_in_use=0$' 4
has hv-timer 'kvm_hv_timer_state: +vcpu_id=0 hv_timer_in_use=1$' 4
has hv-timer 'kvm_wait_lapic_expire: +vcpu_id=0 delta=-?[0-9]+$' 5
has hv-timer 'CPU 0/KVM-1001 .*kvm_entry: .*intr_info=0x800000ec ' 3
check_eq "kvm_hv_timer_state: vcpu_block (task) and WRMSR fastpath (IRQs off)" \
	"kvm_hv_timer_state flags:0x00,0x01" "$(flags hv-timer kvm_hv_timer_state)"
check_eq "kvm_wait_lapic_expire after kvm_entry: IRQs off" "kvm_wait_lapic_expire flags:0x01" \
	"$(flags hv-timer kvm_wait_lapic_expire)"
check_eq "report -l: the PREEMPTION_TIMER fastpath accepts with IRQs off" 2 \
	"$(lat hv-timer '^CPU 0/KV-2001 +2d\.\.\.\. +[0-9.]+: kvm_apicv?_accept_irq: +apicid 0 vec 236 ')"
check_eq "hv-timer truth: waits of the halts only" "0:ipi=1,timer=2 1:" "$(waits hv-timer 1000)"
check_eq "hv-timer truth: vm 2000" "0:timer=1" "$(waits hv-timer 2000)"

# The software TSC-deadline timer (tscdl-svm.scn, SVM with AVIC).
check_eq "tscdl-svm: TSC-deadline writes restart the hrtimer" \
	"3 kvm_exit kvm_hv_timer_state kvm_msr kvm_entry" \
	"$(after tscdl-svm '-1001 +\[' 'reason EXIT_MSR' 3)"
has tscdl-svm 'kvm_hv_timer_state: +vcpu_id=[01] hv_timer_in_use=0$' 4
has tscdl-svm 'kvm_hv_timer_state: .*hv_timer_in_use=1$' 0
check_eq "tscdl-svm: kvm_wait_lapic_expire after timer wakes only" \
	"2 kvm_vcpu_wakeup kvm_apic_accept_irq kvm_apicv_accept_irq kvm_entry kvm_wait_lapic_expire;1 kvm_vcpu_wakeup kvm_entry kvm_exit" \
	"$(after tscdl-svm '-1001 +\[' 'kvm_vcpu_wakeup' 4)"

# Posted timer interrupts (posted-timer.scn): apic_timer_fn on the
# housekeeping CPU 3 over its idle task posts to the running vCPU 0.
check_eq "posted-timer: hrtimer, wait, accept, apicv accept on CPU 3" \
	"1 hrtimer_expire_entry hrtimer_expire_exit;4 hrtimer_expire_entry kvm_wait_lapic_expire kvm_apic_accept_irq kvm_apicv_accept_irq hrtimer_expire_exit;1 hrtimer_expire_entry sched_waking sched_wakeup hrtimer_expire_exit" \
	"$(upto posted-timer '<idle>-0 +\[003\]' hrtimer_expire_entry hrtimer_expire_exit)"
check_eq "report -l: posted accepts in hardirq over the idle task" 4 \
	"$(lat posted-timer '^ +<idle>-0 +3d\.h\.\. +[0-9.]+: kvm_apicv_accept_irq: +apicid 0 vec 236 ')"
check_eq "posted-timer: vCPU 0 halts once" 1 "$(grep -c 'CPU 0/KVM-1001 .*kvm_exit: .*reason HLT' "$T/posted-timer.txt")"
check_eq "posted-timer: the halted vCPU's timer wakes it from CPU 3" 1 \
	"$(grep -cE '<idle>-0 +\[003\] .*sched_waking: +comm=CPU 0/KVM pid=1001 .*target_cpu=000' "$T/posted-timer.txt")"
check_eq "posted-timer truth: posted timers are no waits; the remote polled timer wake is a timer (0xec)" \
	"0:timer=1 1:ipi=1,timer=1" "$(waits posted-timer 1000)"

# Posted-interrupt wakeups (ipiv-wake.scn): the waking in hardirq on the CPU
# the vCPU blocked on, nothing else (no accept, no injection).
check_eq "ipiv-wake: after each switch-out of vCPU 0" \
	"1 sched_switch kvm_vcpu_wakeup kvm_apic_accept_irq;2 sched_switch kvm_vcpu_wakeup kvm_entry" \
	"$(after ipiv-wake '-1001 +\[' 'S ==>' 2)"
check_eq "ipiv-wake: a polled posted wakeup has no event before kvm_vcpu_wakeup" \
	"1 kvm_exit kvm_halt_poll_ns kvm_vcpu_wakeup kvm_entry" \
	"$(after ipiv-wake '-1001 +\[' 'reason HLT' 3 | tr ';' '\n' | grep -v hrtimer | grep -v sched_switch)"
check_eq "ipiv-wake: the wakers' records before each waking of vCPU 0 on CPU 0" \
	"1 hrtimer_expire_entry sched_waking;2 sched_switch sched_waking" \
	"$(before ipiv-wake '\[000\]' 'sched_waking: +comm=CPU 0/KVM')"
check_eq "report -l: a posted wakeup over the busy host task is hardirq" 1 \
	"$(lat ipiv-wake '^kworker/-300 +0d\.h\.\. +[0-9.]+: sched_waking: +comm=CPU 0/KVM ')"
has ipiv-wake 'kvm_apic_accept_irq: +apicid=0 ' 3
has ipiv-wake 'kvm_inj_virq' 0
has ipiv-wake 'sched_waking: +comm=CPU 1/KVM pid=1002 prio=120 target_cpu=002$' 1
check_eq "ipiv-wake truth: posted wakeups are unknown (no vector after them)" \
	"0:timer=3,unknown=3 1:unknown=1" "$(waits ipiv-wake 1000)"
gen light-ipiv-wake --light "$SCN/ipiv-wake.scn"
check_eq "ipiv-wake --light truth: the timer accept after a posted wakeup: device 0x30, then timer (rule 6)" \
	"0:device=1,timer=2 1:unknown=1" "$(waits light-ipiv-wake 1000)"
check_eq "ipiv-wake --light truth: the device is vector 0x30" '[{"vector":48,"gsi":-1,"count":1,"total_ns":198500}]' \
	"$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(json.dumps(j['vms'][0]['vcpus'][0]['devices'], separators=(',', ':')))" "$T/light-ipiv-wake.json")"

# The random mode's guest timers, posted wakeups and nested vCPUs (seed 21:
# VM 0 posted timers with APICv, VM 1 the preemption timer with APICv).
check_eq "random 21: PREEMPTION_TIMER exits of VM 1, in L1 and in L2" \
	"kvm_exit kvm_apic_accept_irq kvm_apicv_accept_irq kvm_entry kvm_wait_lapic_expire;kvm_exit kvm_nested_vmexit" \
	"$(after rnd-21 'CPU [0-9]/KVM-501[0-9] +\[' 'reason PREEMPTION_TIMER' 4 | tr ';' '\n' | sed 's/^[0-9]* //; s/ kvm_nested_vmexit .*/ kvm_nested_vmexit/' | sort -u | paste -sd';')"
check_eq "random 21: VM 0's timers posted on the noise CPU 10 over its idle task" yes \
	"$([ "$(lat rnd-21 '^ +<idle>-0 +10d\.h\.\. +[0-9.]+: kvm_apicv_accept_irq: ')" -gt 0 ] && echo yes)"
check_eq "random 21: posted wakeups (unknown) and their wait after a light window (timer)" "yes yes" \
	"$(grep -qE ' unknown vec .*\(from the vector after the wake\)' "$T/rnd-21.gen" && echo yes) $(grep -qE ' timer vec .*\(from the vector after the wake\)' "$T/rnd-21l.gen" && echo yes)"
check_eq "random 21: L2 vCPUs preempted (credited), IPI waits, dropped by a loss" "True True True" \
	"$(python3 -c "
import json,sys
j=json.load(open(sys.argv[1])); l2=[v for m in j['vms'] for n in m['nested'] for v in n['vcpus']]
print(any(v['preempted_by'] for v in l2), any(v['waits']['ipi']['count'] for v in l2),
      any(v['first_ns'] + v['span_ns'] < j['trace']['end_ns'] for v in l2))" "$T/rnd-21.json")"
