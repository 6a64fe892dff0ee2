#!/usr/bin/env python3
"""Is the difference between the truth and the analyzer's JSON exactly one
the known departures of tests/synth/known/ explain? Each departure names
the fields it touches; the two results must be equal with those fields set
aside (and nothing else). Used by tests/t_analyze.sh and tests/t_tiers.sh:

    known.py TRUTH OUT [DEPARTURE...]

Prints the departures needed (the fewest, in the order given) and exits 0,
or exits 1 when they do not explain the difference.
"""
import copy
import itertools
import json
import sys


def rows(r, nested_only=False):
    for vm in r["vms"]:
        nested = [v for n in vm["nested"] for v in n["vcpus"]]
        yield from nested if nested_only else vm["vcpus"] + [vm["totals"]] + nested


def l2_timer_source(r):
    """known/l2-timer-source.scn: an L2 vCPU's timer waits have no timers rows."""
    for v in rows(r, nested_only=True):
        v.pop("timers", None)


def wait_reasons(r):
    """known/sched-self-accept.scn, known/nosched-old-context.scn: the reason
    (and its breakdown) of some waits; their number and time stay exact."""
    for v in rows(r):
        w = v.pop("waits", {})
        v["nwaits"] = (sum(x["count"] for x in w.values()), sum(x["total_ns"] for x in w.values()))
        for k in ("ipi_from", "devices", "timers"):
            v.pop(k, None)


FILTERS = {"l2-timer-source": l2_timer_source, "wait-reasons": wait_reasons}

a, b = (json.load(open(f)) for f in sys.argv[1:3])
names = sys.argv[3:] or ["l2-timer-source"]
for n in range(1, len(names) + 1):
    for combo in itertools.combinations(names, n):
        x, y = copy.deepcopy(a), copy.deepcopy(b)
        for f in combo:
            FILTERS[f](x)
            FILTERS[f](y)
        if x == y:
            print(" ".join(combo))
            sys.exit(0)
sys.exit(1)
