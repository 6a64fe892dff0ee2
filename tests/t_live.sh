#!/usr/bin/env bash
# Live end to end: vmwait record on the real KVM workload (tests/vmm), then
# vmwait analyze, checked against the workload's own ground truth.
#
# Exact: the VM and its vCPU threads, the number of waits per reason and per
# vCPU, the IPI senders. Times, with a stated tolerance: a wait ends at the
# wake, KVM's own halt time (kvm_vcpu_wakeup) runs on until the vCPU thread
# runs again, so per reason 0 <= KVM halt time - analyzer idle <= 2 ms per
# wait. The same checks hold on a host with hardware KVM, where kvm_entry and
# kvm_exit are present and the analysis uses them.
. "$(dirname "$0")/lib.sh"

VMM=$TOP/build/tests/vmm/vmwait-vmm

if [ "$(id -u)" != 0 ]; then
	skip "live" "needs root (tracefs)"; exit 0
fi
if ! td=$(tracefs_dir); then
	skip "live" "tracefs is not available"; exit 0
fi
. "$TOP/tests/caps.sh"
if ! caps_probe kvm; then
	skip "live" "$CAP_WHY"; exit 0
fi
if ! "$VMM" -c 1 -p spin:1:1ms > /dev/null 2> "$T/err"; then
	skip "live" "the workload cannot run a VM here: $(head -n 1 "$T/err" 2>/dev/null)"; exit 0
fi

# run NAME RECORD-ARGS... -- VMM-ARGS...: record the workload, analyze it, compare.
run() {
	local name=$1 rec=() vmm=()
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do rec+=("$1"); shift; done
	shift
	vmm=("$@")
	if ! "$VMWAIT" record -q -o "$T/$name.dat" "${rec[@]}" -- \
		"$VMM" "${vmm[@]}" -o "$T/$name.truth.json" > "$T/rec.out" 2> "$T/rec.err"; then
		nok "$name: record" "$(head -n 2 "$T/rec.err" | tr '\n' ' ')"
		return
	fi
	if ! "$VMWAIT" analyze --json "$T/$name.dat" > "$T/$name.json" 2> "$T/an.err"; then
		nok "$name: analyze" "$(head -n 1 "$T/an.err")"
		return
	fi
	python3 - "$T/$name.truth.json" "$T/$name.json" "$name" <<-'EOF'
	import json, sys
	truth = json.load(open(sys.argv[1]))
	res = json.load(open(sys.argv[2]))
	name = sys.argv[3]

	def check(what, want, got):
	    if want == got:
	        print("ok %s: %s" % (name, what))
	    else:
	        print("not ok %s: %s: expected %r, got %r" % (name, what, want, got))

	check("no lost events", 0, res["trace"]["lost_events"])
	vms = [vm for vm in res["vms"] if vm["pid"] == truth["pid"]]
	check("the VMM is one VM", 1, len(vms))
	if not vms:
	    sys.exit(0)
	vm = vms[0]
	check("VM name", truth["comm"], vm["name"])
	check("vCPU ids and threads",
	      sorted((v["vcpu"], v["tid"], v["comm"]) for v in truth["vcpus"]),
	      sorted((v["vcpu"], v["tid"], v["comm"]) for v in vm["vcpus"]))
	check("no other vCPU in the VM", len(truth["vcpus"]), len(vm["vcpus"]))

	# expected waits per (vcpu, reason), and ipi senders
	want, halt_ns, senders = {}, {}, {}
	for ph in truth["phases"]:
	    for reason, w in ph["waits"].items():
	        for v in w["vcpus"]:
	            key = (v["vcpu"], reason)
	            want[key] = want.get(key, 0) + v["count"]
	            halt_ns[key] = halt_ns.get(key, 0) + v["halt_ns"]
	            for f in v.get("from", []):
	                sk = (v["vcpu"], f["vcpu"])
	                senders[sk] = senders.get(sk, 0) + f["count"]
	got, idle = {}, {}
	got_senders = {}
	for v in vm["vcpus"]:
	    for reason, w in v["waits"].items():
	        if w["count"]:
	            got[(v["vcpu"], reason)] = w["count"]
	            idle[(v["vcpu"], reason)] = w["total_ns"]
	    for f in v["ipi_from"]:
	        got_senders[(v["vcpu"], f["vcpu"])] = f["count"]
	check("waits per vCPU and reason", sorted(want.items()), sorted(got.items()))
	check("ipi senders", sorted(senders.items()), sorted(got_senders.items()))
	for key in sorted(want):
	    gap = halt_ns[key] - idle.get(key, 0)
	    ok = 0 <= gap <= 2000000 * want[key]
	    print("%s %s: idle of vCPU %d %s within tolerance (KVM %d ns, analyzer %d ns)%s" % (
	        "ok" if ok else "not ok", name, key[0], key[1], halt_ns[key], idle.get(key, 0),
	        "" if ok else ": off by %d ns" % gap))
	# the wait counts equal the waits that KVM itself counted
	check("waits = KVM blocking halts",
	      sum(truth["totals"]["waits"][r]["count"] for r in truth["totals"]["waits"]),
	      sum(w["count"] for w in vm["totals"]["waits"].values()))
	EOF
}

phases="timer:4:2ms,pit:4:2ms,ipi:4,disk:4,net:4,spin:1:2ms,pio:20"
# the TSC-deadline timer where this host's KVM has one
timers=8 tscdl=""
if "$VMM" -c 1 -p tscdl:1:1ms > /dev/null 2> "$T/err"; then
	timers=12 tscdl=",tscdl:4:2ms"
else
	skip "live tscdl" "$(head -n 1 "$T/err")"
fi
run "two vCPUs" -- -c 2 -p "$phases$tscdl"
run "three vCPUs rotating" -- -c 3 --rotate -p "$phases"
run "light recording" --light -- -c 2 -p "timer:3:1ms,pit:3:1ms,ipi:3,disk:3,net:3"
run "v6 file" --file-version 6 -- -c 2 -p "timer:2:1ms,ipi:2,net:2"

# The PIT, LAPIC and TSC-deadline timer waits are all timers.
python3 - "$T/two vCPUs.json" "$timers" <<-'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
vm = [vm for vm in j["vms"] if vm["name"] == "vmwait-vmm"][0]
t = vm["totals"]["waits"]["timer"]["count"]
print("ok pit, lapic and tsc-deadline timers are all timer" if t == want else
      "not ok pit, lapic and tsc-deadline timers are all timer: %d timer waits, expected %d"
      % (t, want))
EOF
