"""Turn a picture of a handwritten digit into what the networks were trained on: a 28x28 MNIST image.

MNIST's digits were size-normalised to fit a 20x20 box (keeping their aspect ratio, anti-aliased), then placed
in a 28x28 field so that their centre of mass sits at the centre, white ink on black. to_mnist() does the same
to a photo, a scan or a drawing: load it grey (image_io.load_grey: Pillow, EXIF orientation, transparency
flattened), find the ink and make it bright, the paper and its light taken out (ink.ink_map), take out ruled lines
(rules.remove_rules: lined paper, an underline), crop to the ink, thicken strokes much thinner than MNIST's
pen, fit into 20x20 and centre by mass.

Pillow and scipy are imported inside the functions, so `import digitnet` stays NumPy-only.
"""
import numpy as np

from .image_io import MAX_PIXELS, ImageError, describe, load_grey, require_pillow
from .ink import ink_map
from .rules import only_rules, remove_rules
from .strokes import find_objects, label, stroke_width

__all__ = ["to_mnist", "to_field", "stroke_width", "ImageError", "MAX_PIXELS"]

BOX, FIELD = 20, 28        # MNIST: digit fitted into 20x20, centred by mass in 28x28
WORK_SIDE = 4 * BOX        # strokes are measured and thickened with the digit at this size
MNIST_STROKE = 0.14        # stroke width / digit size that thin drawings are thickened to at WORK_SIDE: after
                           # the reduction to 20 px it gives MNIST's ink (median stroke 2.5 px, ~100 px over 0.5)
THIN_STROKE = 0.075       # thinner than MNIST's thinnest 5 % (relative to the digit) gets thickened
MIN_DIGIT_PX = 6           # the ink's bounding box must be at least this big ...
MIN_DIGIT_FRACTION = 0.03  # ... and this fraction of the image's longer side: smaller is a speck, not a digit
STRIP = 12                 # ... the longer side counted as at most STRIP x the shorter (a long strip's digits)


def to_mnist(image):
    """A 28x28 float32 array in [0, 1] (ink bright, max exactly 1) prepared the way MNIST's digits were.

    image: a path (str or os.PathLike), the file's bytes, a binary file object, a PIL.Image, or a
    2-D (grey) / 3-D (RGB or RGBA) NumPy array (uint8, or floats in [0, 1]).
    Ruled lines (lined paper, a long underline) are taken out first (rules.remove_rules).
    Raises ImageError (one line, naming the file) for unreadable or oversized files and for images
    in which no ink stands out from the background, or nothing but ruled lines; it never guesses.
    """
    name = describe(image)
    grey = load_grey(image, name)
    ink, rules = remove_rules(ink_map(grey, name))
    if not ink.any():
        raise ImageError(f"{name}: no digit found: {only_rules(rules)}", "no-digit")
    crop = _crop_to_ink(ink)
    least = speck_limit(ink.shape)
    if max(crop.shape) < least:
        raise ImageError(f"{name}: no digit found: the image is near-blank (only a speck of ink, "
                         f"{crop.shape[1]}x{crop.shape[0]} px)", "no-digit")
    specks = _scattered_specks(crop, least)
    if specks:  # what `read` says of such a picture too
        raise ImageError(f"{name}: no digit found: only {specks} specks of ink", "no-digit")
    return to_field(crop, name)


def _scattered_specks(ink, least):
    """How many pieces of ink there are when no piece, together with the pieces above and below it (overlapping
    it sideways, at most `least` apart), is `least` pixels long: specks strewn over the picture, not a digit.
    0 when some piece is that long (a digit, even one whose strokes are broken), or there is one piece."""
    labels, count = label(ink > 0)
    if count < 2:
        return 0
    boxes = sorted((s[1].start, s[1].stop, s[0].start, s[0].stop) for s in find_objects(labels))
    stacks = []  # [x0, x1, y0, y1] of pieces joined with those above and below them
    for x0, x1, y0, y1 in boxes:
        for st in stacks:
            if x0 < st[1] and st[0] < x1 and max(y0 - st[3], st[2] - y1) <= least:
                st[:] = [min(x0, st[0]), max(x1, st[1]), min(y0, st[2]), max(y1, st[3])]
                break
        else:
            stacks.append([x0, x1, y0, y1])
    return 0 if any(max(x1 - x0, y1 - y0) >= least for x0, x1, y0, y1 in stacks) else count


def speck_limit(shape, fraction=MIN_DIGIT_FRACTION):
    """How long (pixels) ink must be to be a digit in a picture of this shape, not a speck: MIN_DIGIT_PX, and
    `fraction` of the longer side, or of STRIP x the shorter one for a long strip (30000x300: a 220-px digit was a
    speck). One digit fills much of its picture (to_mnist); a number's digits may be small on a page (segment)."""
    return max(MIN_DIGIT_PX, fraction * min(max(shape), STRIP * min(shape)))


def to_field(crop, name="image"):
    """A digit's ink cropped to its box (bright on 0) as the 28x28 field: fitted into 20x20 (thin strokes
    thickened), centred by mass, max 1. to_mnist's last steps; segment prepares each digit of a number so."""
    return _centre(_fit_box(crop), name)


def _main_span(profile):
    """(start, stop) of the heaviest group of nonzero runs in a projection, leaving out distant specks."""
    nz = profile > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], nz.astype(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2]))
    if len(runs) <= 1:
        return (int(runs[0][0]), int(runs[0][1])) if runs else (0, profile.size)
    masses = [float(profile[s:e].sum()) for s, e in runs]
    i = j = int(np.argmax(masses))
    while True:
        extent = runs[j][1] - runs[i][0]
        tol = max(3, 0.35 * extent)
        grew = False
        if i > 0 and runs[i][0] - runs[i - 1][1] <= tol:
            i, grew = i - 1, True
        if j < len(runs) - 1 and runs[j + 1][0] - runs[j][1] <= tol:
            j, grew = j + 1, True
        if not grew:
            break
    left_out = sum(masses) - sum(masses[i:j + 1])
    if left_out > 0.2 * sum(masses):  # a lot of ink elsewhere: not specks, keep it all
        return int(runs[0][0]), int(runs[-1][1])
    return int(runs[i][0]), int(runs[j][1])


def _crop_to_ink(ink):
    """The ink's bounding box, specks far from the digit left out."""
    y0, y1, x0, x1 = 0, ink.shape[0], 0, ink.shape[1]
    for _ in range(2):
        ys = _main_span(ink[y0:y1, x0:x1].sum(axis=1))
        y0, y1 = y0 + ys[0], y0 + ys[1]
        xs = _main_span(ink[y0:y1, x0:x1].sum(axis=0))
        x0, x1 = x0 + xs[0], x0 + xs[1]
    return ink[y0:y1, x0:x1]


# ------------------------------------------------------------------------------- size and strokes

def _max_pool(a, f):
    h, w = a.shape
    p = np.pad(a, ((0, -h % f), (0, -w % f)))
    return p.reshape(p.shape[0] // f, f, p.shape[1] // f, f).max(axis=(1, 3))


def _dilate_disk(a, diameter):
    """Grey dilation (max filter) with a disk of the given diameter in pixels. The result is larger than
    `a` by the disk's radius on every side, so strokes along the edges thicken outwards too."""
    r = (diameter - 1) / 2
    if r <= 0:
        return a
    ri = int(np.ceil(r))
    p = np.pad(a, 2 * ri)
    h, w = a.shape[0] + 2 * ri, a.shape[1] + 2 * ri
    out = p[ri:ri + h, ri:ri + w].copy()
    for dy in range(-ri, ri + 1):
        for dx in range(-ri, ri + 1):
            if dy * dy + dx * dx <= r * r + 0.25 and (dy or dx):
                np.maximum(out, p[ri + dy:ri + dy + h, ri + dx:ri + dx + w], out=out)
    return out


def _resize(a, size):
    """Anti-aliased resize of a float image to (width, height)."""
    require_pillow()
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))  # mode F
    out = np.asarray(img.resize(size, Image.LANCZOS, reducing_gap=3.0), dtype=np.float32)
    return np.clip(out, 0.0, None)


def _fit(shape, side):
    h, w = shape
    scale = side / max(h, w)
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def _fit_box(crop):
    """The digit with its longest side BOX px (aspect kept); strokes much thinner than MNIST's pen are
    thickened first, at WORK_SIDE px, where a max filter has room to work."""
    h, w = crop.shape
    if stroke_width(crop) / max(h, w) >= THIN_STROKE:
        return _resize(crop, _fit(crop.shape, BOX))
    f = max(h, w) // WORK_SIDE
    if f >= 2:  # max-pooling keeps a thin line at full strength where averaging would fade it
        crop = _max_pool(crop, f)
    work = _resize(crop, _fit(crop.shape, WORK_SIDE))
    work = np.clip(work / (0.5 * work.max()), 0.0, 1.0)  # a pen line: solid ink, soft edges
    # Dilating by k px widens the strokes by k and the digit by k too: (w + k) / (side + k) = MNIST_STROKE.
    missing = (MNIST_STROKE * max(work.shape) - stroke_width(work)) / (1 - MNIST_STROKE)
    if missing >= 1:
        work = _dilate_disk(work, int(round(missing)) + 1)
    return _resize(work, _fit(work.shape, BOX))


def _centre(digit, name):
    """Place the digit in the 28x28 field with its centre of mass at (14, 14), as MNIST did; max -> 1."""
    total = float(digit.sum())
    if not total > 0:
        raise ImageError(f"{name}: no digit found: the image is near-blank", "no-digit")
    ys, xs = np.indices(digit.shape)
    cy, cx = float((digit * ys).sum()) / total, float((digit * xs).sum()) / total
    oy, ox = int(round(FIELD / 2 - cy)), int(round(FIELD / 2 - cx))
    out = np.zeros((FIELD, FIELD), dtype=np.float32)
    h, w = digit.shape
    sy0, sx0 = max(0, -oy), max(0, -ox)
    sy1, sx1 = min(h, FIELD - oy), min(w, FIELD - ox)
    if sy1 > sy0 and sx1 > sx0:
        out[oy + sy0:oy + sy1, ox + sx0:ox + sx1] = digit[sy0:sy1, sx0:sx1]
    top = float(out.max())
    if not top > 0:
        raise ImageError(f"{name}: no digit found: the image is near-blank", "no-digit")
    return out / top
