#!/usr/bin/python3
"""png_stats.py — what a screenshot shows, in numbers, with nothing but the
standard library (zlib): a test of the HTML report must not need PIL.

usage: png_stats.py FILE.png [#rrggbb …]
Prints one line of key=value: width, height, colours (distinct RGB values),
nonwhite (the share of pixels that are not near-white, 0 … 1), and for each
colour asked for, how many pixels are within 24 of it on every channel
(`c_rrggbb=N`). Reads 8-bit RGB and RGBA PNGs, not interlaced (what Chromium
writes); anything else is an error.
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("png_stats: %s is not a PNG" % path)
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        sys.exit("png_stats: %s: only 8-bit RGB/RGBA, not interlaced" % path)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        # the five PNG filters, undone in place
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif f == 3:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + (a + prev[x]) // 2) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    path, wanted = sys.argv[1], sys.argv[2:]
    w, h, bpp, rows = read_png(path)
    targets = [(c, int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)) for c in wanted]
    counts = {c[0]: 0 for c in targets}
    colours, nonwhite = set(), 0
    for line in rows:
        for x in range(0, w * bpp, bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            colours.add((r, g, b))
            if r < 235 or g < 235 or b < 235:
                nonwhite += 1
            for name, tr, tg, tb in targets:
                if abs(r - tr) <= 24 and abs(g - tg) <= 24 and abs(b - tb) <= 24:
                    counts[name] += 1
    out = ["width=%d" % w, "height=%d" % h, "colours=%d" % len(colours), "nonwhite=%.4f" % (nonwhite / (w * h))]
    out += ["c_%s=%d" % (name[1:], n) for name, n in counts.items()]
    print(" ".join(out))


if __name__ == "__main__":
    main()
