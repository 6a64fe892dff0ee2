"""Where the fields of a trace.dat (v6 or v7) lie: a tolerant walk that lists
every size, count, offset and string field it meets, the format texts, and
the chunks of v7 compressed data, so that mutations can aim at them.

layout(data) -> Layout(fields=[(offset, width, name)], texts=[(offset, length)],
                        chunks=[(offset, length)], version=int)
The walk stops quietly where the file stops making sense.
"""
import struct

MAGIC = b"\x17\x08\x44tracing"

# v7 option ids holding an 8-byte section offset
V7_SECTION_OPTS = {16: "HEADER_INFO", 17: "FTRACE_EVENTS", 18: "EVENT_FORMATS",
                   19: "KALLSYMS", 20: "PRINTK", 21: "CMDLINES"}


class Layout:
    def __init__(self):
        self.fields = []    # (offset, width, name)
        self.texts = []     # (offset, length) of event format text
        self.chunks = []    # (offset, length) of a compressed chunk, header included
        self.version = 0
        self.compressed = False


class Walk:
    def __init__(self, data, lay):
        self.d = data
        self.lay = lay
        self.pos = 0

    def need(self, n):
        if self.pos + n > len(self.d):
            raise EOFError
        v = self.d[self.pos:self.pos + n]
        self.pos += n
        return v

    def num(self, width, name):
        off = self.pos
        v = int.from_bytes(self.need(width), "little")
        self.lay.fields.append((off, width, name))
        return v

    def cstr(self, name=None):
        end = self.d.index(b"\0", self.pos)
        s = self.d[self.pos:end]
        if name:
            self.lay.fields.append((self.pos, end - self.pos + 1, name))
        self.pos = end + 1
        return s

    def blob(self, size, text=False):
        off = self.pos
        self.need(size)
        if text and size:
            self.lay.texts.append((off, size))


def _v6(w):
    lay = w.lay
    for name in (b"header_page", b"header_event"):
        w.cstr("str:" + name.decode())
        w.blob(w.num(8, name.decode() + ".size"))
    n = w.num(4, "ftrace.count")
    for i in range(min(n, 4096)):
        w.blob(w.num(8, "ftrace[%d].size" % i), text=True)
    n = w.num(4, "systems.count")
    for i in range(min(n, 4096)):
        w.cstr("system[%d].name" % i)
        m = w.num(4, "system[%d].count" % i)
        for j in range(min(m, 4096)):
            w.blob(w.num(8, "system[%d].event[%d].size" % (i, j)), text=True)
    w.blob(w.num(4, "kallsyms.size"))
    w.blob(w.num(4, "printk.size"))
    w.blob(w.num(8, "cmdlines.size"))
    cpus = w.num(4, "cpus")
    kind = w.need(10)
    if kind.startswith(b"options"):
        while True:
            oid = w.num(2, "option.id")
            if oid == 0:
                break
            size = w.num(4, "option[%d].size" % oid)
            _option(w, oid, size)
        kind = w.need(10)
    if kind.startswith(b"flyrecord"):
        for c in range(min(cpus, 1024)):
            w.num(8, "cpu[%d].offset" % c)
            w.num(8, "cpu[%d].size" % c)
    del lay


def _option(w, oid, size):
    """One option's payload; the v7 section offsets and buffers inside it."""
    end = w.pos + size
    if oid in V7_SECTION_OPTS and size >= 8:
        w.num(8, "opt.%s.offset" % V7_SECTION_OPTS[oid])
    elif oid == 3 and size >= 8:    # BUFFER: offset, name, [clock, page, cpus, cpu table]
        w.num(8, "opt.BUFFER.offset")
        w.cstr("opt.BUFFER.name")
        if w.lay.version >= 7:
            w.cstr("opt.BUFFER.clock")
            w.num(4, "opt.BUFFER.page_size")
            cpus = w.num(4, "opt.BUFFER.cpus")
            for c in range(min(cpus, 1024)):
                w.num(4, "opt.BUFFER.cpu[%d].id" % c)
                w.num(8, "opt.BUFFER.cpu[%d].offset" % c)
                w.num(8, "opt.BUFFER.cpu[%d].size" % c)
    elif oid == 8 and size >= 4:    # CPUCOUNT
        w.num(4, "opt.CPUCOUNT")
    w.pos = end


def _v7_section(w, seen):
    """A section header at w.pos, and what is inside the ones we know."""
    if w.pos in seen or len(seen) > 64:
        return None
    seen.add(w.pos)
    sid = w.num(2, "sec.id")
    flags = w.num(2, "sec.flags")
    w.num(4, "sec.string_id")
    size = w.num(8, "sec.size")
    body = w.pos
    nxt = None
    if flags & 1 and sid != 3:      # one compressed block (flyrecord: chunks)
        w.lay.chunks.append((body, size))
        w.num(4, "sec.comp_size")
        w.num(4, "sec.uncomp_size")
        return None
    if sid == 0:                    # options
        while w.pos < body + size:
            oid = w.num(2, "option.id")
            osize = w.num(4, "option[%d].size" % oid)
            if oid == 0:
                nxt = w.num(8, "options.next") if osize >= 8 else 0
                break
            if oid in V7_SECTION_OPTS or oid == 3:
                save = w.pos
                _option(w, oid, osize)
                w.pos = save
                off = int.from_bytes(w.d[save:save + 8], "little")
                w.lay.pending.append(off)
            w.pos += osize
    elif sid in (17, 18):           # format texts
        w.blob(min(size, len(w.d) - w.pos), text=True)
    return nxt


def _v7(w):
    w.lay.pending = []
    w.cstr("compression.name")
    w.cstr("compression.version")
    nxt = w.num(8, "first_options.offset")
    seen = set()
    while nxt:
        w.pos = nxt
        try:
            nxt = _v7_section(w, seen)
        except (EOFError, ValueError):
            break
    for off in w.lay.pending:
        w.pos = off
        try:
            _v7_section(w, seen)
        except (EOFError, ValueError):
            pass
    _v7_flyrecord(w)


def _v7_flyrecord(w):
    """Compressed per-CPU data: chunk count, then (comp, uncomp, data) chunks."""
    if not w.lay.compressed:
        return
    cpus = [f for f in w.lay.fields if f[2].startswith("opt.BUFFER.cpu[") and
            f[2].endswith("].offset")]
    for off, _, name in cpus:
        pos = int.from_bytes(w.d[off:off + 8], "little")
        if pos <= 0 or pos + 4 > len(w.d):
            continue
        w.pos = pos
        try:
            n = w.num(4, name.replace(".offset", ".chunks"))
            for _ in range(min(n, 100000)):
                start = w.pos
                comp = w.num(4, "chunk.comp_size")
                w.num(4, "chunk.uncomp_size")
                w.need(comp)
                w.lay.chunks.append((start, 8 + comp))
        except (EOFError, ValueError):
            pass


def layout(data):
    lay = Layout()
    w = Walk(data, lay)
    try:
        if w.need(10) != MAGIC:
            return lay
        lay.version = int(w.cstr("version") or b"0")
        w.num(1, "endian")
        w.num(1, "long_size")
        w.num(4, "page_size")
        if lay.version >= 7:
            save = w.pos
            name = w.cstr()
            lay.compressed = name not in (b"none", b"")
            w.pos = save
            _v7(w)
        else:
            _v6(w)
    except (EOFError, ValueError):
        pass
    return lay


if __name__ == "__main__":
    import sys
    with open(sys.argv[1], "rb") as f:
        d = f.read()
    lay = layout(d)
    print("version", lay.version, "compressed", lay.compressed)
    for f in lay.fields:
        print("%8d %d %s = %d" % (f[0], f[1], f[2], int.from_bytes(d[f[0]:f[0] + min(f[1], 8)], "little")))
    print("texts", len(lay.texts), "chunks", len(lay.chunks))
