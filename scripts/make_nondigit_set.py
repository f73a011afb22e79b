"""Make tests/fixtures/nondigits/: letters, shapes and scribbles drawn with a pen, the way the digit fixtures are.

The outliers a digit reader meets on paper and on the pad: capital and small letters drawn in strokes,
shapes (a triangle, a square, a star, a heart, an arrow, a circle with a bar through it ...) and
scribbles. Each is placed, slanted, wobbled and inked with the digit fixtures' own pen
(scripts/make_handwriting_set.place and draw), so that only the shape tells them from a digit.

Letters a person would read as a digit are left out, as are shapes that are one (a plain ring is a 0,
a lone stroke a 1): O o D Q, I l i j J, Z z, S s, G b, B, g q; and so is any scribble that came out
looking like a digit (DIGIT_LIKE_SCRIBBLES, chosen by looking at them). These are the TEST outliers of the
rejection report: nothing in digitnet trains on them (digitnet.outliers draws its own, differently).
Run from the repository root:  .venv/bin/python scripts/make_nondigit_set.py
"""
import importlib.util
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_handwriting_set", HERE / "make_handwriting_set.py")
hw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hw)
arc, curve, line, place, draw = hw.arc, hw.curve, hw.line, hw.place, hw.draw

OUT = HERE.parent / "tests" / "fixtures" / "nondigits"
SEED = 20261202
# Scribbles are random; these came out looking like a digit (scribble 9 is a fair 3) and are drawn but not kept.
DIGIT_LIKE_SCRIBBLES = {9}
W, H = 300, 240

# Strokes in the digits' box: about 0.6 wide and 1 high (wider shapes reach past it; place() scales them all).
LETTERS = {
    "A": lambda: [line((0.0, 1.0), (0.3, 0.0), (0.6, 1.0)), line((0.12, 0.62), (0.48, 0.62))],
    "C": lambda: [arc(0.35, 0.5, 0.33, 0.5, -50, -310)],
    "E": lambda: [line((0.55, 0.0), (0.05, 0.0), (0.05, 1.0), (0.55, 1.0)), line((0.05, 0.5), (0.45, 0.5))],
    "F": lambda: [line((0.55, 0.0), (0.05, 0.0), (0.05, 1.0)), line((0.05, 0.48), (0.45, 0.48))],
    "H": lambda: [line((0.02, 0.0), (0.02, 1.0)), line((0.58, 0.0), (0.58, 1.0)), line((0.02, 0.5), (0.58, 0.5))],
    "K": lambda: [line((0.05, 0.0), (0.05, 1.0)), line((0.58, 0.0), (0.05, 0.58)), line((0.22, 0.42), (0.6, 1.0))],
    "L": lambda: [line((0.05, 0.0), (0.05, 1.0), (0.55, 1.0))],
    "M": lambda: [line((0.0, 1.0), (0.05, 0.0), (0.32, 0.6), (0.6, 0.0), (0.65, 1.0))],
    "N": lambda: [line((0.02, 1.0), (0.02, 0.0), (0.58, 1.0), (0.58, 0.0))],
    "P": lambda: [line((0.05, 1.0), (0.05, 0.0)) + arc(0.1, 0.27, 0.42, 0.27, -90, 90)],
    "R": lambda: [line((0.05, 1.0), (0.05, 0.0)) + arc(0.1, 0.27, 0.42, 0.27, -90, 90) +
                  line((0.1, 0.54), (0.58, 1.0))],
    "T": lambda: [line((0.0, 0.0), (0.62, 0.0)), line((0.31, 0.0), (0.31, 1.0))],
    "U": lambda: [line((0.03, 0.0), (0.03, 0.65)) + arc(0.3, 0.65, 0.27, 0.35, 180, 0) +
                  line((0.57, 0.65), (0.57, 0.0))],
    "V": lambda: [line((0.0, 0.0), (0.3, 1.0), (0.6, 0.0))],
    "W": lambda: [line((-0.1, 0.0), (0.1, 1.0), (0.3, 0.3), (0.5, 1.0), (0.7, 0.0))],
    "X": lambda: [line((0.0, 0.0), (0.6, 1.0)), line((0.6, 0.0), (0.0, 1.0))],
    "Y": lambda: [line((0.0, 0.0), (0.3, 0.5), (0.6, 0.0)), line((0.3, 0.5), (0.3, 1.0))],
    "a": lambda: [arc(0.28, 0.7, 0.24, 0.28, -20, -340) + line((0.52, 0.45), (0.52, 1.0))],
    "e": lambda: [line((0.05, 0.7), (0.55, 0.7)) + arc(0.3, 0.7, 0.25, 0.3, 0, -320)],
    "h": lambda: [line((0.05, 0.0), (0.05, 1.0)), arc(0.3, 0.62, 0.25, 0.2, 180, 360) +
                  line((0.55, 0.62), (0.55, 1.0))],
    "k": lambda: [line((0.05, 0.0), (0.05, 1.0)), line((0.5, 0.45), (0.05, 0.75), (0.55, 1.0))],
    "m": lambda: [line((0.0, 0.45), (0.0, 1.0)), arc(0.17, 0.6, 0.17, 0.15, 180, 360) + line((0.34, 0.6), (0.34, 1.0)),
                  arc(0.51, 0.6, 0.17, 0.15, 180, 360) + line((0.68, 0.6), (0.68, 1.0))],
    "n": lambda: [line((0.05, 0.4), (0.05, 1.0)), arc(0.3, 0.62, 0.25, 0.22, 180, 360) +
                  line((0.55, 0.62), (0.55, 1.0))],
    "r": lambda: [line((0.1, 0.4), (0.1, 1.0)), curve((0.1, 0.65), (0.2, 0.4), (0.5, 0.42))],
    "u": lambda: [line((0.05, 0.4), (0.05, 0.75)) + arc(0.3, 0.75, 0.25, 0.25, 180, 0) +
                  line((0.55, 0.75), (0.55, 0.4)),
                  line((0.55, 0.4), (0.58, 1.0))],
    "w": lambda: [line((0.0, 0.4), (0.15, 1.0), (0.32, 0.6), (0.5, 1.0), (0.65, 0.4))],
    "x": lambda: [line((0.0, 0.4), (0.55, 1.0)), line((0.55, 0.4), (0.0, 1.0))],
    "y": lambda: [line((0.0, 0.3), (0.3, 0.7)), line((0.6, 0.3), (0.1, 1.1))],
}


def _polygon(n, r=0.5, start=-90, cx=0.3, cy=0.5):
    pts = [(cx + r * math.cos(math.radians(start + 360 * k / n)), cy + r * math.sin(math.radians(start + 360 * k / n)))
           for k in range(n + 1)]
    return line(*pts)


def _star():
    pts = []
    for k in range(11):
        r = 0.5 if k % 2 == 0 else 0.2
        a = math.radians(-90 + 36 * k)
        pts.append((0.3 + r * math.cos(a), 0.5 + r * math.sin(a)))
    return [line(*pts)]


SHAPES = {
    "triangle": lambda: [_polygon(3)],
    "square": lambda: [line((0.0, 0.1), (0.6, 0.1), (0.6, 0.9), (0.0, 0.9), (0.0, 0.1))],
    "diamond": lambda: [line((0.3, 0.0), (0.65, 0.5), (0.3, 1.0), (-0.05, 0.5), (0.3, 0.0))],
    "pentagon": lambda: [_polygon(5)],
    "star": _star,
    "heart": lambda: [arc(0.15, 0.3, 0.16, 0.16, 180, 360) + arc(0.45, 0.3, 0.16, 0.16, 180, 360) +
                      line((0.61, 0.3), (0.3, 0.95), (-0.01, 0.3))],
    "arrow": lambda: [line((-0.2, 0.5), (0.8, 0.5)), line((0.5, 0.25), (0.8, 0.5), (0.5, 0.75))],
    "circle-bar": lambda: [arc(0.3, 0.5, 0.35, 0.35, 0, 360), line((0.3, -0.05), (0.3, 1.05))],
    "circle-slash": lambda: [arc(0.3, 0.5, 0.35, 0.35, 0, 360), line((0.0, 0.85), (0.6, 0.15))],
    "circle-cross": lambda: [arc(0.3, 0.5, 0.35, 0.35, 0, 360), line((-0.05, 0.5), (0.65, 0.5)),
                             line((0.3, 0.15), (0.3, 0.85))],
    "plus": lambda: [line((0.3, 0.1), (0.3, 0.9)), line((-0.1, 0.5), (0.7, 0.5))],
    "hash": lambda: [line((0.15, 0.0), (0.1, 1.0)), line((0.45, 0.0), (0.4, 1.0)), line((-0.1, 0.33), (0.7, 0.33)),
                     line((-0.12, 0.66), (0.68, 0.66))],
    "asterisk": lambda: [line((0.3, 0.1), (0.3, 0.9)), line((-0.05, 0.3), (0.65, 0.7)),
                         line((-0.05, 0.7), (0.65, 0.3))],
    "smiley": lambda: [arc(0.3, 0.5, 0.45, 0.45, 0, 360), arc(0.3, 0.55, 0.25, 0.2, 20, 160),
                       arc(0.15, 0.35, 0.04, 0.04, 0, 360), arc(0.45, 0.35, 0.04, 0.04, 0, 360)],
    "spiral": lambda: [[(0.3 + (0.05 + 0.45 * k / 80) * math.cos(k / 80 * 5 * math.pi),
                         0.5 + (0.05 + 0.45 * k / 80) * math.sin(k / 80 * 5 * math.pi)) for k in range(81)]],
    "zigzag": lambda: [line((-0.2, 0.3), (0.0, 0.7), (0.2, 0.3), (0.4, 0.7), (0.6, 0.3), (0.8, 0.7))],
    "wave": lambda: [[(-0.3 + 1.2 * k / 60, 0.5 + 0.2 * math.sin(k / 60 * 4 * math.pi)) for k in range(61)]],
    "lightning": lambda: [line((0.45, 0.0), (0.1, 0.55), (0.45, 0.45), (0.15, 1.0))],
    "house": lambda: [line((0.0, 1.0), (0.0, 0.45), (0.3, 0.1), (0.6, 0.45), (0.6, 1.0), (0.0, 1.0))],
    "cloud": lambda: [arc(0.05, 0.6, 0.15, 0.15, 90, 270) + arc(0.2, 0.45, 0.16, 0.16, 180, 330) +
                      arc(0.45, 0.45, 0.16, 0.16, 210, 360) + arc(0.55, 0.6, 0.15, 0.15, -90, 90) +
                      line((0.55, 0.75), (0.05, 0.75))],
}


def scribble(rng):
    """A hand going round and back: a few random curves through random points, in one or two strokes."""
    strokes = []
    for _ in range(rng.integers(1, 3)):
        pts = rng.uniform([-0.2, 0.0], [0.8, 1.0], size=(rng.integers(7, 12), 2))
        s = []
        for p0, p1, p2 in zip(pts[:-2:2], pts[1:-1:2], pts[2::2]):
            s += curve(tuple(p0), tuple(p1), tuple(p2))
        strokes.append(s)
    return strokes


def hatching(rng):
    """Parallel strokes, as a shading or a crossed-out box."""
    n = rng.integers(4, 7)
    a = rng.uniform(-0.4, 0.4)
    return [line((-0.1 + 0.8 * k / n + a, 0.0), (-0.1 + 0.8 * k / n - a, 1.0)) for k in range(n)]


def render(strokes, rng, style):
    placed = place(strokes, rng, (W, H))
    width = rng.uniform(2.5, 6)
    if style == "blue":
        return draw(placed, (W, H), width, ink=(30, 60, 190), paper=(250, 250, 245))
    if style == "dark":  # light ink on a dark pad, as the web page's canvas
        return draw(placed, (W, H), width, ink=255, paper=0, mode="L")
    return draw(placed, (W, H), width, ink=0, paper=255, mode="L")


def make(out=OUT):
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    styles = ["thin", "thin", "blue", "dark"]
    items = [(f"letter-{'cap' if k.isupper() else 'small'}-{k}", f) for k, f in LETTERS.items()]
    items += [(f"shape-{k}", f) for k, f in SHAPES.items()]
    made = []
    for n, (name, shape) in enumerate(items):
        made.append((render(shape(), rng, styles[n % len(styles)]), f"{name}.png"))
    for k in range(12):
        img = render(scribble(rng), rng, styles[k % len(styles)])
        if k + 1 not in DIGIT_LIKE_SCRIBBLES:
            made.append((img, f"scribble-{k + 1:02d}.png"))
    for k in range(4):
        made.append((render(hatching(rng), rng, styles[(k + 1) % len(styles)]), f"hatching-{k + 1:02d}.png"))
    total = 0
    for img, name in made:
        img.save(out / name, optimize=True)
        total += (out / name).stat().st_size
    print(f"wrote {len(made)} images, {total / 1024:.0f} KiB, to {out}")


if __name__ == "__main__":
    make()
