"""Images that are not digits, for training a net to say so (outlier exposure) and for measuring it.

Outlier exposure (Hendrycks et al., 2019) trains on digits as usual and on outliers whose target is the
uniform distribution over the ten classes, so the net learns to spread its probability when what it sees
is not a digit. The outliers here:

  fashion   Fashion-MNIST's TRAINING images (clothes, shoes, bags; 28x28 like MNIST), from the Debian package
            dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or any folder of the IDX files.
  drawn     pen drawings that are not digits, made here: letters and signs in the machine's TrueType fonts
            (tilted, thinned or thickened) and random pen strokes (lines, arcs and curves), each put through
            preprocess.to_mnist exactly as a user's picture is.
  pairs     two touching digits cut out as one (cut_digits.touching_pairs), from the bundled sample's training
            digits (held out: from its other 2,000): what the reader sees when it fails to cut a pair apart.
  cuts      the reader's wrong cuts (cut_digits.wrong_cuts): pieces of a digit, or a digit with much of its
            neighbour, from numbers of the same digits.

Kept apart from the test outliers on purpose: the rejection report measures with Fashion-MNIST's TEST
images and the hand-designed drawings of tests/fixtures/nondigits (scripts/make_nondigit_set.py), never
with these. Letters a person would read as a digit (O, I, l, S, Z, B, G, g, q ...) are never drawn.
NumPy and Pillow only (Pillow imported when drawing).
"""
import math
from pathlib import Path

import numpy as np

from .errors import DigitnetError

__all__ = ["FASHION_DIR", "FONTS", "available_fonts", "parse_spec", "outlier_sets", "TRAIN_COUNT", "HELD_OUT_COUNT",
           "fashion_images", "drawn_images", "outlier_pool", "uniform_targets"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FONT_DIR = Path("/usr/share/fonts/truetype")
# Debian's fonts-dejavu-core and fonts-liberation. A fixed list, not whatever the machine has, so the same seed
# draws the same outliers on every machine that has them (scripts/make_pretrained.py insists on all of them).
FONTS = ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSans-Oblique.ttf",
         "dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Italic.ttf",
         "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSansNarrow-Regular.ttf",
         "liberation/LiberationSerif-Italic.ttf")
# Characters that are not digits and that no reader takes for one.
GLYPHS = "ACEFHKLMNPRTUVWXYacdefhkmnprtuvwxy&@%#!*+=<>~"
CANVAS = 96


def fashion_images(folder=None, limit=None, *, split="train", dtype=np.float32):
    """Fashion-MNIST images of one split as (N, 784) in [0, 1]; DigitnetError when the files are not there (a
    folder of outliers of your own: data.mnist.training_images)."""
    from .data import load_dataset

    folder = Path(folder) if folder is not None else FASHION_DIR
    try:
        ds = load_dataset(folder, dtype=dtype)
    except Exception as e:
        raise DigitnetError(f"{folder}: no Fashion-MNIST here ({e}); install it with "
                            "apt-get install dataset-fashion-mnist, or name a folder of its IDX files") from None
    x = ds.x_train if split == "train" else ds.x_test
    return x[:limit].reshape(len(x[:limit]), -1)


def available_fonts(folder=FONT_DIR):
    """The FONTS this machine has, in FONTS' order."""
    return [folder / name for name in FONTS if (folder / name).is_file()]


def _glyph(rng, fonts, size=CANVAS):
    """One character in a random font, size and tilt, dark on white (an L image)."""
    from PIL import Image, ImageDraw, ImageFont

    char = GLYPHS[rng.integers(len(GLYPHS))]
    if fonts:
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(40, 70)))
    else:  # no TrueType font on the machine: Pillow's own
        font = ImageFont.load_default(int(rng.integers(40, 70)))
    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).text((size / 2, size / 2), char, fill=0, font=font, anchor="mm",
                             stroke_width=int(rng.integers(0, 4)), stroke_fill=0)
    return img.rotate(float(rng.uniform(-20, 20)), fillcolor=255, resample=Image.BILINEAR)


def _stroke(rng):
    """A random pen stroke in the unit square: a segment, an elliptic arc or a quadratic curve, as points."""
    kind = rng.integers(3)
    if kind == 0:
        return [tuple(p) for p in rng.uniform(0.05, 0.95, size=(2, 2))]
    if kind == 1:
        cx, cy = rng.uniform(0.3, 0.7, 2)
        rx, ry = rng.uniform(0.1, 0.4, 2)
        a0 = rng.uniform(0, 2 * math.pi)
        t = np.linspace(a0, a0 + rng.uniform(1.0, 5.0), 24)
        return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))
    p0, p1, p2 = rng.uniform(0.0, 1.0, size=(3, 2))
    t = np.linspace(0, 1, 20)[:, None]
    return [tuple(p) for p in (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2]


def _polygon(rng):
    """A closed random polygon or star, 3 to 8 corners, as points in the unit square."""
    n = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.15, 0.45, n)
    pts = [(0.5 + r * math.cos(a), 0.5 + r * math.sin(a)) for a, r in zip(angles, radii)]
    return pts + pts[:1]


def _closed_shape(rng):
    """A closed outline that is no digit, as point lists in the unit square: a regular polygon (3 to 6 corners,
    turned and stretched), a house, a heart, a cloud, or an ellipse crossed by a line that runs out of it.
    (A plain ellipse is a 0 and is never drawn.)"""
    kind = rng.integers(5)
    cx, cy, r = 0.5, 0.5, rng.uniform(0.3, 0.45)
    sx, sy = rng.uniform(0.7, 1.3, 2)
    if kind == 0:
        n = int(rng.integers(3, 7))
        a = rng.uniform(0, 2 * math.pi) + np.linspace(0, 2 * math.pi, n + 1)
        return [list(zip(cx + r * sx * np.cos(a), cy + r * sy * np.sin(a)))]
    if kind == 1:
        w, h, roof = r * sx, r * sy, rng.uniform(0.15, 0.35)
        return [[(cx - w, cy), (cx - w, cy + h), (cx + w, cy + h), (cx + w, cy), (cx, cy - roof - h / 2),
                 (cx - w, cy), (cx + w, cy)]]
    t = np.linspace(0, 2 * math.pi, 60)
    if kind == 2:  # a heart
        x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return [list(zip(cx + r * sx * x / 17, cy + r * sy * y / 17))]
    if kind == 3:  # a cloud: bumps around an ellipse
        rho = r * (0.8 + 0.2 * np.abs(np.sin(int(rng.integers(3, 7)) * t / 2)))
        return [list(zip(cx + sx * rho * np.cos(t), cy + 0.7 * sy * rho * np.sin(t)))]
    ring = list(zip(cx + r * sx * np.cos(t), cy + r * sy * np.sin(t)))
    a = rng.uniform(0, math.pi)
    reach = r * rng.uniform(1.2, 1.5)
    dx, dy = math.cos(a), math.sin(a)
    line = [(cx - reach * dx, cy - reach * dy), (cx + reach * dx, cy + reach * dy)]
    across = [(cx - 0.6 * r * dy, cy + 0.6 * r * dx), (cx + 0.6 * r * dy, cy - 0.6 * r * dx)]  # a cross: a second bar
    return [ring, line] if rng.random() < 0.5 else [ring, line, across]


def _strokes(rng, size=CANVAS):
    """A closed outline (_closed_shape), a random polygon with a stroke or two, or two to five random pen strokes,
    with a round pen, dark on white."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    width = int(rng.integers(3, 9))
    pick = rng.random()
    if pick < 0.4:
        shapes = _closed_shape(rng)
    elif pick < 0.6:
        shapes = [_polygon(rng), *(_stroke(rng) for _ in range(rng.integers(0, 3)))]
    else:
        shapes = [_stroke(rng) for _ in range(rng.integers(2, 6))]
    for shape in shapes:
        pts = [(8 + x * (size - 16), 8 + y * (size - 16)) for x, y in shape]
        d.line(pts, fill=0, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):
            d.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return img


def drawn_images(n, seed=0, dtype=np.float32):
    """n pen drawings that are not digits (half letters and signs in fonts, half random strokes), each
    prepared by preprocess.to_mnist: (n, 784) in [0, 1]. The same seed gives the same images."""
    from .preprocess import ImageError, to_mnist

    rng = np.random.default_rng(seed)
    fonts = available_fonts()
    out = []
    while len(out) < n:
        img = _glyph(rng, fonts) if len(out) % 2 == 0 else _strokes(rng)
        try:
            out.append(to_mnist(np.asarray(img)).reshape(-1))
        except ImageError:  # a drawing that came out near-blank: draw another
            continue
    return np.stack(out).astype(dtype) if out else np.zeros((0, 784), dtype)


def outlier_pool(fashion=FASHION_DIR, n_fashion=10_000, n_drawn=10_000, seed=0, dtype=np.float32):
    """The outliers to train on: n_fashion Fashion-MNIST training images (the first ones; none when fashion
    is None) and n_drawn drawings, as one (N, 784) array."""
    parts = []
    if fashion is not None and n_fashion:
        parts.append(fashion_images(fashion, n_fashion, dtype=dtype))
    if n_drawn:
        parts.append(drawn_images(n_drawn, seed=seed, dtype=dtype))
    if not parts:
        raise DigitnetError("no outliers: give Fashion-MNIST or a number of drawings")
    return np.concatenate(parts)


TRAIN_COUNT = 10_000    # outliers of each kind trained on
HELD_OUT_COUNT = 2_000  # and held out, to choose the rejection score with (never the test outliers)
KINDS = ("fashion", "drawn", "pairs", "cuts")
# the kinds made of the reader's own mistakes: cut_digits' function, and the first of its two random streams
READER_KINDS = {"pairs": ("touching_pairs", 3), "cuts": ("wrong_cuts", 5)}


def parse_spec(value):
    """--outliers' value: kinds of KINDS joined by "+" ("fashion", "fashion+drawn", ...) or a folder of IDX files.
    Returns it normalised (kinds in KINDS order, a folder as given); ValueError for anything else."""
    value = str(value).strip()
    parts = value.split("+")
    if all(p in KINDS for p in parts) and len(set(parts)) == len(parts):
        return "+".join(k for k in KINDS if k in parts)
    if value and Path(value).is_dir():
        return value
    raise ValueError(f"{value!r}: give fashion, drawn, pairs, cuts, kinds joined by + (fashion+drawn) or a folder of "
                     "MNIST-format IDX files")


def outlier_sets(spec, seed=1, dtype=np.float32):
    """(outliers to train on, held-out outliers) for a parse_spec value, each (N, 784) in [0, 1].

    fashion: the first TRAIN_COUNT Fashion-MNIST training images, and its last HELD_OUT_COUNT; drawn:
    drawn_images(TRAIN_COUNT, seed) and drawn_images(HELD_OUT_COUNT, seed + 1); pairs: TRAIN_COUNT and
    HELD_OUT_COUNT touching pairs from the sample's training and held-out digits; cuts: as many wrong cuts
    (cut_digits.wrong_cuts) from them; a folder: its training
    images, the last tenth held out (at most HELD_OUT_COUNT). The same spec and seed give the same sets."""
    train, held = [], []
    kinds = spec.split("+") if all(p in KINDS for p in spec.split("+")) else [None]
    for kind in kinds:
        if kind == "drawn":
            train.append(drawn_images(TRAIN_COUNT, seed=seed, dtype=dtype))
            held.append(drawn_images(HELD_OUT_COUNT, seed=seed + 1, dtype=dtype))
            continue
        if kind in READER_KINDS:  # made by cut_digits from the sample's training digits; held out: its other 2,000
            from . import cut_digits
            from .data import load_sample

            make, stream = getattr(cut_digits, READER_KINDS[kind][0]), READER_KINDS[kind][1]
            sample = load_sample()
            train.append(make(sample.x_train, TRAIN_COUNT, np.random.default_rng([seed, stream])).astype(dtype))
            held.append(make(sample.x_test, HELD_OUT_COUNT, np.random.default_rng([seed, stream + 1])).astype(dtype))
            continue
        if kind == "fashion":
            images = fashion_images(dtype=dtype)
        else:  # a folder of the user's: only its training images are needed, and its errors are its own
            from .data.mnist import training_images
            images = training_images(spec, dtype=dtype)
        n_held = min(HELD_OUT_COUNT, images.shape[0] // 10) if kind is None else HELD_OUT_COUNT
        if images.shape[0] - n_held < 1:
            raise DigitnetError(f"{spec}: too few images to train on ({images.shape[0]})")
        rest = images[:images.shape[0] - n_held]
        train.append(rest[:TRAIN_COUNT] if kind == "fashion" else rest)
        held.append(images[images.shape[0] - n_held:])
    return np.concatenate(train), np.concatenate(held)


def uniform_targets(n, classes=10, dtype=np.float32):
    """Outlier exposure's targets: every class equally likely."""
    return np.full((n, classes), 1.0 / classes, dtype=dtype)
