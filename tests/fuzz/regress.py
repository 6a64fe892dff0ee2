#!/usr/bin/env python3
"""Regression files of tests/fuzz/regress/: reduce a finding to a recipe, and
remake a regression file from its recipe.

  regress.py reduce FINDING NAME   FINDING: a mutated input kept by mutate.py
                                   (with FINDING.txt beside it). Reverts every
                                   changed byte run (then byte) that the defect
                                   class does not need, writes regress/NAME and
                                   its line in regress/RECIPES.
  regress.py make NAME OUT         remakes NAME from its recipe: vmwait-synth
                                   with the recipe's arguments, then the
                                   recipe's byte patches (a minimal reproducer)
  regress.py show NAME             the recipe, in words

RECIPES: NAME <TAB> seed <TAB> vmwait-synth arguments <TAB> edits, where edits
are "OFFSET=HEXBYTES" patches, "truncate=N", or "file" (no synth recipe:
the committed file is the reproducer), separated by spaces.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mutate          # noqa: E402

REGRESS = os.path.join(HERE, "regress")
RECIPES = os.path.join(REGRESS, "RECIPES")
SYNTH = os.path.join(TOP, "build/tests/synth/vmwait-synth")


def outcome(data):
    """The ASan class of @data, else the plain one ("exit:0"/"exit:1" when fine)."""
    with tempfile.NamedTemporaryFile(prefix="vmwait-reduce.") as f:
        f.write(data)
        f.flush()
        rc, err = mutate.run_one(os.path.join(TOP, "build/vmwait-asan"), f.name, 30, True,
                                 full_stacks=True)
        o, cls, _ = mutate.judge(rc, err, True)
        if o != "ok":
            return cls
        rc, err = mutate.run_one(os.path.join(TOP, "vmwait"), f.name, 10, False)
        return mutate.judge(rc, err, False)[1]


def runs_of(diff):
    out = []
    for i in diff:
        if out and i == out[-1][-1] + 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def apply(seed, mutated, keep):
    d = bytearray(seed)
    for i in keep:
        d[i] = mutated[i]
    return bytes(d)


def reduce_bytes(seed, mutated, want):
    """The smallest set of changed bytes (greedy, by runs then bytes) keeping @want."""
    diff = [i for i in range(len(seed)) if seed[i] != mutated[i]]
    keep = set(diff)
    for run in runs_of(diff):
        trial = keep - set(run)
        if outcome(apply(seed, mutated, sorted(trial))) == want:
            keep = trial
    for i in sorted(keep):
        trial = keep - {i}
        if trial and outcome(apply(seed, mutated, sorted(trial))) == want:
            keep = trial
    return sorted(keep)


def manifest():
    m = {}
    path = os.path.join(TOP, "build/fuzz/campaign/seeds.manifest")
    if os.path.exists(path):
        for line in open(path):
            name, args = line.rstrip("\n").split("\t", 1)
            m[name] = args
    return m


def cmd_reduce(finding, name):
    info = open(finding + ".txt").read()
    seed_name = info.split("\n", 1)[0].split(": ", 1)[1]
    ops = json.loads(info.split("\n")[1].split(": ", 1)[1])
    mutated = open(finding, "rb").read()
    want = outcome(mutated)
    args = manifest().get(seed_name, "")
    seed_path = os.path.join(TOP, "build/fuzz/campaign/seeds", seed_name)
    seed = open(seed_path, "rb").read()
    edits = "file"
    data = mutated
    if len(seed) == len(mutated) and args:
        keep = reduce_bytes(seed, mutated, want)
        data = apply(seed, mutated, keep)
        edits = " ".join("%d=%s" % (r[0], bytes(mutated[i] for i in r).hex())
                         for r in runs_of(keep))
    elif len(mutated) < len(seed) and seed[:len(mutated)] == mutated and args:
        edits = "truncate=%d" % len(mutated)
    got = outcome(data)
    with open(os.path.join(REGRESS, name), "wb") as f:
        f.write(data)
    lines = [l for l in open(RECIPES)] if os.path.exists(RECIPES) else []
    lines = [l for l in lines if not l.startswith(name + "\t")]
    lines.append("%s\t%s\t%s\t%s\n" % (name, seed_name, args or "-", edits))
    with open(RECIPES, "w") as f:
        f.writelines(sorted(lines))
    print("%s\t%s\t%s (mutations were: %s)" % (name, got, edits, "; ".join(ops)))


def recipe(name):
    for line in open(RECIPES):
        f = line.rstrip("\n").split("\t")
        if f[0] == name:
            return f
    sys.exit("regress.py: no recipe for %s" % name)


def cmd_make(name, out):
    _, seed, args, edits = recipe(name)
    if edits == "file" or args == "-":
        data = open(os.path.join(REGRESS, name), "rb").read()
    else:
        subprocess.run([SYNTH, "-o", out] + args.split(), check=True, cwd=TOP,
                       stdout=subprocess.DEVNULL)
        data = bytearray(open(out, "rb").read())
        for e in edits.split():
            k, v = e.split("=")
            if k == "truncate":
                del data[int(v):]
            else:
                b = bytes.fromhex(v)
                data[int(k):int(k) + len(b)] = b
    with open(out, "wb") as f:
        f.write(data)


def cmd_show(name):
    _, seed, args, edits = recipe(name)
    print("vmwait-synth -o %s %s" % (name, args))
    for e in edits.split():
        k, v = e.split("=") if "=" in e else (e, "")
        if k == "truncate":
            print("truncate to %s bytes" % v)
        elif k == "file":
            print("(no recipe: the committed file)")
        else:
            print("at offset %s (0x%x) write %s" % (k, int(k), v))


def main(argv):
    if len(argv) == 4 and argv[1] == "reduce":
        cmd_reduce(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "make":
        cmd_make(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "show":
        cmd_show(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
