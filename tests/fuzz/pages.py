#!/usr/bin/env python3
"""fuzz-pages' template and seeds, cut from a v6 uncompressed trace.dat.

usage: tests/fuzz/pages.py template TRACE OUT   u32 offset of the CPU count + the bytes
                                                 up to the CPU table
       tests/fuzz/pages.py file TEMPLATE INPUT OUT  the trace.dat fuzz-pages analyzes for INPUT
       tests/fuzz/pages.py seed TRACE OUT [MAX]  an input: options byte (bits 2-5: CPUs - 1),
                                                 (CPUs - 1) u16 lengths in 64-byte units,
                                                 each CPU's data (at most MAX bytes in all,
                                                 default 32768)
Seeds are meaningful with a template of the same event formats (the same
generator kernel layout, full or --light); the harness writes the seed's CPU
count (1-16) into the template.
"""
import struct
import sys

import tdat_layout


def cpu_table(data):
    """(offset of the CPU table, cpus, [(offset, size)])"""
    lay = tdat_layout.layout(data)
    if lay.version != 6:
        sys.exit("pages.py: %s is not a v6 trace.dat" % sys.argv[2])
    f = {name: off for off, _, name in lay.fields}
    at = next(o for o, w, n in lay.fields if n == "cpus")
    cpus = int.from_bytes(data[at:at + 4], "little")
    if "cpu[0].offset" not in f:
        sys.exit("pages.py: no flyrecord CPU table in %s" % sys.argv[2])
    table = f["cpu[0].offset"]
    cpu = [struct.unpack_from("<QQ", data, table + 16 * c) for c in range(cpus)]
    return table, cpus, cpu, at


def build_file(tmpl, data):
    """harness.c's build_file(): template + CPU table + each CPU's data, page-aligned."""
    at = int.from_bytes(tmpl[:4], "little")
    out = bytearray(tmpl[4:])
    cpus = 1 + (data[0] >> 2 & 15)
    data = data[1:]
    hdr = 2 * (cpus - 1)
    out[at:at + 4] = struct.pack("<I", cpus)
    table, d = len(out), data[hdr:]
    out += bytes(16 * cpus)
    out += bytes(-len(out) % 4096)
    for c in range(cpus):
        n = 64 * int.from_bytes(data[2 * c:2 * c + 2], "little") if c + 1 < cpus else len(d)
        n = min(n, len(d))
        struct.pack_into("<QQ", out, table + 16 * c, len(out), n)
        out += d[:n]
        out += bytes(-len(out) % 4096)
        d = d[n:]
    return bytes(out)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "file":
        with open(sys.argv[4], "wb") as out:
            out.write(build_file(open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()))
        return
    if len(sys.argv) < 4 or sys.argv[1] not in ("template", "seed"):
        sys.exit(__doc__)
    data = open(sys.argv[2], "rb").read()
    table, cpus, cpu, at = cpu_table(data)
    if cpus > 16:
        sys.exit("pages.py: %d CPUs, the harness takes 16 at most" % cpus)
    with open(sys.argv[3], "wb") as out:
        if sys.argv[1] == "template":
            out.write(struct.pack("<I", at) + data[:table])
            return
        room = int(sys.argv[4]) if len(sys.argv) > 4 else 32768
        share = room // cpus // 64 * 64
        parts = [data[o:o + min(s, share)] for o, s in cpu]
        lens = b"".join(struct.pack("<H", len(p) // 64) for p in parts[:-1])
        parts[:-1] = [p[:len(p) // 64 * 64] for p in parts[:-1]]
        out.write(bytes([(cpus - 1) << 2 | len(data) % 4]) + lens + b"".join(parts))


if __name__ == "__main__":
    main()
