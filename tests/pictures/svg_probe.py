#!/usr/bin/env python3
"""tests/t_pictures.sh: reads what `vmwait analyze --svg` drew.

  svg_probe.py lanes SVG             one line per lane: tid vcpu l2 y h
  svg_probe.py x SVG MS              x of the time MS milliseconds after data-t0
  svg_probe.py pixel SVG PNG TID MS  colour (#rrggbb) of the PNG (rendered at
                                     1:1) in the middle of TID's L1 lane at MS
  svg_probe.py titles SVG TID        hover titles of TID's L1 lane, one a line
  svg_probe.py ipis SVG              IPI arrows: x y0 y1 title
  svg_probe.py hists SVG             histogram panels: reason count

The time axis is the one the README documents: x = data-plot-x +
(t - data-t0) * data-plot-w / (data-t1 - data-t0), t in trace nanoseconds.
"""
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

NS = "{http://www.w3.org/2000/svg}"


def load(path):
    return ET.parse(path).getroot()


def x_of(root, ms):
    t0, t1 = int(root.get("data-t0")), int(root.get("data-t1"))
    px, pw = float(root.get("data-plot-x")), float(root.get("data-plot-w"))
    return px + (ms * 1e6) * pw / (t1 - t0)


def lanes(root):
    return [g for g in root.iter(NS + "g") if g.get("class") == "lane"]


def lane(root, tid):
    for g in lanes(root):
        if g.get("data-tid") == tid and g.get("data-l2") == "0":
            return g
    sys.exit("no lane for tid %s" % tid)


def png_pixels(path):
    """Width and rows of RGB triples of an 8-bit, non-interlaced RGB/RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or inter:
                sys.exit("unsupported PNG (depth %d, colour type %d)" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return bpp, rows


def main():
    cmd, root = sys.argv[1], load(sys.argv[2])
    if cmd == "lanes":
        for g in lanes(root):
            print(g.get("data-tid"), g.get("data-vcpu"), g.get("data-l2"), g.get("data-y"),
                  g.get("data-h"))
    elif cmd == "x":
        print("%.2f" % x_of(root, float(sys.argv[3])))
    elif cmd == "pixel":
        g = lane(root, sys.argv[4])
        bpp, rows = png_pixels(sys.argv[3])
        x = int(x_of(root, float(sys.argv[5])))
        y = int(g.get("data-y")) + int(g.get("data-h")) // 2
        print("#%02x%02x%02x" % tuple(rows[y][x * bpp:x * bpp + 3]))
    elif cmd == "titles":
        for e in lane(root, sys.argv[3]).iter(NS + "title"):
            print(e.text)
    elif cmd == "ipis":
        for e in root.iter(NS + "path"):
            if e.get("class") in ("ipi", "ipim") and e.find(NS + "title") is not None:
                m = re.match(r"M([\d.]+) ([\d.]+)V([\d.]+)", e.get("d"))
                print(" ".join(m.groups()) if m else e.get("d"), e.find(NS + "title").text)
    elif cmd == "hists":
        for g in root.iter(NS + "g"):
            if g.get("class") == "hist":
                print(g.get("id")[5:], g.get("data-count"))


if __name__ == "__main__":
    main()
