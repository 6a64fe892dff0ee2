#!/usr/bin/env python3
"""Runs the libFuzzer harnesses and sorts what they find into defect classes.

usage: tests/fuzz/run-fuzz.py [--time S] [--jobs J] [--out DIR] [--check] [TARGET...]
  TARGET   analyze, options, pages (build/tests/fuzz/fuzz-TARGET; default all three)
  --time   seconds of fuzzing (all targets run at once; default 600)
  --jobs   libFuzzer fork jobs shared by the targets (default 2)
  --out    work directory: corpora and artifacts (default build/fuzz/run);
           the corpora grow from run to run
  --check  the bounded run of make check: a fresh work directory, a quarter
           of the generated seeds (a short run spends less time loading them)
  --bindir where the fuzz-TARGET binaries are (default build/tests/fuzz)

libFuzzer runs in fork mode, keeping on after a crash, a timeout or an OOM,
so that one run finds every class. Each artifact is re-run alone with full
stacks and classified (tests/fuzz/classify.py). A class listed in
tests/fuzz/regress/KNOWN (a library defect that waits for vmwait's own
reader) gives a "skip" line; any other class is a failure, its inputs
copied to build/fuzz/found/<class>/ to become regression files.
Prints the executions reached.
"""
import argparse
import collections
import os
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import classify        # noqa: E402
import pages           # noqa: E402

TRIAGE_MAX = 300        # artifacts re-run per target; more are sampled


def known_classes():
    """class -> regression files of tests/fuzz/regress/KNOWN."""
    known = collections.defaultdict(list)
    path = os.path.join(HERE, "regress", "KNOWN")
    if os.path.exists(path):
        for line in open(path):
            line = line.split("#", 1)[0].split()
            if len(line) >= 2:
                known[line[1]].append(line[0])
    return known


def fuzz_env(full_stacks=False):
    e = dict(os.environ)
    supp = os.path.join(TOP, "tests/lsan.supp") if full_stacks else \
        os.path.join(HERE, "lsan-fast.supp")
    e["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0%s" % (
        supp, ":fast_unwind_on_malloc=0" if full_stacks else "")
    e["ASAN_OPTIONS"] = "quarantine_size_mb=8:handle_abort=1:detect_leaks=1"
    e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return e


def make_corpus(target, seeds, dest, every):
    """The seed corpus of a target (every @every-th generated seed, all committed
    ones); fuzz-options inputs start with an options byte."""
    os.makedirs(dest, exist_ok=True)
    committed = set(os.listdir(os.path.join(HERE, "seeds")))
    for i, name in enumerate(sorted(os.listdir(seeds))):
        if i % every and name not in committed:
            continue
        with open(os.path.join(seeds, name), "rb") as f:
            data = f.read()
        if target == "options":
            data = bytes([i * 37 % 256]) + data
        with open(os.path.join(dest, "seed-" + name), "wb") as f:
            f.write(data)


def make_pages_corpus(dest, every):
    """fuzz-pages' seeds: the pages of the scenarios and of random traces in the
    template's layout (6.18), full and --light (tests/fuzz/pages.py)."""
    os.makedirs(dest, exist_ok=True)
    synth = os.path.join(TOP, "build/tests/synth/vmwait-synth")
    scn = os.path.join(TOP, "tests/synth/scenarios")
    tmp = os.path.join(dest, "tmp.dat")
    runs = [(n[:-4], [os.path.join(scn, n)]) for n in sorted(os.listdir(scn))
            if n.endswith(".scn")]
    runs += [("rnd%d" % s, ["--random", str(s), "--events", "2000"]) for s in range(1, 25)]
    for i, (name, args) in enumerate(runs):
        if i % every:
            continue
        for light in ([], ["--light"]):
            if subprocess.run([synth, "-k", "6.18", "-o", tmp, "-t", "/dev/null"] + light + args,
                              stderr=subprocess.DEVNULL).returncode:
                continue
            with open(tmp, "rb") as f:
                if pages.cpu_table(f.read())[1] > 16:
                    continue
            subprocess.run([os.path.join(HERE, "pages.py"), "seed", tmp, os.path.join(
                dest, "seed-%s%s" % (name, light and "-light" or ""))], check=True)
    os.remove(tmp)


def limits(binary):
    """libFuzzer's memory limits. fuzz-analyze and fuzz-options run without the
    RSS thread (-rss_limit_mb=0): vmwait forks a child to parse each new set of
    formats (common/guard.c), and a fork while that thread starts can copy
    clang 14 ASan's allocator lock held, leaving the child hung in malloc (a
    timeout that never reproduces alone). Single allocations stay limited
    (-malloc_limit_mb). fuzz-pages parses its formats once, before the thread
    starts (harness.c warm_up), and keeps the RSS limit."""
    rss = 2048 if binary.endswith("pages") else 0
    return ["-timeout=10", "-rss_limit_mb=%d" % rss, "-malloc_limit_mb=1024"]


def start_fuzzer(binary, corpus, art, seconds, jobs, log):
    cmd = [binary, "-fork=%d" % jobs, "-ignore_crashes=1", "-ignore_timeouts=1",
           "-ignore_ooms=1"] + limits(binary) + [
           "-max_len=%d" % (32768 if binary.endswith("pages") else 131072),
           "-max_total_time=%d" % seconds, "-close_fd_mask=3",
           "-artifact_prefix=%s/" % art, corpus]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=fuzz_env(),
                            cwd=os.path.dirname(art))


def executions(logpath):
    n = 0
    for line in open(logpath, errors="replace"):
        m = re.match(r"#(\d+):? ", line)
        if m:
            n = max(n, int(m.group(1)))
    return n


def triage(binary, art):
    """[(class, top, where, artifact, report text)] of every artifact (sampled)."""
    files = sorted(os.listdir(art))
    if len(files) > TRIAGE_MAX:
        random.Random(1).shuffle(files)
        files = files[:TRIAGE_MAX]
    out = []
    for name in files:
        path = os.path.join(art, name)
        try:
            p = subprocess.run([binary] + limits(binary) + [path], env=fuzz_env(True),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            text = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            text = "ERROR: libFuzzer: timeout (triage run killed)"
        r = classify.report(text)
        if r is None:
            # the input no longer fails alone (a leak that only full stacks suppress,
            # or state left by earlier inputs in the same process)
            cls = "leak-suppressed" if name.startswith("leak-") else "not-reproducible"
            out.append((cls, "-", "-", path, text))
        else:
            out.append((r["cls"], r["top"], r["where"], path, text))
    return out, len(os.listdir(art))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("targets", nargs="*", default=["analyze", "options", "pages"])
    ap.add_argument("--time", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(TOP, "build/fuzz/run"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bindir", default=os.path.join(TOP, "build/tests/fuzz"),
                    help="where fuzz-TARGET lives (a copy keeps a long run's binary fixed "
                    "while the tree is rebuilt)")
    args = ap.parse_args()
    seeds = os.path.join(args.out, "seeds")
    if args.check and os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    if not os.path.isdir(seeds):
        subprocess.run([os.path.join(HERE, "gen-corpus.sh"), seeds], check=True,
                       stderr=subprocess.DEVNULL)
    known = known_classes()
    procs = []
    jobs = max(1, args.jobs // len(args.targets))
    for t in args.targets:
        binary = os.path.join(os.path.abspath(args.bindir), "fuzz-" + t)
        corpus = os.path.join(args.out, "corpus-" + t)
        art = os.path.join(args.out, "artifacts-" + t)
        if not os.path.isdir(corpus) and t == "pages":
            make_pages_corpus(corpus, 4 if args.check else 1)
        elif not os.path.isdir(corpus):
            make_corpus(t, seeds, corpus, 4 if args.check else 1)
        shutil.rmtree(art, ignore_errors=True)
        os.makedirs(art)
        logpath = os.path.join(args.out, "fuzz-%s.log" % t)
        log = open(logpath, "w")
        procs.append((t, binary, art, logpath, start_fuzzer(binary, corpus, art, args.time,
                                                            jobs, log)))
    start = time.time()
    for _, _, _, _, p in procs:
        p.wait()
    elapsed = time.time() - start
    failed = False
    total = 0
    for t, binary, art, logpath, p in procs:
        n = executions(logpath)
        total += n
        found, nart = triage(binary, art)
        classes = collections.defaultdict(list)
        for cls, top, where, path, text in found:
            classes[(cls, top, where)].append((path, text))
        new = 0
        for (cls, top, where), items in sorted(classes.items(), key=lambda x: -len(x[1])):
            if cls in ("leak-suppressed", "not-reproducible"):
                print("# fuzz-%s: %d inputs %s (not a finding)" % (t, len(items), cls))
                continue
            if cls in known:
                print("skip fuzz-%s %s: known crash, waits for the new reader "
                      "(%d inputs; top frame %s; regress/%s)" % (t, cls, len(items), top,
                                                                 known[cls][0]))
                continue
            new += 1
            slug = re.sub(r"[^A-Za-z0-9_.+-]", "_", cls)[:80]
            dest = os.path.join(TOP, "build/fuzz/found", slug)
            os.makedirs(dest, exist_ok=True)
            for path, text in items[:5]:
                shutil.copy(path, dest)
                with open(os.path.join(dest, os.path.basename(path) + ".txt"), "w") as f:
                    f.write(text)
            print("not ok fuzz-%s: new defect class %s (%d inputs; top frame %s; from %s); "
                  "inputs in build/fuzz/found/%s/" % (t, cls, len(items), top, where, slug))
        if nart > len(found):
            print("# fuzz-%s: %d artifacts, %d re-run (sampled)" % (t, nart, len(found)))
        if new:
            failed = True
        elif p.returncode not in (0, 71, 72, 73, 77) and n == 0:
            print("not ok fuzz-%s: libFuzzer failed (status %d, no execution); see %s"
                  % (t, p.returncode, logpath))
            failed = True
        else:
            print("ok fuzz-%s: %d executions in %.0f s, no crash, hang or leak outside "
                  "tests/fuzz/regress/KNOWN (%d artifacts)" % (t, n, elapsed, nart))
    print("fuzz: %d executions reached in %.0f s (%s)" % (total, elapsed, ", ".join(args.targets)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
