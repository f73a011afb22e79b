"""Make tests/fixtures/handwriting/: digits 0-9 drawn the way people draw them on paper or screens.

Each digit is a few pen strokes (polylines and elliptic arcs, in a unit box), in one of several
shapes per digit (open or closed 4, 1 with or without a flag, 7 with a hook, ...). Every drawing
gets its own slant, rotation, size, aspect, position on the canvas (off-centre), pen width and a
smooth wobble of the hand, so no two are alike. Then it is rendered as one of:

  thin    black strokes 2-4 px wide on a white 400x300 canvas (PNG; some not anti-aliased,
          as a paint program draws them)
  scan    a grey or cream page with uneven lighting, paper noise, a few dust specks and dark
          blurred ink, saved as JPEG
  alpha   dark ink on a transparent background (RGBA PNG; the transparent pixels are black)
  other   BMP (1-bit), GIF (palette), WebP (lossy), TIFF (LZW), and blue ink on white (PNG)

The label is the first character of the file name: 7_thin_offcentre_2.png is a 7.
Run from the repository root:  .venv/bin/python scripts/make_handwriting_set.py
"""
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "handwriting"
SEED = 20240605
W, H = 400, 300


def arc(cx, cy, rx, ry, a0, a1, n=None):
    """Points on an ellipse from angle a0 to a1 in degrees (y points down: 90 is the bottom)."""
    n = n or max(8, int(abs(a1 - a0) / 6))
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


def curve(p0, p1, p2, n=16):
    """A quadratic Bezier curve from p0 to p2, pulled towards p1."""
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t ** 2 * np.array(p2)
    return [tuple(p) for p in pts]


def line(*pts):
    """A polyline through the points, densified so the hand's wobble bends it."""
    out = []
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        n = max(2, int(math.hypot(x1 - x0, y1 - y0) / 0.04))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(n)]
    return out + [pts[-1]]


# Each shape: a list of strokes, each a list of (x, y) in a box about 0.6 wide and 1 high.
SHAPES = {
    0: [lambda: [arc(0.3, 0.5, 0.29, 0.5, -100, 275)],
        lambda: [arc(0.3, 0.5, 0.22, 0.5, -80, 290)],
        lambda: [arc(0.32, 0.5, 0.32, 0.48, -120, 250)]],
    1: [lambda: [line((0.33, 0.0), (0.3, 1.0))],
        lambda: [line((0.12, 0.2), (0.36, 0.0), (0.33, 1.0))],
        lambda: [line((0.38, 0.0), (0.34, 0.5), (0.3, 1.0))]],
    2: [lambda: [arc(0.3, 0.3, 0.27, 0.28, -165, 20) + line((0.55, 0.4), (0.03, 1.0), (0.62, 0.98))],
        lambda: [arc(0.3, 0.28, 0.28, 0.27, -170, 35) + arc(0.75, 1.05, 0.7, 0.6, -135, -180) +
                 line((0.05, 1.0), (0.6, 1.0))],
        lambda: [arc(0.32, 0.3, 0.26, 0.29, -160, 10) + line((0.57, 0.38), (0.05, 0.98)) +
                 line((0.05, 0.98), (0.35, 0.93), (0.62, 1.0))]],
    3: [lambda: [arc(0.3, 0.25, 0.25, 0.25, -160, 90) + arc(0.3, 0.73, 0.29, 0.27, -90, 160)],
        lambda: [line((0.05, 0.0), (0.55, 0.0), (0.25, 0.42)) + arc(0.3, 0.7, 0.29, 0.3, -100, 155)],
        lambda: [arc(0.32, 0.24, 0.24, 0.24, -170, 80) +
                 arc(0.3, 0.74, 0.3, 0.26, -100, 150)]],
    4: [lambda: [line((0.42, 0.0), (0.02, 0.65), (0.62, 0.65)), line((0.46, 0.32), (0.46, 1.0))],
        lambda: [line((0.06, 0.0), (0.03, 0.55), (0.6, 0.55)), line((0.5, 0.0), (0.5, 1.0))],
        lambda: [line((0.1, 0.02), (0.05, 0.6), (0.62, 0.58)), line((0.52, 0.15), (0.46, 1.0))]],
    5: [lambda: [line((0.58, 0.0), (0.1, 0.0)), line((0.1, 0.0), (0.06, 0.45)) + arc(0.3, 0.7, 0.28, 0.3, -150, 150)],
        lambda: [line((0.1, 0.02), (0.07, 0.42)) + arc(0.28, 0.7, 0.3, 0.29, -140, 155),
                 line((0.1, 0.02), (0.6, 0.0))],
        lambda: [line((0.6, 0.0), (0.12, 0.03), (0.08, 0.45)) + arc(0.3, 0.7, 0.27, 0.3, -145, 140)]],
    6: [lambda: [curve((0.5, 0.0), (0.08, 0.25), (0.06, 0.72)) + arc(0.31, 0.72, 0.25, 0.27, 180, -170)],
        lambda: [line((0.45, 0.0), (0.12, 0.45), (0.06, 0.75)) + arc(0.32, 0.73, 0.26, 0.26, 170, -180)],
        lambda: [curve((0.42, 0.0), (0.08, 0.35), (0.1, 0.74)) + arc(0.34, 0.74, 0.24, 0.25, 175, -160)]],
    7: [lambda: [line((0.0, 0.02), (0.6, 0.0), (0.22, 1.0))],
        lambda: [line((0.02, 0.12), (0.03, 0.0), (0.62, 0.02), (0.35, 0.5), (0.25, 1.0))],
        lambda: [line((0.0, 0.03), (0.58, 0.0)) + curve((0.58, 0.0), (0.42, 0.4), (0.22, 1.0))]],
    8: [lambda: [arc(0.3, 0.25, 0.22, 0.24, 90, 450), arc(0.3, 0.73, 0.28, 0.26, -90, 270)],
        lambda: [arc(0.32, 0.24, 0.2, 0.24, 60, -180) + line((0.14, 0.3), (0.55, 0.7)) +
                 arc(0.3, 0.75, 0.26, 0.25, -20, 200) + line((0.06, 0.68), (0.48, 0.2))],
        lambda: [arc(0.3, 0.26, 0.25, 0.25, 90, 450), arc(0.3, 0.74, 0.25, 0.25, -90, 270)]],
    9: [lambda: [arc(0.3, 0.27, 0.27, 0.26, 0, -360) + line((0.57, 0.27), (0.5, 1.0))],
        lambda: [arc(0.3, 0.26, 0.26, 0.26, 10, -355) + line((0.56, 0.25), (0.56, 0.6), (0.45, 1.0))],
        lambda: [arc(0.32, 0.28, 0.28, 0.27, 20, -350) + arc(-0.1, 0.3, 0.68, 0.7, 0, 80)]],
}


def place(strokes, rng, canvas=(W, H)):
    """Slant, rotate, scale and wobble a drawing, then put it somewhere off the canvas centre."""
    cw, ch = canvas
    height = rng.uniform(0.35, 0.72) * ch
    aspect = rng.uniform(0.8, 1.2)
    slant = rng.uniform(-0.25, 0.35)          # top leans right for most writers
    angle = math.radians(rng.uniform(-8, 8))
    freqs = rng.uniform(1.5, 4.0, size=(2, 2))
    phases = rng.uniform(0, 2 * math.pi, size=(2, 2))
    amp = rng.uniform(0.01, 0.03)

    def warp(x, y):
        x += amp * math.sin(freqs[0, 0] * 2 * y + phases[0, 0]) + amp * math.sin(freqs[0, 1] * 2 * x + phases[0, 1])
        y += amp * math.sin(freqs[1, 0] * 2 * x + phases[1, 0]) + amp * math.sin(freqs[1, 1] * 2 * y + phases[1, 1])
        x = (x - 0.3) * aspect + slant * (0.5 - y)
        y = y - 0.5
        return ((x * math.cos(angle) - y * math.sin(angle)) * height,
                (x * math.sin(angle) + y * math.cos(angle)) * height)

    pts = [[warp(x, y) for x, y in s] for s in strokes]
    xs = [p[0] for s in pts for p in s]
    ys = [p[1] for s in pts for p in s]
    margin = 12
    lo_x, hi_x = margin - min(xs), cw - margin - max(xs)
    lo_y, hi_y = margin - min(ys), ch - margin - max(ys)
    # off-centre: pick a spot in a side third of the free range when there is room
    ox = rng.uniform(lo_x, hi_x) if hi_x > lo_x else cw / 2
    oy = rng.uniform(lo_y, hi_y) if hi_y > lo_y else ch / 2
    return [[(x + ox, y + oy) for x, y in s] for s in pts]


def draw(strokes, size, width, ink, paper, supersample=3, mode="RGB"):
    """Render strokes with a round pen; supersampled then reduced for soft (anti-aliased) edges."""
    k = supersample
    img = Image.new(mode, (size[0] * k, size[1] * k), paper)
    d = ImageDraw.Draw(img)
    w = max(1, int(round(width * k)))
    for s in strokes:
        p = [(x * k, y * k) for x, y in s]
        d.line(p, fill=ink, width=w, joint="curve")
        for x, y in (p[0], p[-1]):  # round pen ends
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=ink)
    return img.resize(size, Image.LANCZOS) if k > 1 else img


def scan_paper(rng, size, cream):
    w, h = size
    base = np.array([238, 230, 206] if cream else [214, 214, 212], dtype=np.float32) + rng.uniform(-8, 8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1 + rng.uniform(-0.08, 0.08) * (xx / w - 0.5) + rng.uniform(-0.08, 0.08) * (yy / h - 0.5)
    page = base[None, None, :] * light[..., None] + rng.normal(0, 5, size=(h, w, 1))
    return np.clip(page, 0, 255)


def make(out=OUT):
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.suffix.lower() in (".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"):
            old.unlink()
    made = []
    others = ["bmp", "gif", "webp", "tif", "blue"]
    for digit, shapes in SHAPES.items():
        # three thin clean drawings, one per shape
        for k, shape in enumerate(shapes, start=1):
            strokes = place(shape(), rng)
            width = rng.uniform(2, 4)
            img = draw(strokes, (W, H), width, ink=0, paper=255, mode="L", supersample=1 if k == 1 else 3)
            made.append((img, f"{digit}_thin_offcentre_{k}.png", {}))
        # a scan: grey or cream paper, noise, dust, uneven light, dark blurred ink, JPEG
        cream = digit % 2 == 0
        size = (360, 270)
        strokes = place(shapes[rng.integers(len(shapes))](), rng, size)
        mask = np.asarray(draw(strokes, size, rng.uniform(2.5, 4.5), ink=255, paper=0, mode="L"),
                          dtype=np.float32) / 255
        mask = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)),
                          dtype=np.float32) / 255
        page = scan_paper(rng, size, cream)
        ink_colour = np.array([45, 42, 50], dtype=np.float32) + rng.uniform(-10, 20)
        page = page * (1 - mask[..., None]) + ink_colour * mask[..., None]
        for _ in range(rng.integers(2, 6)):  # dust
            x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
            page[max(0, y - 1):y + 1, max(0, x - 1):x + 1] *= rng.uniform(0.5, 0.8)
        img = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "RGB")
        made.append((img, f"{digit}_scan_{'cream' if cream else 'grey'}_1.jpg", {"quality": 80}))
        # dark ink on a transparent background
        strokes = place(shapes[rng.integers(len(shapes))](), rng)
        alpha = draw(strokes, (W, H), rng.uniform(2, 4), ink=255, paper=0, mode="L")
        a = np.asarray(alpha)
        rgba = np.zeros((H, W, 4), dtype=np.uint8)  # transparent pixels are black: only alpha tells them apart
        rgba[a > 0, :3] = 20
        rgba[..., 3] = a
        rgba = Image.fromarray(rgba, "RGBA")
        made.append((rgba, f"{digit}_alpha_transparent_1.png", {}))
        # one more in another format, or in blue ink
        kind = others[digit % len(others)]
        strokes = place(shapes[rng.integers(len(shapes))](), rng)
        width = rng.uniform(2, 4)
        if kind == "blue":
            img = draw(strokes, (W, H), width, ink=(30, 60, 190), paper=(250, 250, 245))
            made.append((img, f"{digit}_blue_ink_1.png", {}))
        else:
            img = draw(strokes, (W, H), width, ink=0, paper=255, mode="L")
            if kind == "bmp":
                img = img.point(lambda v: 255 if v > 128 else 0).convert("1")  # a monochrome paint-program file
            if kind == "gif":
                img = img.convert("P", palette=Image.ADAPTIVE, colors=16)
            opts = {"webp": {"quality": 80}, "tif": {"compression": "tiff_lzw"}}.get(kind, {})
            made.append((img, f"{digit}_thin_{kind}_1.{kind}", opts))
    total = 0
    for img, name, opts in made:
        img.save(out / name, **opts)
        total += (out / name).stat().st_size
    print(f"wrote {len(made)} images, {total / 1024:.0f} KiB, to {out}")


if __name__ == "__main__":
    make()
