#!/usr/bin/env python3
"""vmwait's analysis of a real host trace against its kvm_entry/kvm_exit facts
(tests/reader/kvm-facts: libtracecmd, not vmwait's reader). Issue 12's checks:

    check.py LABEL FACTS.json RESULT.json REPORT.txt

For every thread with kvm_entry/kvm_exit records: it is a vCPU row; its exits
per reason equal its kvm_exit records; guest = the sum of entry -> next exit
(the last one open to the trace's end) within 0.5%; idle = the sum of HLT exit
-> next entry within 1%; its gaps = the records' two-in-a-row. No VM holds two
vCPU threads with the same vCPU id at once; no thread is in two VMs; the
report names the events that would have told more. One "ok"/"not ok" line
per check, with the exact values.
"""
import json
import sys

label, facts_path, res_path, rep_path = sys.argv[1:5]
facts = json.load(open(facts_path))
res = json.load(open(res_path))
report = open(rep_path).read()
end = res["trace"]["end_ns"]
ft = {t["tid"]: t for t in facts["threads"]}


def say(ok, name, why=""):
    print("ok %s: %s" % (label, name) if ok else "not ok %s: %s: %s" % (label, name, why))


def tail(since):
    return end - since if since else 0


rows = {}
dup = []
for vm in res["vms"]:
    for v in vm["vcpus"]:
        if v["tid"] in rows:
            dup.append(v["tid"])
        rows[v["tid"]] = (vm, v)
say(set(rows) == set(ft), "the %d threads with kvm_entry/kvm_exit are the vCPU rows" % len(ft),
    "facts %s, rows %s" % (sorted(ft), sorted(rows)))
say(not dup, "no thread is in two VMs", "in two: %s" % dup)


def within(want, got, share):
    return abs(got - want) <= share * want if want else got == 0


for tid, f in sorted(ft.items()):
    if tid not in rows:
        continue
    vm, v = rows[tid]
    name = "vCPU thread %d" % tid
    want = sorted((e["isa"], e["code"], e["count"]) for e in f["exits"])
    got = sorted((e["isa"], e["code"], e["count"]) for e in v["exits"])
    say(want == got, "%s: exits per reason = its %d kvm_exit records"
        % (name, sum(c for _, _, c in want)), "want %s, got %s" % (want, got))
    want = f["guest_ns"] + tail(f["guest_since"])
    got = v["states_ns"]["guest"] + v["states_ns"]["guest_l2"]
    say(within(want, got, 0.005), "%s: guest = entry->exit sums, %d ns (got %d)"
        % (name, want, got), "off by %d ns" % (got - want))
    want = f["hlt_ns"] + tail(f["hlt_since"])
    got = v["states_ns"]["idle"]
    if not facts["vcpu_wakeups"]:
        say(within(want, got, 0.01), "%s: idle = HLT exit->entry sums, %d ns (got %d)"
            % (name, want, got), "off by %d ns" % (got - want))
        say(v["gaps"] == f["gaps"], "%s: %d gaps (an entry or exit missing)"
            % (name, f["gaps"]), "got %d" % v["gaps"])
    else:
        # kvm_vcpu_wakeup recorded: a halt ends at it, and one that lost it is
        # unknown; never more idle than HLT exit -> wakeup or entry, never
        # fewer gaps than entries or exits missing
        say(got <= want, "%s: idle %d ns <= HLT exit->wakeup/entry sums %d ns"
            % (name, got, want), "%d ns more" % (got - want))
        say(v["gaps"] >= f["gaps"], "%s: at least the %d gaps of entries or exits missing"
            % (name, f["gaps"]), "got %d" % v["gaps"])

for vm in res["vms"]:
    spans = {}
    for v in vm["vcpus"]:
        spans.setdefault(v["vcpu"], []).append((v["first_ns"], v["first_ns"] + v["span_ns"]))
    both = [k for k, s in spans.items()
            if any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(s) for b in s[i + 1:])]
    say(not both, "VM %s: no two vCPU threads with the same id at once" % vm["name"],
        "vCPU ids %s" % both)
say("would tell more: " in report and "sched_switch" in report.split("would tell more: ")[1],
    "the report names the events that would tell more")
