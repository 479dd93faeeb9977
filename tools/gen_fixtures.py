#!/usr/bin/env python3
"""Writes the small fixture files of tests/data/ used by tests/c/test_{image,npy,idx}.c.

    python3 tools/gen_fixtures.py tests/data

PNG files are assembled chunk by chunk (zlib + crc32), so they exercise
colour types, bit depths, palettes, tRNS and interlacing independently of
libpng's writer; each comes with <name>.expected.npy, the float32 [C x H x W]
tensor relua must read (samples / (2^depth - 1), palette and tRNS expanded).
NPY files come from numpy itself (headers as numpy writes them); IDX files
are written by hand, some gzip-compressed; resize references come from
Pillow (python3-pil, a dependency of python3-matplotlib). Deterministic: reruns give the
same bytes (gzip mtime 0).
"""
import gzip
import os
import struct
import sys
import zlib

import numpy as np


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Samples (ints) of one row packed at depth bits, big-endian."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, n = bytearray(), 0, 0
    for s in samples:
        acc = acc << depth | s
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(path, samples, color_type, depth, plte=None, trns=None, interlace=False, filt=0):
    """samples: int array [H][W][channels as stored]."""
    h, w = samples.shape[:2]
    raw = bytearray()
    if not interlace:
        for y in range(h):
            raw.append(0)
            raw += pack_row(samples[y].reshape(-1).tolist(), depth)
    else:
        for x0, y0, dx, dy in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if not xs or not ys:
                continue
            for y in ys:
                raw.append(0)
                raw += pack_row(samples[y, xs].reshape(-1).tolist(), depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte is not None:
        data += chunk(b"PLTE", bytes(np.asarray(plte, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    z = zlib.compress(bytes(raw), 9)
    data += chunk(b"IDAT", z[: len(z) // 2]) + chunk(b"IDAT", z[len(z) // 2:])  # two IDATs
    data += chunk(b"IEND", b"")
    open(path, "wb").write(data)


def expect(path, chw):
    np.save(path, np.ascontiguousarray(chw, dtype=np.float32))


def main(out):
    os.makedirs(out, exist_ok=True)
    j = lambda name: os.path.join(out, name)
    h, w = 5, 7
    yy, xx = np.mgrid[0:h, 0:w]

    # 16-bit gray
    g16 = (yy * 9001 + xx * 1234 + 17) % 65536
    png(j("gray16.png"), g16[..., None], 0, 16)
    expect(j("gray16.expected.npy"), g16[None] / 65535.0)

    # 8-bit gray + alpha
    ga = np.stack([(yy * 40 + xx * 3) % 256, (255 - xx * 30) % 256], -1)
    png(j("ga8.png"), ga, 4, 8)
    expect(j("ga8.expected.npy"), ga.transpose(2, 0, 1) / 255.0)

    # 16-bit RGBA, interlaced
    rgba = np.stack([(yy * 5000 + xx) % 65536, (xx * 7000) % 65536, (yy * xx * 999) % 65536,
                     (65535 - yy * 100) % 65536], -1)
    png(j("rgba16i.png"), rgba, 6, 16, interlace=True)
    expect(j("rgba16i.expected.npy"), rgba.transpose(2, 0, 1) / 65535.0)

    # 4-bit palette with tRNS for the first 3 entries
    pal = np.array([[(k * 17) % 256, (255 - k * 13) % 256, (k * 71) % 256] for k in range(16)])
    idx = (yy * 3 + xx) % 16
    alpha = [0, 128, 200]
    png(j("pal4trns.png"), idx[..., None], 3, 4, plte=pal, trns=bytes(alpha))
    a = np.array([alpha[k] if k < 3 else 255 for k in range(16)])
    expect(j("pal4trns.expected.npy"), np.concatenate([pal[idx].transpose(2, 0, 1), a[idx][None]]) / 255.0)

    # 8-bit palette, no tRNS
    idx8 = (yy * 7 + xx * 2) % 16
    png(j("pal8.png"), idx8[..., None], 3, 8, plte=pal)
    expect(j("pal8.expected.npy"), pal[idx8].transpose(2, 0, 1) / 255.0)

    # 1-bit gray
    g1 = (yy + xx) % 2
    png(j("gray1.png"), g1[..., None], 0, 1)
    expect(j("gray1.expected.npy"), g1[None].astype(np.float64))

    # 8-bit RGB with a tRNS colour key (becomes RGBA)
    rgb = np.stack([xx * 30, yy * 50, (xx + yy) * 10], -1)
    key = rgb[2, 3]
    png(j("rgb8key.png"), rgb, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in key]))
    am = np.where((rgb == key).all(-1), 0, 255)
    expect(j("rgb8key.expected.npy"), np.concatenate([rgb.transpose(2, 0, 1), am[None]]) / 255.0)

    # resize references from Pillow (independent implementation of the
    # triangle filter): mode 'F' images resized with Image.BILINEAR
    from PIL import Image
    rng = np.random.default_rng(5)
    inputs = {}
    for H, W, h2, w2 in [(9, 13, 4, 5), (9, 13, 20, 7), (31, 17, 7, 30)]:
        if (H, W) not in inputs:
            inputs[H, W] = rng.standard_normal((H, W)).astype(np.float32)
            np.save(j("resize_%dx%d.npy" % (H, W)), inputs[H, W])
        x = inputs[H, W]
        ref = np.asarray(Image.fromarray(x, mode="F").resize((w2, h2), Image.BILINEAR))
        np.save(j("resize_%dx%d_to_%dx%d.pil.npy" % (H, W, h2, w2)), ref.astype(np.float32))

    # NPY files as numpy writes them
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.5 - 3
    np.save(j("f8_big_fortran.npy"), np.asfortranarray(a.astype(">f8")))
    np.save(j("i2_little.npy"), (np.arange(12, dtype="<i2") * 1000 - 6000).reshape(3, 4))
    np.save(j("bool.npy"), np.array([[True, False, True], [False, False, True]]))
    np.save(j("u1_scalar.npy"), np.array(200, dtype=np.uint8))
    np.save(j("f4_1d.npy"), np.array([1.5, -2.25, 3e-8, 65504.0], dtype="<f4"))
    with open(j("f4_v2.npy"), "wb") as f:  # format 2.0
        np.lib.format.write_array(f, np.array([[1, 2], [3, 4]], dtype="<f4"), version=(2, 0))

    # IDX: ubyte images (plain and gzip), labels, int16, float64
    imgs = ((np.arange(3 * 4 * 5).reshape(3, 4, 5) * 13) % 256).astype(np.uint8)
    idx3 = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 3, 4, 5) + imgs.tobytes()
    open(j("images-idx3-ubyte"), "wb").write(idx3)
    with gzip.GzipFile(j("images-idx3-ubyte.gz"), "wb", mtime=0) as f:
        f.write(idx3)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    with gzip.GzipFile(j("labels-idx1-ubyte.gz"), "wb", mtime=0) as f:
        f.write(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + labels.tobytes())
    s16 = np.array([[-32768, -1, 0], [1, 2, 32767]], dtype=">i2")
    open(j("s16-idx2"), "wb").write(struct.pack(">BBBBII", 0, 0, 0x0B, 2, 2, 3) + s16.tobytes())
    f64 = np.array([0.5, -1e300, 3.25], dtype=">f8")
    open(j("f64-idx1"), "wb").write(struct.pack(">BBBBI", 0, 0, 0x0E, 1, 3) + f64.tobytes())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data")
