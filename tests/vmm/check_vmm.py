#!/usr/bin/env python3
# check_vmm.py: checks vmwait-vmm's JSON (and the trace of its run) against what was asked.
"""Usage: check_vmm.py PREFIX JSON VCPUS ROTATE PHASES [TRACE [CLOCK]]

PHASES is the list given to vmwait-vmm, fully spelled: NAME:REPEAT:DURATION_NS,...
CLOCK is the trace clock of TRACE; with "mono" its timestamps are compared with
the expiry of the LAPIC timer's hrtimer (CLOCK_MONOTONIC).
Prints one line per check: "ok NAME", "not ok NAME: why" or "skip NAME: why".
Every trace check counts events of this VMM's own threads only (tids from the
JSON), so other VMs running at the same time do not disturb it.
"""
import json
import re
import sys

WAIT_REASON = {"timer": "timer", "pit": "timer", "ipi": "ipi", "disk": "disk", "net": "net",
               "tscdl": "timer"}
VEC = {"timer": 236, "pit": 48, "ipi": 253, "disk": 65, "net": 81, "tscdl": 236}
# How the trace shows who woke the vCPU: the LAPIC timer's hrtimer for both LAPIC modes.
WAKER = {"tscdl": "timer"}
TSCDL_LVTT = 0x400ec            # LVT timer: mode 0b10 (TSC-deadline), vector 0xec
TSCDL_SLACK_NS = 10000          # KVM's timer advance (at most 5 us), clock skew, rounding

out = []


def ok(name):
    out.append("ok %s" % name)


def nok(name, why):
    out.append("not ok %s: %s" % (name, why))


def skip(name, why):
    out.append("skip %s: %s" % (name, why))


def eq(name, want, got):
    if want == got:
        ok(name)
    else:
        nok(name, "expected %r, got %r" % (want, got))


def expected(nvcpus, rotate, phases):
    """Per phase: the vCPU of each wait (target, sender) and pio writes per vCPU."""
    exp = []
    for name, rep, dur in phases:
        waits = []
        pio = [0] * nvcpus
        for k in range(rep):
            v = k % nvcpus if rotate else 0
            if name == "ipi":
                t = (k + 1) % nvcpus if rotate else 1
                waits.append((t, v))
            elif name in WAIT_REASON:
                waits.append((v, None))
            elif name == "pio":
                pio[v] += 1
        exp.append({"name": name, "repeat": rep, "dur": dur, "waits": waits, "pio": pio})
    return exp


def check_json(p, d, nvcpus, rotate, exp):
    pid = d.get("pid")
    eq(p + "schema", "vmwait-vmm/1", d.get("schema"))
    vc = d.get("vcpus", [])
    eq(p + "vcpus", nvcpus, len(vc))
    tids = set()
    for i, v in enumerate(vc):
        eq(p + "vcpu%d_names" % i, ("CPU %d/KVM" % i, i, i),
           (v.get("comm"), v.get("vcpu"), v.get("apic_id")))
        tids.add(v.get("tid"))
        eq(p + "vcpu%d_pio_writes" % i, sum(e["pio"][i] for e in exp), v.get("pio_writes"))
    eq(p + "vcpu_tids_distinct", nvcpus, len([t for t in tids if isinstance(t, int) and t > 0]))
    th = {t.get("role"): t for t in d.get("threads", [])}
    eq(p + "thread_disk", "IO disk", th.get("disk", {}).get("comm"))
    eq(p + "thread_net", "vhost-%s" % pid, th.get("net", {}).get("comm"))
    eq(p + "thread_pit", "kvm-pit/%s" % pid, th.get("pit", {}).get("comm"))
    eq(p + "thread_tids", True, all(isinstance(t.get("tid"), int) and t["tid"] > 0
                                     for t in th.values()) and len(th) == 3)
    dv = d.get("devices", {})
    eq(p + "devices", {"timer": {"vector": 236}, "ipi": {"vector": 253},
                       "pit": {"gsi": 0, "ioapic_pin": 0, "vector": 48},
                       "disk": (17, 17, 65, 0x510), "net": (None, 81, 0xfee00000, 0x520),
                       "pio": {"port": 0x530}},
       {"timer": dv.get("timer"), "ipi": dv.get("ipi"), "pit": dv.get("pit"),
        "disk": tuple(dv.get("disk", {}).get(k)
                      for k in ("gsi", "ioapic_pin", "vector", "doorbell_port")),
        "net": tuple(dv.get("net", {}).get(k)
                     for k in ("gsi", "vector", "msi_address", "doorbell_port")),
        "pio": dv.get("pio")})
    eq(p + "devices_tscdl", {"vector": 236, "msr": 0x6e0}, dv.get("tscdl"))
    eq(p + "halt_poll_disabled", 0, d.get("kvm", {}).get("halt_poll_ns"))
    if any(e["name"] == "tscdl" for e in exp):
        eq(p + "kvm_tsc_deadline", True, d.get("kvm", {}).get("tsc_deadline"))
    ph = d.get("phases", [])
    eq(p + "phases", [e["name"] for e in exp], [x.get("name") for x in ph])
    totals = {"timer": 0, "ipi": 0, "disk": 0, "net": 0}
    for i, (e, x) in enumerate(zip(exp, ph)):
        n = "%sphase%d_%s_" % (p, i, e["name"])
        eq(n + "repeat", e["repeat"], x.get("repeat"))
        w = x.get("waits", {})
        if e["name"] in WAIT_REASON:
            r = WAIT_REASON[e["name"]]
            eq(n + "reasons", [r], list(w))
            ws = w.get(r, {})
            eq(n + "count", e["repeat"], ws.get("count"))
            totals[r] += e["repeat"]
            if ws.get("retries", 0):
                skip(n + "halts", "%d iteration(s) retried (the timer fired before the halt)"
                     % ws["retries"])
            else:
                eq(n + "halts", e["repeat"], x.get("halts"))
            per = {}
            frm = {}
            for t, s in e["waits"]:
                per[t] = per.get(t, 0) + 1
                if s is not None:
                    frm[(t, s)] = frm.get((t, s), 0) + 1
            eq(n + "per_vcpu", sorted(per.items()),
               sorted((v.get("vcpu"), v.get("count")) for v in ws.get("vcpus", [])))
            if e["name"] == "ipi":
                eq(n + "ipi_from", sorted(frm.items()),
                   sorted(((v.get("vcpu"), f.get("vcpu")), f.get("count"))
                          for v in ws.get("vcpus", []) for f in v.get("from", [])))
            hn = ws.get("halt_ns") or 0
            eq(n + "halt_ns_positive", True, e["repeat"] == 0 or hn > 0)
            eq(n + "halt_ns_within_elapsed", True, hn <= (x.get("elapsed_ns") or 0))
            if e["name"] in ("disk", "net"):
                eq(n + "service_measured", True, e["repeat"] == 0 or
                   ((ws.get("service_ns") or 0) > 0 and (ws.get("raise_to_exit_ns") or 0) > 0))
        else:
            eq(n + "no_waits", {}, w)
            eq(n + "no_halts", 0, x.get("halts"))
        eq(n + "pio_writes", sum(e["pio"]), x.get("pio_writes"))
        if e["name"] in ("timer", "tscdl", "pit", "spin"):
            # every iteration lasts at least its duration (1% slack: PIT counts are rounded down)
            eq(n + "elapsed_at_least_duration", True,
               (x.get("elapsed_ns") or 0) >= e["repeat"] * e["dur"] * 99 // 100)
    tw = d.get("totals", {}).get("waits", {})
    eq(p + "totals", totals, {k: tw.get(k, {}).get("count") for k in totals})


LINE = re.compile(r"^\s*(.*?)-(\d+)\s+\[(\d+)\]\s+(?:(\S+)\s+)?(\d+)\.(\d+):\s+(\w+):\s?(.*)$")


def parse_trace(path):
    ev = []
    lost = 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            if "LOST" in line and "EVENTS" in line:
                lost += 1
                continue
            m = LINE.match(line)
            if m:
                ts = int(m.group(5)) * 1000000000 + int(m.group(6).ljust(9, "0")[:9])
                ev.append((m.group(1), int(m.group(2)), int(m.group(3)), m.group(7), m.group(8),
                           ts, m.group(4) or ""))
    return ev, lost


def field(rest, key):
    m = re.search(r"(?:^|[ ,])" + re.escape(key) + r"[= ]([^ ,]+)", rest)
    return m.group(1) if m else None


def check_tscdl(p, d, exp, ev, retried, clock):
    """The waits of the tscdl phases, one by one on their vCPU thread: LVTT set to
    TSC-deadline mode, one WRMSR 0x6e0, then a blocking halt that the hrtimer
    apic_timer_fn ends from hardirq context (the wake: sched_waking there, then
    kvm_vcpu_wakeup on the vCPU), vector 236 accepted by the vCPU thread before its
    next userspace exit, and the hrtimer armed for the asked deadline: between the
    LVTT write + DURATION (RDTSC came after it) and the WRMSR + DURATION."""
    want = {}           # vcpu -> the DURATION of each of its tscdl waits, in order
    for e in exp:
        if e["name"] == "tscdl":
            for t, _ in e["waits"]:
                want.setdefault(t, []).append(e["dur"])
    if not want:
        return
    if retried:
        skip(p + "trace_tscdl", "a timer iteration was retried: counts are not exact")
        return
    vt = {v["tid"]: v["vcpu"] for v in d["vcpus"]}
    st = {tid: {"mode": None, "lvtt": None, "armed": None, "expires": None, "wait": None}
          for tid in vt}
    lvtt, msr, waits = {}, {}, {}
    timer_ctx = {}      # cpu -> (pid, hrtimer function) of the last expiry since a switch
    waking = {}         # vCPU tid -> what woke it, as seen in the waker's context
    for comm, tid, cpu, name, rest, ts, flags in ev:
        if name == "sched_switch":
            timer_ctx.pop(cpu, None)
            continue
        if name == "hrtimer_expire_entry":
            timer_ctx[cpu] = (tid, field(rest, "function"))
            continue
        if name == "sched_waking":
            wp = int(field(rest, "pid") or -1)
            if wp in vt:
                fn = timer_ctx.get(cpu)
                waking[wp] = "%s %s" % (fn[1] if fn and fn[0] == tid else "%s-%d" % (comm, tid),
                                        "hardirq" if "h" in flags.lower() else "task")
            continue
        if tid not in vt:
            continue
        v, s = vt[tid], st[tid]
        if name == "kvm_apic":
            m = re.match(r"apic_write APIC_(LVTT|TMICT) = 0x(\w+)", rest)
            if m and m.group(1) == "LVTT":
                val = int(m.group(2), 16)
                s["mode"] = "tscdl" if (val >> 17) & 3 == 2 else "other"
                s["lvtt"], s["expires"] = ts, None
                if s["mode"] == "tscdl":
                    lvtt[(v, val)] = lvtt.get((v, val), 0) + 1
            elif m:
                s["mode"] = "other"
        elif name == "kvm_msr" and rest.startswith("msr_write 6e0 "):
            k = (v, "#GP" if "#GP" in rest else "ok")
            msr[k] = msr.get(k, 0) + 1
            if s["mode"] == "tscdl" and k[1] == "ok":
                s["armed"] = (s["lvtt"], ts)
        elif name == "hrtimer_start" and field(rest, "function") == "apic_timer_fn":
            s["expires"] = int(field(rest, "expires"))
        elif name == "kvm_vcpu_wakeup" and s["armed"]:
            s["wait"] = {"waker": waking.pop(tid, None), "vec": None, "armed": s["armed"],
                         "expires": s["expires"]}
            waits.setdefault(v, []).append(s["wait"])
            s["armed"] = None
        elif name == "kvm_apic_accept_irq" and s["wait"] and s["wait"]["vec"] is None:
            m = re.match(r"apicid (\w+) vec (\d+)", rest)
            if m and int(m.group(1), 16) == v:
                s["wait"]["vec"] = int(m.group(2))
        elif name == "kvm_userspace_exit":
            s["wait"] = None
    eq(p + "trace_tscdl_lvtt", sorted(((v, TSCDL_LVTT), len(w)) for v, w in want.items()),
       sorted(lvtt.items()))
    eq(p + "trace_tscdl_msr_writes", sorted(((v, "ok"), len(w)) for v, w in want.items()),
       sorted(msr.items()))
    eq(p + "trace_tscdl_waits",
       sorted((v, [("apic_timer_fn hardirq", 236)] * len(w)) for v, w in want.items()),
       sorted((v, [(x["waker"], x["vec"]) for x in w]) for v, w in waits.items()))
    if clock != "mono":
        skip(p + "trace_tscdl_deadline", "trace clock %s, not mono" % clock)
        return
    bad = []
    for v, durs in sorted(want.items()):
        for i, (dur, x) in enumerate(zip(durs, waits.get(v, []))):
            (lv, wr), exp_ns = x["armed"], x["expires"]
            lo, hi = lv + dur - TSCDL_SLACK_NS, wr + dur + TSCDL_SLACK_NS
            if exp_ns is None or not lo <= exp_ns <= hi:
                bad.append("vCPU %d wait %d: hrtimer expires at %s, not within [LVTT write "
                           "%d + %d - slack, WRMSR %d + %d + slack]" % (v, i, exp_ns, lv, dur,
                                                                        wr, dur))
    eq(p + "trace_tscdl_deadline", [], bad)


def check_trace(p, d, nvcpus, exp, path, clock):
    ev, lost = parse_trace(path)
    eq(p + "trace_no_lost_events", 0, lost)
    pid = d["pid"]
    vt = {v["tid"]: v["vcpu"] for v in d["vcpus"]}
    th = {t["role"]: t["tid"] for t in d["threads"]}
    disk, net, pit = th["disk"], th["net"], th["pit"]
    names = {t: "CPU %d/KVM" % v for t, v in vt.items()}
    names.update({disk: "IO disk", net: "vhost-%d" % pid, pit: "kvm-pit/%d" % pid})
    ours = set(names) | {pid}
    # The comm shown for each of our threads, as it emitted events ("<...>": the
    # kernel's comm cache, shared with the whole machine, had lost it).
    seen = {}
    for comm, tid, cpu, name, rest, _, _ in ev:
        if tid in names and comm != "<...>":
            seen.setdefault(tid, set()).add(comm)
    eq(p + "trace_thread_names", {t: {names[t]} for t in names},
       {t: seen.get(t, set()) for t in names})

    retried = any(x.get("waits", {}).get("timer", {}).get("retries", 0) for x in d["phases"])
    # What the JSON says must happen, per vCPU.
    want_wake = {}      # (vcpu, class) -> count, class: timer/pit/disk/net/ipi<from>
    want_acc = {}       # (emitter, apicid, vec) -> count
    want_pio = {}       # (vcpu, port) -> count
    for e in exp:
        for t, s in e["waits"]:
            cls = WAKER.get(e["name"], e["name"]) if s is None else "ipi%d" % s
            want_wake[(t, cls)] = want_wake.get((t, cls), 0) + 1
            emitter = {"timer": "vcpu%d" % t, "tscdl": "vcpu%d" % t, "pit": "pit", "disk": "disk",
                       "net": "vhost", "ipi": "vcpu%d" % (s if s is not None else 0)}[e["name"]]
            key = (emitter, t, VEC[e["name"]])
            want_acc[key] = want_acc.get(key, 0) + 1
            if e["name"] in ("disk", "net"):
                port = 0x510 if e["name"] == "disk" else 0x520
                want_pio[(t, port)] = want_pio.get((t, port), 0) + 1
        for v, n in enumerate(e["pio"]):
            if n:
                want_pio[(v, 0x530)] = want_pio.get((v, 0x530), 0) + n

    def who(tid):
        if tid in vt:
            return "vcpu%d" % vt[tid]
        return {disk: "disk", net: "vhost", pit: "pit"}.get(tid, "other")

    got_wake = {}
    got_ns = {}         # (vcpu, phase kind) -> sum of kvm_vcpu_wakeup times
    got_acc = {}
    got_pio = {}
    wake_modes = {}
    blocked_before = {True: 0, False: 0}
    exits = {}
    ipi_ev = {}
    msi = {}
    set_irq = {}
    pic = 0
    last_waking = {}    # vCPU tid -> (waker tid, hrtimer function in the waker's context,
    #                              the vCPU's state then)
    last_out = {}       # vCPU tid -> prev_state of its last switch-out
    timer_ctx = {}      # cpu -> (pid, function) of the last hrtimer_expire_entry since a switch
    for comm, tid, cpu, name, rest, _, _ in ev:
        if name == "sched_switch":
            timer_ctx.pop(cpu, None)
            pp = field(rest, "prev_pid")
            if pp is not None and int(pp) in vt:
                last_out[int(pp)] = field(rest, "prev_state")
            continue
        if name == "hrtimer_expire_entry":
            timer_ctx[cpu] = (tid, field(rest, "function"))
            continue
        if name == "sched_waking":
            wp = int(field(rest, "pid") or -1)
            if wp in vt:
                fn = timer_ctx.get(cpu)
                last_waking[wp] = (tid, fn[1] if fn and fn[0] == tid else None,
                                   last_out.get(wp))
            continue
        if tid not in ours:
            continue
        if name == "kvm_vcpu_wakeup" and tid in vt:
            v = vt[tid]
            mode = rest.split()[0] if rest else "?"
            wake_modes[mode] = wake_modes.get(mode, 0) + 1
            w, fn, state = last_waking.pop(tid, (None, None, None))
            blocked_before[state in ("S", "S+")] += 1
            if w in vt:
                cls = "ipi%d" % vt[w]
            elif w == disk:
                cls = "disk"
            elif w == net:
                cls = "net"
            elif w == pit:
                cls = "pit"
            elif fn == "apic_timer_fn":
                cls = "timer"
            else:
                cls = "unknown(waker %s, hrtimer %s)" % (w, fn)
            got_wake[(v, cls)] = got_wake.get((v, cls), 0) + 1
            m = re.search(r"time (\d+) ns", rest)
            k = (v, "ipi" if cls.startswith("ipi") else cls)
            got_ns[k] = got_ns.get(k, 0) + (int(m.group(1)) if m else 0)
        elif name == "kvm_apic_accept_irq":
            m = re.match(r"apicid (\w+) vec (\d+)", rest)
            if m:
                key = (who(tid), int(m.group(1), 16), int(m.group(2)))
                got_acc[key] = got_acc.get(key, 0) + 1
        elif name == "kvm_pio" and tid in vt:
            m = re.match(r"pio_write at 0x(\w+)", rest)
            port = int(m.group(1), 16) if m else None
            if port in (0x510, 0x520, 0x530):
                got_pio[(vt[tid], port)] = got_pio.get((vt[tid], port), 0) + 1
        elif name == "kvm_userspace_exit" and tid in vt:
            exits[vt[tid]] = exits.get(vt[tid], 0) + 1
        elif name == "kvm_apic_ipi" and tid in vt:
            m = re.match(r"dst (\w+) vec (\d+)", rest)
            if m:
                key = (vt[tid], int(m.group(1), 16), int(m.group(2)))
                ipi_ev[key] = ipi_ev.get(key, 0) + 1
        elif name == "kvm_msi_set_irq":
            m = re.match(r"dst (\w+) vec (\d+)", rest)
            if m:
                key = (who(tid), int(m.group(1), 16), int(m.group(2)))
                msi[key] = msi.get(key, 0) + 1
        elif name == "kvm_set_irq":
            key = (who(tid), rest.strip())
            set_irq[key] = set_irq.get(key, 0) + 1
        elif name == "kvm_pic_set_irq" and tid == pit:
            pic += "chip 0 pin 0" in rest and "masked" in rest

    count = {n: sum(len(e["waits"]) for e in exp if e["name"] == n) for n in VEC}
    halts = sum(count.values())
    if retried:
        skip(p + "trace_wakers", "a timer iteration was retried: counts are not exact")
        skip(p + "trace_accept_irq", "a timer iteration was retried: counts are not exact")
    else:
        eq(p + "trace_wakers", sorted(want_wake.items()), sorted(got_wake.items()))
        # KVM's halt time in the JSON is exactly the sum of the kvm_vcpu_wakeup times.
        want_ns = {}
        for e, x in zip(exp, d["phases"]):
            if e["name"] not in WAIT_REASON:
                continue
            for v in x["waits"][WAIT_REASON[e["name"]]]["vcpus"]:
                k = (v["vcpu"], WAKER.get(e["name"], e["name"]))
                want_ns[k] = want_ns.get(k, 0) + v["halt_ns"]
        eq(p + "trace_wakeup_time_is_halt_ns", sorted(want_ns.items()), sorted(got_ns.items()))
        eq(p + "trace_accept_irq", sorted(want_acc.items()), sorted(got_acc.items()))
    if retried:
        skip(p + "trace_wakeups_wait", "a timer iteration was retried: counts are not exact")
        skip(p + "trace_blocked_before_wakeup", "a timer iteration was retried")
    else:
        eq(p + "trace_wakeups_wait", {"wait": halts} if halts else {}, wake_modes)
        eq(p + "trace_blocked_before_wakeup", {True: halts, False: 0}, blocked_before)
    eq(p + "trace_pio", sorted(want_pio.items()), sorted(got_pio.items()))
    eq(p + "trace_userspace_exits", {v["vcpu"]: v["userspace_exits"] for v in d["vcpus"]
                                     if v["userspace_exits"]}, exits)
    want_ipi = {}
    for e in exp:
        if e["name"] == "ipi":
            for t, s in e["waits"]:
                want_ipi[(s, t, 253)] = want_ipi.get((s, t, 253), 0) + 1
    eq(p + "trace_apic_ipi", sorted(want_ipi.items()), sorted(ipi_ev.items()))
    want_msi = {}
    for e in exp:
        if e["name"] == "net":
            for t, _ in e["waits"]:
                want_msi[("vhost", t, 81)] = want_msi.get(("vhost", t, 81), 0) + 1
    eq(p + "trace_msi", sorted(want_msi.items()), sorted(msi.items()))
    want_set = {}
    if count["disk"]:
        want_set[("disk", "gsi 17 level 1 source 0")] = count["disk"]
        want_set[("disk", "gsi 17 level 0 source 0")] = count["disk"]
    if count["pit"] and not retried:
        want_set[("pit", "gsi 0 level 1 source 2")] = count["pit"]
        want_set[("pit", "gsi 0 level 0 source 2")] = count["pit"]
    if retried:
        set_irq = {k: c for k, c in set_irq.items() if k[0] != "pit"}
    eq(p + "trace_set_irq", sorted(want_set.items()), sorted(set_irq.items()))
    if not retried:
        eq(p + "trace_pic_masked", 2 * count["pit"], pic)
    check_tscdl(p, d, exp, ev, retried, clock)


def main():
    if len(sys.argv) not in (6, 7, 8):
        sys.stderr.write(__doc__)
        return 2
    p, jpath, nvcpus, rotate, plist = sys.argv[1:6]
    nvcpus = int(nvcpus)
    rotate = rotate == "1"
    phases = []
    for item in plist.split(","):
        name, rep, dur = item.split(":")
        phases.append((name, int(rep), int(dur)))
    exp = expected(nvcpus, rotate, phases)
    try:
        with open(jpath) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        print("not ok %sjson: %s" % (p, e))
        return 0
    ok(p + "json")
    check_json(p, d, nvcpus, rotate, exp)
    if len(sys.argv) >= 7:
        try:
            check_trace(p, d, nvcpus, exp, sys.argv[6], sys.argv[7] if len(sys.argv) == 8 else None)
        except (OSError, KeyError, TypeError, ValueError) as e:
            nok(p + "trace", "cannot check: %r" % (e,))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
