#!/usr/bin/env python3
"""The pictures of docs/reading.md: numbers composed from the bundled sample's test digits (so it runs on
any clone), read by the bundled deep-cnn, with the boxes drawn (reader.draw_reading); one blob of
touching digits with its candidate seams; numbers underlined (4 digits and 2) and on lined paper; a number
written in a row of boxes, one digit on a short line, and a number written in a comb of ticks on one line
(data.numbers.in_fields); numbers photographed with a shadow's edge across them, in dappled light and on a
dark desk (data.photos.lit), read by the default committee as `digitnet read` reads them.

    python scripts/make_reading_gallery.py        # writes docs/gallery/reading-*.png
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "docs" / "gallery"

import digitnet  # noqa: E402  (sys.path is set above)
from digitnet.data import load_sample  # noqa: E402  (sys.path is set above)
from digitnet.data.numbers import RULINGS, compose, in_fields, lines, ruled, tight  # noqa: E402  (sys.path is set above)
from digitnet.data.photos import lit  # noqa: E402  (sys.path is set above)
from digitnet.reader import draw_reading, reading_nets  # noqa: E402  (sys.path is set above)


def small(picture, height=150):
    """Smaller, and in 16 colours: a few KB in the repository."""
    from PIL import Image

    picture = picture.resize((round(picture.width * height / picture.height), height), Image.LANCZOS)
    return picture.quantize(16)


def row(pictures, gap=12):
    from PIL import Image

    pictures = [small(p).convert("RGB") for p in pictures]
    height = max(p.height for p in pictures)
    out = Image.new("RGB", (sum(p.width for p in pictures) + gap * (len(pictures) - 1), height), "white")
    x = 0
    for p in pictures:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def seams_picture(picture):
    """The first touching blob of `picture` (dark on light) with its candidate seams drawn in red."""
    from PIL import Image

    from digitnet.ink import ink_map
    from digitnet.segment import _lines, seams
    from digitnet.strokes import components

    ink = ink_map(picture.astype(np.float32) / 255, "gallery")
    labels, comps, _ = components(ink)
    _, height, _ = _lines(comps, 6, 0)
    widest = max(comps, key=lambda c: c["x1"] - c["x0"])
    blob = labels[widest["y0"]:widest["y1"], widest["x0"]:widest["x1"]] == widest["label"]
    rgb = np.where(blob[..., None], 0, 255).astype(np.uint8).repeat(3, axis=2)
    for cut in seams(blob, height):
        rgb[np.arange(blob.shape[0]), np.clip(cut, 0, blob.shape[1] - 1)] = (214, 39, 40)
    img = Image.fromarray(rgb)
    return img.resize((img.width * 3, img.height * 3), Image.NEAREST)


def on_a_line(digit):
    """One digit written on a short line that runs on past it at both ends (a form's blank): dark on light."""
    d = tight(digit, 2)
    h, w = d.shape
    out = np.zeros((h + 40, w + 80), np.uint8)
    out[20:20 + h, 40:40 + w] = d
    out[19 + h:22 + h, 40 - h // 2:40 + w + h // 2] = 255
    return 255 - out


def main():
    net = digitnet.pretrained("deep-cnn")
    sample = load_sample()
    x = sample.x_test.reshape(-1, 28, 28)
    rng = np.random.default_rng(3)
    OUT.mkdir(parents=True, exist_ok=True)
    for kind in ("separated", "touching", "broken"):
        shown = []
        for _ in range(3):
            picture = 255 - compose(x[rng.integers(0, len(x), 4)], kind, rng)
            shown.append(draw_reading(picture, digitnet.read(picture, net)))
        row(shown).quantize(16).save(OUT / f"reading-{kind}.png", optimize=True)
    parts = [compose(x[rng.integers(0, len(x), int(rng.integers(3, 6)))], "separated", rng) for _ in range(3)]
    picture = 255 - lines(parts, rng)
    small(draw_reading(picture, digitnet.read(picture, net)), 300).save(OUT / "reading-lines.png", optimize=True)
    touching = 255 - compose(x[rng.integers(0, len(x), 3)], "touching", rng)
    seams_picture(touching).save(OUT / "reading-seams.png", optimize=True)
    rng = np.random.default_rng(4)  # its own stream: the pictures above stay as they were
    shown = []
    for ruling, size in [(r, 4) for r in RULINGS] + [("underlined", 2)]:  # and a short underline
        boxes = []
        number = compose(x[rng.integers(0, len(x), size)], "separated", rng, boxes_out=boxes)
        picture = 255 - ruled(number, boxes, ruling, rng)
        shown.append(draw_reading(picture, digitnet.read(picture, net)))
    row(shown).quantize(16).save(OUT / "reading-ruled.png", optimize=True)
    rng = np.random.default_rng(5)  # boxes and a short line: a stream of their own too
    pictures = (255 - in_fields(x[rng.integers(0, len(x), 4)], "boxed", rng), on_a_line(x[rng.integers(0, len(x))]),
                255 - in_fields(x[rng.integers(0, len(x), 5)], "ticked", rng))
    shown = [draw_reading(p, digitnet.read(p, net)) for p in pictures]
    row(shown).quantize(16).save(OUT / "reading-boxes.png", optimize=True)
    rng = np.random.default_rng(6)  # photos: a stream of their own
    photos = [lit(255 - compose(x[rng.integers(0, len(x), 4)], "separated", rng), kind, rng)
              for kind in ("shadowed", "dappled", "desk")]
    committee = reading_nets()  # read as `digitnet read` reads them
    row([draw_reading(p, digitnet.read(p, committee)) for p in photos]).quantize(16).save(
        OUT / "reading-photos.png", optimize=True)
    for path in sorted(OUT.glob("reading-*.png")):
        print(f"{path}: {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
