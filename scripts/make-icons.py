#!/usr/bin/env python3
"""Draws the installable inbox's icons (public/icons/*.png) from the favicon's shapes: a
blue rounded square with a white "A". Standard library only; run it after changing them."""
import math, struct, zlib, pathlib

BLUE, WHITE = (0x1F, 0x4F, 0xD1), (0xFF, 0xFF, 0xFF)


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def inside_rounded(x, y, size, r):
    cx, cy = min(max(x, r), size - r), min(max(y, r), size - r)
    return math.hypot(x - cx, y - cy) <= r


def draw(size, maskable):
    # The favicon's 32-unit grid; a maskable icon keeps the glyph in the middle 80 % and
    # fills the whole square (the launcher applies its own mask).
    scale = size / 32 * (0.8 if maskable else 1.0)
    off = (size - 32 * scale) / 2
    strokes = [((9, 22), (16, 8)), ((16, 8), (23, 22)), ((12, 17), (20, 17))]
    half = 1.5 * scale
    rows, ss = [], 4
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            cover_bg = cover_fg = 0
            for sy in range(ss):
                for sx in range(ss):
                    px, py = x + (sx + 0.5) / ss, y + (sy + 0.5) / ss
                    if maskable or inside_rounded(px, py, size, 7 / 32 * size):
                        cover_bg += 1
                        gx, gy = (px - off) / scale, (py - off) / scale
                        if any(seg_dist(gx, gy, *a, *b) * scale <= half for a, b in strokes):
                            cover_fg += 1
            n = ss * ss
            a = cover_bg / n
            f = cover_fg / max(cover_bg, 1)
            rgb = [round(BLUE[i] * (1 - f) + WHITE[i] * f) for i in range(3)]
            row += bytes(rgb + [round(a * 255)])
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


out = pathlib.Path(__file__).resolve().parent.parent / "public" / "icons"
out.mkdir(parents=True, exist_ok=True)
for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False),
                             ("maskable-512.png", 512, True)]:
    (out / name).write_bytes(draw(size, maskable))
    print(out / name)
