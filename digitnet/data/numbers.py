"""Numbers written with real handwriting: single MNIST digits composed side by side, for measuring and
testing the reading of whole numbers (reader.read, segment.segment).

    image = compose(digits, "touching", rng)     # digits: 28x28 MNIST images, white ink on black

Kinds: "separated" (clear gaps), "touching" (each digit slid toward its left neighbour until the ink
meets, then 0 to 2 MNIST pixels further, so the ink overlaps), "broken" (clear gaps, each digit's strokes
cut apart by erasing a thin line across it: a digit drawn in several strokes). lines() stacks numbers
into a picture of several lines; ruled() draws an underline or the lines of lined paper on a number;
in_fields() writes a number one digit a cell in a form's field (a row of boxes, or a comb of ticks on one
line). The result is white ink on black (uint8), as MNIST; 255 - image is dark ink on paper. Pillow and
scipy are imported inside the functions.
"""
import numpy as np

__all__ = ["KINDS", "RULINGS", "FIELDS", "compose", "lines", "ruled", "in_fields", "tight", "break_strokes"]

KINDS = ("separated", "touching", "broken")
RULINGS = ("underlined", "lined")
FIELDS = ("boxed", "ticked")
INK = 40  # a pixel this bright (of 255) is ink


def tight(digit, scale=2):
    """A 28x28 MNIST digit (uint8 or floats in [0, 1]) enlarged `scale` times (bilinear) and cropped to its ink."""
    from PIL import Image

    a = np.asarray(digit)
    a = np.round(a * 255).astype(np.uint8) if a.dtype != np.uint8 else a
    if scale != 1:
        a = np.asarray(Image.fromarray(a).resize((a.shape[1] * scale, a.shape[0] * scale), Image.BILINEAR))
    ys, xs = np.nonzero(a > 0)
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _pieces(a):
    from scipy import ndimage

    return ndimage.label(a > INK, structure=np.ones((3, 3), dtype=bool))[1]


def break_strokes(digit, rng, scale=2, tries=20):
    """The digit with a thin line (about one MNIST pixel) erased across it, so that it falls into more pieces
    than it had: one digit written in several strokes. After `tries` lines that cut nothing, the last one."""
    h, w = digit.shape
    yy, xx = np.indices(digit.shape)
    before = _pieces(digit)
    out = digit
    for _ in range(tries):
        angle, across = rng.uniform(-1.2, 1.2), rng.uniform(0.25, 0.75)
        distance = np.sin(angle) * (xx - w / 2) + np.cos(angle) * (yy - across * h)
        out = digit.copy()
        out[np.abs(distance) < rng.uniform(0.4, 0.65) * scale] = 0
        if _pieces(out) > before:
            break
    return out


def _placed(digits, rng, scale, jitter):
    """(canvas height, each digit's top row): centred on one line, each moved up or down by up to `jitter`."""
    height = max(d.shape[0] for d in digits) + 2 * jitter
    tops = [jitter + int(rng.integers(-jitter, jitter + 1)) + (height - 2 * jitter - d.shape[0]) // 2 for d in digits]
    return height, tops


def compose(digits, kind, rng, *, scale=2, pad=None, crops_out=None, boxes_out=None):
    """One number from 28x28 MNIST digits, left to right: a uint8 image, white ink on black.
    crops_out: a list to which each digit's picture as placed (enlarged, cropped, broken) is appended;
    boxes_out: one to which each digit's box (x0, y0, x1, y1) in the image is appended."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    pad = 8 * scale if pad is None else pad
    crops = [tight(d, scale) for d in digits]
    if kind == "broken":
        crops = [break_strokes(c, rng, scale) for c in crops]
    if crops_out is not None:
        crops_out.extend(crops)
    height, tops = _placed(crops, rng, scale, 2 * scale)
    canvas = np.zeros((height + 2 * pad, sum(c.shape[1] for c in crops) + 8 * scale * len(crops) + 2 * pad), np.uint8)
    right = pad
    for k, (crop, top) in enumerate(zip(crops, tops)):
        h, w = crop.shape
        y = pad + top
        if kind == "touching" and k:
            x, ink = right, crop > INK
            while x > pad and not (canvas[y:y + h, x - 1:x - 1 + w][ink] > INK).any():
                x -= 1  # slide left until the ink meets the neighbour's
            x = max(pad, x - int(rng.integers(0, 2 * scale + 1)))  # then overlap by 0 to 2 MNIST pixels
        else:
            x = right + (int(rng.integers(3 * scale, 9 * scale)) if k else 0)
        region = canvas[y:y + h, x:x + w]
        np.maximum(region, crop, out=region)
        right = max(right, x + w)
        if boxes_out is not None:
            boxes_out.append((x, y, x + w, y + h))
    return canvas[:, :right + pad]


def lines(numbers, rng, *, gap=None):
    """Numbers (images from compose) stacked top to bottom, each shifted sideways a little: one picture."""
    gap = max(n.shape[0] for n in numbers) // 6 if gap is None else gap
    width = max(n.shape[1] for n in numbers) + 2 * gap
    out = np.zeros((sum(n.shape[0] for n in numbers) + gap * (len(numbers) - 1), width), np.uint8)
    y = 0
    for n in numbers:
        x = int(rng.integers(0, width - n.shape[1] + 1))
        out[y:y + n.shape[0], x:x + n.shape[1]] = n
        y += n.shape[0] + gap
    return out


def ruled(number, boxes, ruling, rng):
    """A number from compose (with its boxes_out) with rules drawn on it, 2 to 4 pixels thick: "underlined", a
    pen line under the digits that touches the lowest, a little off level; "lined", lined paper: grey lines
    across the whole picture, 1.1 to 1.5 digit heights apart, the digits sitting on one (the picture grows by
    a digit height above and below). White ink on black, as compose's."""
    if ruling not in RULINGS:
        raise ValueError(f"ruling must be one of {', '.join(RULINGS)}, not {ruling!r}")
    out = number.copy()
    top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
    height, thick = bottom - top, int(rng.integers(2, 5))
    if ruling == "underlined":
        y = bottom - 1 - int(rng.integers(0, 3))
        x0 = max(0, boxes[0][0] - int(rng.integers(0, 10)))
        x1 = min(out.shape[1], boxes[-1][2] + int(rng.integers(0, 10)))
        slope = rng.uniform(-0.02, 0.02)
        for x in range(x0, x1):
            row = int(round(y + slope * (x - x0)))
            out[max(0, row):row + thick, x] = 255
        return out
    out = np.pad(out, ((height, height), (0, 0)))
    level, spacing = int(rng.integers(100, 256)), int(height * rng.uniform(1.1, 1.5))
    for y in range((bottom + height - int(rng.integers(0, 4))) % spacing, out.shape[0], spacing):
        np.maximum(out[y:y + thick], level, out=out[y:y + thick])
    return out


MIN_CELL = 64  # in_fields' smallest cell: a digit enlarged 2x (up to 56 pixels) with its shift fits


def in_fields(digits, field, rng, *, size=72, crops_out=None):
    """A number written one digit a cell of a form's field, each digit (enlarged 2x) near its cell's middle,
    the lines 2 or 3 pixels thick: "boxed", a box round each digit, the boxes 0 to 11 pixels apart (0: a
    comb, the boxes drawn as one); "ticked", a comb of ticks on one line, as printed forms have them, the
    ticks 0.25 to 0.6 of a cell high and the digits 4 to 11 pixels over the line. crops_out: a list to which
    each digit's picture as placed is appended. White ink on black."""
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, not {field!r}")
    if size < MIN_CELL:
        raise ValueError(f"size must be at least {MIN_CELL} pixels (a digit enlarged 2x is up to 56 high), not {size}")
    thick = int(rng.integers(2, 4))
    gap = int(rng.integers(0, 12)) if field == "boxed" else 0
    out = np.zeros((size + 40, 40 + len(digits) * (size + gap) + thick), np.uint8)
    base, tick = 20 + size, int(size * rng.uniform(0.25, 0.6))
    if field == "ticked":
        out[base - thick:base, 20:20 + len(digits) * size + thick] = 255
    for k, digit in enumerate(digits):
        left = 20 + k * (size + gap)
        if field == "boxed":
            out[20:20 + thick, left:left + size] = out[base - thick:base, left:left + size] = 255
            out[20:base, left:left + thick] = out[20:base, left + size - thick:left + size] = 255
        else:
            out[base - tick:base, left:left + thick] = out[base - tick:base, left + size:left + size + thick] = 255
        d = tight(digit, 2)
        h, w = d.shape
        y = 20 + (size - h) // 2 + int(rng.integers(-4, 5)) if field == "boxed" else \
            base - thick - 4 - h - int(rng.integers(0, 8))
        x = left + (size - w) // 2 + int(rng.integers(-6, 7))
        np.maximum(out[y:y + h, x:x + w], d, out=out[y:y + h, x:x + w])
        if crops_out is not None:
            crops_out.append(d)
    return out
