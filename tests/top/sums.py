#!/usr/bin/env python3
"""vmwait top's JSON lines against `vmwait analyze --json` of the same trace.

usage: sums.py LIST, where each line of LIST is "NAME<TAB>LINES<TAB>ANALYSIS".
Prints one "ok NAME: ..." or "not ok NAME: why" per entry. Checked exactly:
  * per vCPU (tid, first_ns): the lines' states and waits (count, total) sum
    to the analysis', their pending time to 0; no vCPU only in the lines;
  * the lines' events and lost events sum to the trace's; a VM's totals
    are the sum of its vCPUs;
  * the intervals follow each other, each one interval long but the last;
  * every line accounts for every nanosecond of a vCPU's span up to its end:
    after line k, the vCPU's states and pending time sum to
    min(end of line k, end_ns) - first_ns (or 0 before it was known).
"""
import json
import sys


def check(lines, ana):
    bad = []
    tot, acc = {}, {}
    spans = {}
    for vm in ana['vms']:
        for v in vm['vcpus']:
            spans[(v['tid'], v['first_ns'])] = v['end_ns']
    for i, l in enumerate(lines):
        if l['schema'] != 'vmwait-top/1':
            bad.append('line %d: schema %r' % (i, l['schema']))
        if l['interval'] != i:
            bad.append('line %d is numbered %d' % (i, l['interval']))
        if i and l['start_ns'] != lines[i - 1]['end_ns']:
            bad.append('line %d starts at %d, not where line %d ends' % (i, l['start_ns'], i - 1))
        if l['final'] != (i == len(lines) - 1):
            bad.append('line %d: final is %s' % (i, l['final']))
        for vm in l['vms']:
            for s in vm['totals']['states_ns']:
                if vm['totals']['states_ns'][s] != sum(v['states_ns'][s] for v in vm['vcpus']):
                    bad.append('line %d: VM %d totals %s is not the sum of its vCPUs' %
                               (i, vm['pid'], s))
            for v in vm['vcpus']:
                k = (v['tid'], v['first_ns'])
                d = tot.setdefault(k, {})
                for s, n in v['states_ns'].items():
                    d[s] = d.get(s, 0) + n
                for r, w in v['waits'].items():
                    d['waits ' + r] = d.get('waits ' + r, 0) + w['count']
                    d['wait time ' + r] = d.get('wait time ' + r, 0) + w['total_ns']
                d['pending'] = d.get('pending', 0) + v['pending_ns']
                acc[k] = acc.get(k, 0) + sum(v['states_ns'].values()) + v['pending_ns']
        for k, a in acc.items():
            if k not in spans:
                continue
            want = min(l['end_ns'], spans[k]) - k[1]
            if a != want:
                bad.append('line %d: vCPU tid %d accounts %d ns of its span, not %d' %
                           (i, k[0], a, want))
    length = ana.get('_len')
    for i, l in enumerate(lines[:-1]):
        if length and l['end_ns'] - l['start_ns'] != length:
            bad.append('line %d lasts %d ns' % (i, l['end_ns'] - l['start_ns']))
    seen = set()
    for vm in ana['vms']:
        for v in vm['vcpus']:
            k = (v['tid'], v['first_ns'])
            seen.add(k)
            want = dict(v['states_ns'])
            for r, w in v['waits'].items():
                want['waits ' + r] = w['count']
                want['wait time ' + r] = w['total_ns']
            want['pending'] = 0
            got = tot.get(k, {})
            for key, n in want.items():
                if got.get(key, 0) != n:
                    bad.append('vCPU tid %d %s: %d in the lines, %d in the analysis' %
                               (k[0], key, got.get(key, 0), n))
    for k, d in tot.items():
        if k not in seen and any(d.values()):
            bad.append('vCPU tid %d is only in the lines' % k[0])
    for key, name in (('events', 'events'), ('lost_events', 'lost events')):
        n = sum(l[key] for l in lines)
        if n != ana['trace'][key]:
            bad.append('%s: %d in the lines, %d in the trace' % (name, n, ana['trace'][key]))
    return bad


def main():
    for entry in open(sys.argv[1]):
        name, lpath, apath = entry.rstrip('\n').split('\t')[:3]
        length = int(entry.rstrip('\n').split('\t')[3]) if entry.count('\t') >= 3 else 0
        try:
            lines = [json.loads(x) for x in open(lpath)]
            ana = json.load(open(apath))
        except (OSError, ValueError) as e:
            print('not ok %s: %s' % (name, e))
            continue
        ana['_len'] = length
        bad = check(lines, ana) if lines else ['no line']
        nv = sum(len(vm['vcpus']) for vm in ana['vms'])
        if bad:
            print('not ok %s: %s' % (name, '; '.join(bad[:3])))
        else:
            print('ok %s: %d lines sum to the analysis of %d vCPUs' % (name, len(lines), nv))


if __name__ == '__main__':
    main()
