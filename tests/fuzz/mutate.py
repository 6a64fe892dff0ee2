#!/usr/bin/env python3
"""AFL-style mutation campaign over `vmwait analyze` (issue #11's measurement).

From every seed (tests/fuzz/gen-corpus.sh --with-demo), writes N mutated
trace.dat files (bit flips, byte runs, huge 4/8-byte values at random and at
the header's size/offset/count fields, truncation, duplicated or deleted v7
compressed chunks and pages, corrupted format text) and runs each through the
plain and the ASan+UBSan vmwait with a timeout. Each run is classified:
  ok        exit 0 or 1, every stderr line "vmwait: ...", one line on exit 1
  exit:N    any other exit code
  crash     killed by a signal (plain) or a sanitizer report (ASan), with the
            top frame that is not libc
  hang      still running at the timeout (ASan: its stack, taken by SIGABRT)
  leak      LeakSanitizer report (re-run with full stacks; leaks that
            tests/lsan.supp suppresses with full stacks are "suppressed")
  stray     exit 0/1 but stderr has a line not from vmwait, or >1 line on exit 1
Ends with a summary table; keeps up to --keep inputs per class in
OUT/findings/<class>/ with a .txt of what happened and how it was made.

usage: tests/fuzz/mutate.py [-n 30000] [-j 2] [--out build/fuzz/campaign] [--seed S]
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import classify        # noqa: E402
import tdat_layout     # noqa: E402

HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0x10000000, 0xffffffffffffffff,
        0x7fffffffffffffff, 0x8000000000000000, 0x100000000, 0xffff, 0]


def _huge(rng, size):
    if rng.random() < 0.25:
        return rng.choice([size, size + 1, size * 2, size - 1, size * 4096, 1 << 31])
    return rng.choice(HUGE)


# Each mutation: (name, function(data, rng, lay) -> data, description).
def m_bitflip(d, rng, lay):
    pos = rng.randrange(len(d))
    bit = rng.randrange(8)
    d[pos] ^= 1 << bit
    return "bitflip @%d bit %d" % (pos, bit)


def m_byterun(d, rng, lay):
    pos = rng.randrange(len(d))
    n = min(rng.choice([1, 2, 4, 8, 16, 64, 256]), len(d) - pos)
    val = rng.choice([0, 0xff, rng.randrange(256)])
    d[pos:pos + n] = bytes([val]) * n
    return "byterun @%d len %d = 0x%02x" % (pos, n, val)


def m_huge_random(d, rng, lay):
    w = rng.choice([4, 8])
    pos = rng.randrange(max(1, len(d) - w))
    v = _huge(rng, len(d)) & ((1 << (8 * w)) - 1)
    d[pos:pos + w] = v.to_bytes(w, "little")
    return "huge%d @%d = 0x%x" % (w, pos, v)


def m_huge_field(d, rng, lay):
    fields = [f for f in lay.fields if f[1] in (1, 2, 4, 8) and f[0] + f[1] <= len(d)]
    if not fields:
        return m_huge_random(d, rng, lay)
    off, w, name = rng.choice(fields)
    v = _huge(rng, len(d))
    if rng.random() < 0.3:
        v = int.from_bytes(d[off:off + w], "little") + rng.choice([-1, 1, 2, 8, 4096, -4096])
    v &= (1 << (8 * w)) - 1
    d[off:off + w] = v.to_bytes(w, "little")
    return "field %s @%d (%d bytes) = 0x%x" % (name, off, w, v)


def m_string_field(d, rng, lay):
    """Unterminate or stretch a string of the header (name, clock, compression)."""
    strs = [f for f in lay.fields if f[2].startswith(("str:", "opt.BUFFER.name",
            "opt.BUFFER.clock", "compression", "version", "system["))
            and f[2].find(".count") < 0 and f[0] + f[1] <= len(d)]
    if not strs:
        return m_byterun(d, rng, lay)
    off, w, name = rng.choice(strs)
    end = off + w - 1
    d[end] = rng.choice([0x41, 0xff])
    return "string %s @%d: terminator at %d overwritten" % (name, off, end)


def m_truncate(d, rng, lay):
    cuts = [f[0] + rng.randrange(f[1] + 1) for f in lay.fields] + [rng.randrange(len(d))]
    cut = max(1, min(len(d) - 1, rng.choice(cuts)))
    del d[cut:]
    return "truncate to %d" % cut


def m_chunk(d, rng, lay):
    """Duplicate or delete a v7 compressed chunk/block, else a page."""
    if lay.chunks:
        off, n = rng.choice(lay.chunks)
        what = "chunk"
    else:
        page = 4096
        if len(d) < 2 * page:
            return m_byterun(d, rng, lay)
        off = rng.randrange(len(d) // page) * page
        n = page
        what = "page"
    n = min(n, len(d) - off)
    if rng.random() < 0.5:
        d[off:off] = d[off:off + n]
        return "%s dup @%d len %d" % (what, off, n)
    del d[off:off + n]
    return "%s delete @%d len %d" % (what, off, n)


FMT_EDITS = [(b";", b""), (b"offset:", b"offset:-"), (b"size:", b"size:99999999"),
             (b"size:", b"size:-8"), (b"field:", b"field:struct x[4294967295] "),
             (b"print fmt:", b"print fmt: %s%s%s%s\"%"), (b"REC->", b"REC->__data_loc "),
             (b"\"", b""), (b"(", b"(((((((((("), (b"ID:", b"ID: 4294967295"),
             (b"__print_symbolic", b"__print_flags"), (b",", b"\0"), (b"\n", b"")]


def m_format(d, rng, lay):
    """Edit the text of an event format (v6, uncompressed v7)."""
    if not lay.texts:
        return m_huge_field(d, rng, lay)
    off, n = rng.choice(lay.texts)
    text = bytes(d[off:off + n])
    old, new = rng.choice(FMT_EDITS)
    hits = [m.start() for m in re.finditer(re.escape(old), text)]
    if not hits:
        return m_bitflip(d, rng, lay)
    at = off + rng.choice(hits)
    d[at:at + len(old)] = new
    return "format text @%d: %r -> %r" % (at, old, new)


MUTATORS = [(m_bitflip, 3), (m_byterun, 2), (m_huge_random, 2), (m_huge_field, 4),
            (m_string_field, 1), (m_truncate, 1), (m_chunk, 1), (m_format, 2)]


def mutate(seed_data, rng):
    lay = tdat_layout.layout(seed_data)
    d = bytearray(seed_data)
    ops = []
    funcs = [m for m, w in MUTATORS for _ in range(w)]
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        if len(d) < 16:
            break
        ops.append(rng.choice(funcs)(d, rng, lay))
    return bytes(d), ops


# ---- running -------------------------------------------------------------

def env_for(asan, full_stacks=False):
    e = dict(os.environ)
    supp = os.path.join(TOP, "tests/lsan.supp") if full_stacks else \
        os.path.join(HERE, "lsan-fast.supp")
    e["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0%s" % (
        supp, ":fast_unwind_on_malloc=0" if full_stacks else "")
    e["ASAN_OPTIONS"] = ("max_allocation_size_mb=1024:allocator_may_return_null=0:"
                         "handle_abort=1:detect_leaks=1:quarantine_size_mb=16")
    e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return e


def run_one(binary, path, timeout, asan, full_stacks=False):
    """(rc or None on hang, stderr text)."""
    p = subprocess.Popen([binary, "analyze", "--json", "-o", "/dev/null", path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env_for(asan, full_stacks),
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        if asan:
            os.killpg(p.pid, signal.SIGABRT)     # ASan prints the stack on SIGABRT
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                _, err = p.communicate()
        else:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
        return None, err.decode(errors="replace")


def judge(rc, err, asan):
    """(outcome, class, top frame) of one run."""
    lines = [l for l in err.splitlines() if l.strip()]
    if rc is None:
        r = classify.report(err) if asan else None
        top = r["top"] if r else "?"
        return "hang", "hang:%s" % (r["api"] if r else "?"), top
    r = classify.report(err) if asan else None
    if r:
        return ("leak" if r["kind"] == "leak" else "crash"), r["cls"], r["top"]
    if rc < 0 or rc > 128:
        sig = -rc if rc < 0 else rc - 128
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "crash", "signal:" + name, "?"
    if rc not in (0, 1):
        return "exit", "exit:%d" % rc, "-"
    stray = [l for l in lines if not l.startswith("vmwait: ")]
    if stray:
        return "stray", "stray:" + re.sub(r"[0-9]+", "N", stray[0])[:60], "-"
    if rc == 1 and len(lines) != 1:
        return "stray", "stray:%d-lines-on-error" % len(lines), "-"
    return "ok", "exit:%d" % rc, "-"


def check(args, idx, seed_name, data, ops, work):
    path = os.path.join(work, "m%06d" % idx)
    with open(path, "wb") as f:
        f.write(data)
    res = {"i": idx, "seed": seed_name, "ops": ops, "size": len(data)}
    for tag, binary, asan, tmo in (("plain", args.vmwait, False, args.timeout),
                                   ("asan", args.asan, True, args.timeout * 3)):
        rc, err = run_one(binary, path, tmo, asan)
        outcome, cls, top = judge(rc, err, asan)
        if outcome == "leak" or (outcome == "crash" and "+0x" in cls):
            # malloc stacks are cut short at frame-pointer-less libraries: retry in full
            rc2, err2 = run_one(binary, path, tmo * 3, asan, full_stacks=True)
            o2, c2, t2 = judge(rc2, err2, asan)
            if o2 in ("leak", "crash"):
                outcome, cls, top, err = o2, c2, t2, err2
            elif outcome == "leak":
                outcome, cls = "suppressed", "leak-suppressed:" + cls.split(":", 1)[1]
        res[tag] = {"rc": rc, "outcome": outcome, "cls": cls, "top": top}
        res[tag + "_err"] = err[-6000:]
    bad = res["plain"]["outcome"] != "ok" or res["asan"]["outcome"] not in ("ok", "suppressed")
    if bad:
        keep_finding(args, res, data)
    os.unlink(path)
    res.pop("plain_err")
    res.pop("asan_err", None)
    return res


_kept = collections.Counter()


def keep_finding(args, res, data):
    cls = res["asan"]["cls"] if res["asan"]["outcome"] != "ok" else res["plain"]["cls"]
    slug = re.sub(r"[^A-Za-z0-9_.+-]", "_", cls)[:80]
    if _kept[slug] >= args.keep:
        return
    _kept[slug] += 1
    d = os.path.join(args.out, "findings", slug)
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "m%06d" % res["i"])
    with open(base, "wb") as f:
        f.write(data)
    with open(base + ".txt", "w") as f:
        f.write("seed: %s\nops: %s\nplain: %s\nasan: %s\n\n--- plain stderr\n%s\n--- asan stderr\n%s\n" % (
            res["seed"], json.dumps(res["ops"]), res["plain"], res["asan"],
            res.get("plain_err", ""), res.get("asan_err", "")))


# ---- summary -------------------------------------------------------------

def summary(results, elapsed, out):
    n = len(results)
    lines = []
    p = lines.append
    p("vmwait mutation campaign: %d mutated files, %d seeds, %.0f s" % (
        n, len({r["seed"] for r in results}), elapsed))
    for tag in ("plain", "asan"):
        c = collections.Counter(r[tag]["outcome"] for r in results)
        rcs = collections.Counter(r[tag]["rc"] for r in results if r[tag]["outcome"] == "ok")
        p("")
        p("%s binary: %s" % (tag, ", ".join("%s %d" % (k, v) for k, v in sorted(c.items()))))
        p("  clean exits: %s" % ", ".join("exit %s: %d" % (k, v) for k, v in sorted(rcs.items())))
        cls = collections.Counter((r[tag]["cls"], r[tag]["top"]) for r in results
                                  if r[tag]["outcome"] != "ok")
        if cls:
            p("  %-7s  %-60s %s" % ("count", "class (kind:first named frame)", "top frame"))
            for (k, top), v in cls.most_common():
                p("  %7d  %-60s %s" % (v, k, top))
    both = sum(1 for r in results if r["asan"]["outcome"] == "crash" and
               r["plain"]["outcome"] == "crash")
    p("")
    p("ASan crash reports whose input also kills the plain binary: %d" % both)
    fails = sum(1 for r in results if r["plain"]["outcome"] != "ok" or
                r["asan"]["outcome"] not in ("ok", "suppressed"))
    p("inputs with any finding (plain or ASan): %d of %d" % (fails, n))
    text = "\n".join(lines)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return text, fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=30000, help="mutated files (default 30000)")
    ap.add_argument("-j", type=int, default=2, help="parallel runs (default 2)")
    ap.add_argument("--seed", type=int, default=11, help="PRNG seed (default 11)")
    ap.add_argument("--seeds", help="seed directory (default: generated)")
    ap.add_argument("--out", default=os.path.join(TOP, "build/fuzz/campaign"))
    ap.add_argument("--timeout", type=float, default=10, help="plain timeout, s (ASan: x3)")
    ap.add_argument("--keep", type=int, default=5, help="inputs kept per class")
    ap.add_argument("--vmwait", default=os.path.join(TOP, "vmwait"))
    ap.add_argument("--asan", default=os.path.join(TOP, "build/vmwait-asan"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if not args.seeds:
        args.seeds = os.path.join(args.out, "seeds")
        subprocess.run([os.path.join(HERE, "gen-corpus.sh"), args.seeds, "--with-demo"],
                       check=True)
    seeds = []
    for name in sorted(os.listdir(args.seeds)):
        with open(os.path.join(args.seeds, name), "rb") as f:
            seeds.append((name, f.read()))
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="vmwait-mutate.")
    results = []
    start = time.time()
    log = open(os.path.join(args.out, "results.jsonl"), "w")

    def jobs():
        for i in range(args.n):
            name, data = seeds[i % len(seeds)]
            m, ops = mutate(data, rng)
            yield i, name, m, ops

    with ThreadPoolExecutor(args.j) as ex:
        pending = collections.deque()
        for i, name, m, ops in jobs():
            pending.append(ex.submit(check, args, i, name, m, ops, work))
            while len(pending) > 4 * args.j or (pending and pending[0].done()):
                r = pending.popleft().result()
                results.append(r)
                log.write(json.dumps(r) + "\n")
                if len(results) % 1000 == 0:
                    print("mutate: %d/%d files, %.0f s" % (len(results), args.n,
                          time.time() - start), file=sys.stderr, flush=True)
        for fut in pending:
            r = fut.result()
            results.append(r)
            log.write(json.dumps(r) + "\n")
    log.close()
    os.rmdir(work)
    text, fails = summary(results, time.time() - start, args.out)
    print(text)
    print("results: %s/results.jsonl, findings: %s/findings/" % (args.out, args.out))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
