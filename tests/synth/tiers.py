#!/usr/bin/env python3
"""What each evidence tier claims, checked against the full trace's truth
and the generator's own account of its kvm_entry/kvm_exit records (README,
Evidence). Used by tests/t_tiers.sh:

    tiers.py LABEL DIR

DIR holds <profile>.json (the truth of the same simulation recorded as each
profile) and facts.json (vmwait-synth --facts of the full recording). Prints
one "ok NAME" / "not ok NAME: why" line per check, with the exact values.
"""
import json
import sys

TIER = {"full": "full", "exits": "exits", "nosched": "exits", "noirq": "full",
        "sched": "sched", "light": "light"}
ENTRY_EXIT = ["full", "exits", "nosched", "noirq", "sched"]
NO_SCHED = ["exits", "nosched"]

label, d = sys.argv[1], sys.argv[2]
res = {p: json.load(open("%s/%s.json" % (d, p))) for p in TIER}
facts = {t["tid"]: t for t in json.load(open(d + "/facts.json"))["threads"]}


def say(ok, name, why=""):
    print(("ok %s: %s" % (label, name)) if ok else ("not ok %s: %s: %s" % (label, name, why)))


def vcpus(r):
    """The L1 vCPU rows of a result, by tid."""
    return {v["tid"]: v for vm in r["vms"] for v in vm["vcpus"]}


def open_tail(since, end):
    return end - since if since else 0


def diff(want, got):
    bad = ["%s: %s != %s" % (k, want.get(k), got.get(k))
           for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
    return "; ".join(bad[:4])


for p, tier in TIER.items():
    got = res[p]["trace"]["evidence"]["tier"]
    say(got == tier, "%s recording is tier %s" % (p, tier), "got %s" % got)

for p in ENTRY_EXIT:
    end = res[p]["trace"]["end_ns"]
    rows = vcpus(res[p])
    # guest (and guest_l2: L2 time is guest time where nested events are not
    # recorded) = the sum of entry -> next exit, the last one to this trace's end
    want = {t: f["guest_ns"] + open_tail(f["guest_since"], end) for t, f in facts.items()}
    got = {t: v["states_ns"]["guest"] + v["states_ns"]["guest_l2"] for t, v in rows.items()}
    say(want == got, "%s: guest = entry->exit sums, %d ns over %d vCPUs"
        % (p, sum(want.values()), len(want)), diff(want, got))
    want = {t: sorted((e["isa"], e["code"], e["count"]) for e in f["exits"])
            for t, f in facts.items()}
    got = {t: sorted((e["isa"], e["code"], e["count"]) for e in v["exits"])
           for t, v in rows.items()}
    say(want == got, "%s: exits per reason = kvm_exit records, %d exits"
        % (p, sum(c for x in want.values() for _, _, c in x)), diff(want, got))

# exits tier: idle = HLT exit -> next entry (the last to the end), one
# unknown wait per HLT exit re-entered, and nothing else known
r = res["exits"]
end = r["trace"]["end_ns"]
rows = vcpus(r)
want = {t: f["hlt_ns"] + open_tail(f["hlt_since"], end) for t, f in facts.items()}
got = {t: v["states_ns"]["idle"] for t, v in rows.items()}
say(want == got, "exits: idle = HLT exit->next entry sums, %d ns" % sum(want.values()),
    diff(want, got))
want = {t: f["hlt_closed"] for t, f in facts.items()}
got = {t: v["waits"]["unknown"]["count"] for t, v in rows.items()}
say(want == got, "exits: one unknown wait per HLT exit re-entered, %d" % sum(want.values()),
    diff(want, got))
known = {t: sum(w["count"] for k, w in v["waits"].items() if k != "unknown")
         for t, v in rows.items()}
say(not any(known.values()), "exits: no wait reason but unknown", diff({}, known))
other = {t: sum(x for k, x in v["states_ns"].items() if k not in ("guest", "idle", "hypervisor"))
         for t, v in rows.items()}
say(not any(other.values()), "exits: guest, idle and hypervisor only", diff({}, other))

# without sched_switch, no preempted time, no wakeup latency, no preemptor
for p in NO_SCHED:
    got = {t: (v["states_ns"]["preempted"], v["wakeup_latency_ns"], len(v["preempted_by"]))
           for t, v in vcpus(res[p]).items()}
    say(all(x == (0, 0, 0) for x in got.values()),
        "%s: no preempted time without sched_switch" % p,
        diff({}, {t: x for t, x in got.items() if x != (0, 0, 0)}))

# without hrtimers nor vectors (noirq), no timer and no device wait
got = {t: (v["waits"]["timer"]["count"], v["waits"]["device"]["count"])
       for t, v in vcpus(res["noirq"]).items()}
say(all(x == (0, 0) for x in got.values()),
    "noirq: no timer or device wait without hrtimers and vectors",
    diff({}, {t: x for t, x in got.items() if x != (0, 0)}))


def waits(p):
    return {t: sum(w["count"] for w in v["waits"].values()) for t, v in vcpus(res[p]).items()}


# full: a wait per HLT exit that blocked and was woken, or that ended at
# kvm_vcpu_wakeup; the HLT fast path and HLTs L1 takes are none
want = {t: f["woken"] + f["polled"] for t, f in facts.items()}
say(want == waits("full"), "full: a wait per HLT exit woken or ended by kvm_vcpu_wakeup, %d"
    % sum(want.values()), diff(want, waits("full")))
# sched (no kvm_vcpu_wakeup): a halt that does not block stands to the next
# entry, the fast path included; blocked ones end at their waking
want = {t: f["woken"] + f["reentered"] for t, f in facts.items()}
say(want == waits("sched"), "sched: a wait per HLT exit woken or re-entered without "
    "blocking, %d" % sum(want.values()), diff(want, waits("sched")))
# light: no kvm_entry/kvm_exit, so no guest and no hypervisor time
got = {t: v["states_ns"]["guest"] + v["states_ns"]["guest_l2"] + v["states_ns"]["hypervisor"]
       for t, v in vcpus(res["light"]).items()}
say(not any(got.values()), "light: no guest or hypervisor time without kvm_entry/kvm_exit",
    diff({}, {t: x for t, x in got.items() if x}))
