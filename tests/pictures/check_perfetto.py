#!/usr/bin/env python3
"""tests/t_pictures.sh: checks a `vmwait analyze --perfetto` file against the
Trace Event Format and against `vmwait analyze --json` of the same trace.

usage: check_perfetto.py TRACE.json ANALYSIS.json
Prints "ok" and a summary, or the first problem found (and exits 1).

Checked: the top-level object; every event's phase and fields; "X" slices
with a duration (and B/E, if any, balanced per thread); slices of one thread
never overlapping; one thread track (thread_name) per vCPU and L2 vCPU of the
analysis; every flow id with one "s" and one "f" inside a slice of their
threads; counters never negative nor above the VM's vCPUs; per vCPU, the time
of each state within 1 us of states_ns and, for L1 vCPUs, the idle slices per
wake reason as many as the waits.
"""
import collections
import decimal
import json
import sys

PHASES = set("XBEiIMCsf")
STATES = ["guest", "guest_l2", "hypervisor", "vmm", "preempted", "idle", "unknown", "running"]


def ns(v):
    """Exact nanoseconds of a microsecond value written with three decimals."""
    return int(decimal.Decimal(str(v)) * 1000)


def fail(msg):
    print(msg)
    sys.exit(1)


def label(v, l2):
    vid = str(v["vcpu"]) if v["vcpu"] >= 0 else "?"
    if l2:
        return "L2 vCPU %s (%s)" % (vid, v.get("vmcs") or "?")
    return "vCPU %s (%s-%d)" % (vid, (v["comm"] or "?")[:16], v["tid"])


def lanes(ana):
    """(vm index, label, vcpu dict, is L2) of every lane, as the exporter orders them."""
    out = []
    for i, vm in enumerate(ana["vms"]):
        for v in vm["vcpus"]:
            out.append((i, label(v, False), v, False))
            for n in vm.get("nested", []):
                for w in n["vcpus"]:
                    if w["tid"] == v["tid"]:
                        out.append((i, label(w, True), w, True))
    return out


def main():
    doc = json.load(open(sys.argv[1]), parse_float=decimal.Decimal)
    ana = json.load(open(sys.argv[2]))
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("no traceEvents array")
    evs = doc["traceEvents"]
    names, procs = {}, {}
    slices = collections.defaultdict(list)
    open_be = collections.Counter()
    flows = collections.defaultdict(list)
    counters = collections.defaultdict(list)
    for e in evs:
        ph = e.get("ph")
        if ph not in PHASES:
            fail("unknown phase %r" % ph)
        if not isinstance(e.get("pid"), int) or not isinstance(e.get("tid"), int):
            fail("event without integer pid/tid: %r" % e)
        key = (e["pid"], e["tid"])
        if ph != "M" and not isinstance(e.get("ts"), (int, decimal.Decimal)):
            fail("event without ts: %r" % e)
        if ph == "M":
            if e["name"] == "thread_name":
                names[key] = e["args"]["name"]
            elif e["name"] == "process_name":
                procs[e["pid"]] = e["args"]["name"]
        elif ph == "X":
            if not isinstance(e.get("dur"), (int, decimal.Decimal)) or e["dur"] < 0:
                fail("X without a duration: %r" % e)
            slices[key].append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]), e["name"],
                                e.get("args", {})))
        elif ph in "BE":
            open_be[key] += 1 if ph == "B" else -1
            if open_be[key] < 0:
                fail("E without B on %r" % (key,))
        elif ph in "sf":
            if ph == "f" and e.get("bp") != "e":
                fail("flow end not bound to its enclosing slice: %r" % e)
            flows[(e["cat"], e["name"], e["id"])].append((ph, key, ns(e["ts"])))
        elif ph == "C":
            counters[e["pid"]].append(list(e["args"].values())[0])
    if any(open_be.values()):
        fail("unbalanced B/E")
    for key, sl in slices.items():
        if key not in names:
            fail("slices on %r, a thread without a name" % (key,))
        sl.sort()
        for a, b in zip(sl, sl[1:]):
            if b[0] < a[1]:
                fail("overlapping slices on %s at %d" % (names[key], b[0]))
    for fid, fl in flows.items():
        if sorted(p for p, _, _ in fl) != ["f", "s"]:
            fail("flow %r is not one s and one f: %r" % (fid, fl))
        for _, key, t in fl:
            if not any(s <= t < e for s, e, _, _ in slices.get(key, [])):
                fail("flow %r at %d outside any slice of %r" % (fid, t, key))
    want = lanes(ana)
    byname = {n: k for k, n in names.items()}
    if len(names) != len(want) or len(byname) != len(names):
        fail("%d thread tracks for %d vCPUs" % (len(names), len(want)))
    per_vm = collections.Counter()
    pid_of_vm = {}
    for vmi, name, v, l2 in want:
        if name not in byname:
            fail("no thread track %r" % name)
        key = byname[name]
        per_vm[key[0]] += not l2
        if pid_of_vm.setdefault(vmi, key[0]) != key[0]:
            fail("the vCPUs of VM %d are in two processes" % vmi)
        tot = collections.Counter()
        reasons = collections.Counter()
        for s, e, st, args in slices.get(key, []):
            tot[st] += e - s
            if st == "idle":
                reasons[args.get("reason")] += 1
        for st in STATES:
            if abs(tot[st] - v["states_ns"][st]) > 1000:
                fail("%s: %s %d ns in slices, %d ns in the analysis" %
                     (name, st, tot[st], v["states_ns"][st]))
        if not l2:
            for r, w in v["waits"].items():
                if reasons[r] != w["count"]:
                    fail("%s: %d idle slices woken by %s, %d waits" %
                         (name, reasons[r], r, w["count"]))
    for pid, vals in counters.items():
        if min(vals) < 0 or max(vals) > per_vm[pid]:
            fail("runnable counter of pid %d outside 0..%d" % (pid, per_vm[pid]))
    if len(counters) != len(pid_of_vm):
        fail("%d runnable counters for %d VMs" % (len(counters), len(pid_of_vm)))
    print("ok %d tracks, %d slices, %d flows" %
          (len(names), sum(len(s) for s in slices.values()), len(flows)))


if __name__ == "__main__":
    main()
