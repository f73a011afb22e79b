"""Turn a picture of a handwritten digit into what the networks were trained on: a 28x28 MNIST image.

MNIST's digits were size-normalised to fit a 20x20 box (keeping their aspect ratio, anti-aliased), then placed
in a 28x28 field so that their centre of mass sits at the centre, white ink on black. to_mnist() does the same
to a photo, a scan or a drawing: load it grey (image_io.load_grey: Pillow, EXIF orientation, transparency
flattened), make the ink bright, remove the paper (a plane fitted to its tone round the picture's edge; where
the light is uneven, a shadow's edge across the paper, its tone pixel by pixel), take out ruled lines
(rules.remove_rules: lined paper, an underline), crop to the ink, thicken strokes much thinner than MNIST's
pen, fit into 20x20 and centre by mass.

Pillow and scipy are imported inside the functions, so `import digitnet` stays NumPy-only.
"""
import numpy as np

from .image_io import MAX_PIXELS, ImageError, describe, load_grey, require_pillow
from .rules import only_rules, remove_rules
from .strokes import find_objects, label, ndimage, stroke_width

__all__ = ["to_mnist", "ink_map", "to_field", "stroke_width", "ImageError", "MAX_PIXELS"]

BOX, FIELD = 20, 28        # MNIST: digit fitted into 20x20, centred by mass in 28x28
WORK_SIDE = 4 * BOX        # strokes are measured and thickened with the digit at this size
MNIST_STROKE = 0.14        # stroke width / digit size that thin drawings are thickened to at WORK_SIDE: after
                           # the reduction to 20 px it gives MNIST's ink (median stroke 2.5 px, ~100 px over 0.5)
THIN_STROKE = 0.075       # thinner than MNIST's thinnest 5 % (relative to the digit) gets thickened
MIN_CONTRAST = 0.1         # ink must differ from the paper by 10 % of the grey range ...
NOISE_SIGMAS = 6.0         # ... and by this many times the paper's noise
MIN_INK_PIXELS = 6
MIN_DIGIT_PX = 6           # the ink's bounding box must be at least this big ...
MIN_DIGIT_FRACTION = 0.03  # ... and this fraction of the image's longer side: smaller is a speck, not a digit
STRIP = 12                 # ... the longer side counted as at most STRIP x the shorter (a long strip's digits)
EVEN_TONE = 0.02           # rows along an edge this even (robust spread / the picture's range), far from the
THIN_EDGE = 0.08           # picture's median and at most this thick (x its height) are a ruled line, not paper,
MIN_RULED = 64             # in a picture at least this many pixels on its shorter side
SHADOW_WINDOW = 0.25       # the paper's own tone: the brightest within this much of the shorter side (_even_light) ...
SHADOW_CHECK = 0.5         # ... and within this much where it is measured whether the light needs evening at all
SHADOWED = 0.05            # light is evened where the paper's tone off the plane varies, this share left out each end


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


def speck_limit(shape):
    """How long (pixels) ink must be to be a digit in a picture of this shape, not a speck: MIN_DIGIT_PX, and
    MIN_DIGIT_FRACTION of the longer side, or of STRIP x the shorter one for a long strip (30000x300: a 220-px
    digit was a speck)."""
    return max(MIN_DIGIT_PX, MIN_DIGIT_FRACTION * min(max(shape), STRIP * min(shape)))


def to_field(crop, name="image"):
    """A digit's ink cropped to its box (bright on 0) as the 28x28 field: fitted into 20x20 (thin strokes
    thickened), centred by mass, max 1. to_mnist's last steps; segment prepares each digit of a number so."""
    return _centre(_fit_box(crop), name)


# ------------------------------------------------------------------------------ ink and background

def _box3(a):
    """3x3 mean (edges replicated)."""
    p = np.pad(a, 1, mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def _depth(a):
    """How deep the frame around the image is that the paper is measured on: about 4 % of the shorter side."""
    return max(1, int(round(0.04 * min(a.shape))))


def _sampled(a):
    """At most about 100,000 of the picture's pixels, evenly spread: enough for its median and its range."""
    step = max(1, int(np.sqrt(a.size / 1e5)))
    return a[::step, ::step]


def _middle(a):
    """The picture's median tone: its paper's, mostly."""
    return float(np.median(_sampled(a)))


def _border(a):
    """The pixels of a frame around the image (_depth), with their coordinates."""
    h, w = a.shape
    b = _depth(a)
    mask = np.zeros_like(a, dtype=bool)
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = True, True, True, True
    ys, xs = np.nonzero(mask)
    return a[mask], ys, xs


def _calmest_side(a):
    """(median, spread) of the side of the frame whose pixels vary least and lie nearest the picture's median
    (its paper): where ruled lines run along the top and the bottom, most of the frame is ink (one line of
    lined paper, cropped), not the sides'."""
    b = _depth(a)
    sides = [a[:b].ravel(), a[-b:].ravel(), a[:, :b].ravel(), a[:, -b:].ravel()]
    middle = _middle(a)
    side = min(sides, key=lambda v: _mad(v - np.median(v)) + abs(float(np.median(v)) - middle))
    return float(np.median(side)), _mad(side - np.median(side))


def _ruled_frame(a):
    """Whether ruled lines run along two opposite edges and fill those sides of the frame (one line of lined
    paper, cropped on its rules): the frame's median is then the lines' tone, not the paper's. A line is a band
    of rows (columns) from the edge in, each of one even tone far from the picture's median, at least the
    frame's depth and at most THIN_EDGE of the picture thick: not the margin around a big drawing, nor in a
    picture under MIN_RULED pixels (a 28x28 field)."""
    if min(a.shape) < MIN_RULED:
        return False
    b = _depth(a)
    middle, scale = _middle(a), max(float(np.ptp(_sampled(a))), 1e-6)

    def lines(rows):  # (bool) each row of one even tone far from the paper's
        tones = np.median(rows, axis=1)
        spread = 1.4826 * np.median(np.abs(rows - tones[:, None]), axis=1)  # _mad, row by row
        return (np.abs(tones - middle) > 0.5 * scale) & (spread <= EVEN_TONE * scale)

    def along(rows, across):  # rows from one edge in; across: the picture's size across them
        if not lines(rows[:1]).all():  # most pictures: the edge's first row is paper
            return False
        line = lines(rows[:int(THIN_EDGE * across) + 1])
        return not line.all() and int(np.argmin(line)) >= b

    h, w = a.shape
    return (along(a, h) and along(a[::-1], h)) or (along(a.T, w) and along(a.T[::-1], w))


def _paper(a, calm=False):
    """The background as a plane fitted to the border (catches uneven lighting), and its noise level; calm:
    starting from the frame's calmest side rather than from all of it."""
    h, w = a.shape
    values, ys, xs = _border(a)
    med = float(np.median(values))
    if min(h, w) < 16 or values.size < 32:
        return np.full_like(a, med), _mad(values - med)
    design = np.stack([np.ones_like(ys, dtype=np.float64), ys / h - 0.5, xs / w - 0.5], axis=1)
    # Start from the pixels near the median: a ruled line along one side is a quarter of the frame, and a first
    # fit through it as well would tilt the plane and take the whole picture for noise.
    med, spread = _calmest_side(a) if calm else (med, _mad(values - med))
    keep = np.abs(values - med) <= 3 * max(spread, 1e-3)
    keep |= keep.sum() < 16
    coef = np.array([med, 0.0, 0.0])
    for _ in range(2):  # refit without the border pixels that are ink (or dust), not paper
        coef, *_ = np.linalg.lstsq(design[keep], values[keep].astype(np.float64), rcond=None)
        resid = values - design @ coef
        spread = max(_mad(resid[keep] if calm else resid), 1e-3)  # calm: the frame may be mostly ink
        keep = np.abs(resid) <= 3 * spread
        if keep.sum() < 16:
            return np.full_like(a, med), _mad(values - med)
    yy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    xx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    plane = (coef[0] + coef[1] * yy + coef[2] * xx).astype(np.float32)
    return plane, _mad((values - design @ coef)[keep])


def _stands_out(a, paper):
    """(ink: what stands out from the paper, bright; the paper's noise; the floor ink must pass; how far the
    darkest and the brightest pixels stand out), for paper = (plane, noise) from _paper."""
    plane, noise = paper
    resid = a - plane
    dark, bright = float(-resid.min()), float(resid.max())
    ink = -resid if dark > bright else resid  # the ink is what stands out furthest from the paper
    noise = max(noise, 0.5 / 255)
    return ink, noise, max(MIN_CONTRAST, NOISE_SIGMAS * noise), dark, bright


def _mad(x):
    """Robust standard deviation: 1.4826 x the median absolute deviation."""
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if x.size else 0.0


def ink_map(grey, name):
    """Ink as bright-on-black, paper at 0: the background plane subtracted, the side of the paper the
    ink lies on chosen (dark on light paper gets inverted), noise and faint background thresholded away.
    The paper is measured on a frame around the picture, or from its calmest side where ruled lines fill two
    opposite sides of the frame (_ruled_frame), or where the frame gave noise all over. Light that no plane
    fits (a shadow's edge across the paper) is divided out first (_even_light)."""
    a = _box3(grey) if min(grey.shape) >= 100 else grey  # large images: smooth scanner/JPEG noise first
    ink, noise, floor, dark, bright, ruled = _stand_out_of_paper(a)
    evened = _even_light(a, ink, noise, floor, dark > bright)
    if evened is not None:
        ink, noise, floor, dark, bright, ruled = _stand_out_of_paper(evened)
    candidates = ink[ink > floor]
    if candidates.size < MIN_INK_PIXELS:
        if max(dark, bright) >= floor:
            what = "near-blank (only a few specks stand out)"
        elif NOISE_SIGMAS * noise > MIN_CONTRAST:  # the floor is the noise's: a pattern or noise all over it
            what = "noise all over (nothing stands out from it)"
        else:
            what = "blank"
        raise ImageError(f"{name}: no digit found: the image is {what}", "no-digit")
    out = np.clip(ink - _ink_threshold(candidates, noise), 0.0, None)
    if np.count_nonzero(out) < MIN_INK_PIXELS:
        raise ImageError(f"{name}: no digit found: the image is near-blank", "no-digit")
    return out.astype(np.float32)


def _stand_out_of_paper(a):
    """_stands_out's (ink, noise, floor, dark, bright) against the paper's plane, and whether ruled lines fill
    the frame: measured on the frame, or from its calmest side where ruled lines fill two opposite sides of
    it or where the frame gave noise all over (the frame mostly ink)."""
    ruled = _ruled_frame(a)
    ink, noise, floor, dark, bright = _stands_out(a, _paper(a, calm=ruled))
    if np.count_nonzero(ink > floor) < MIN_INK_PIXELS and NOISE_SIGMAS * noise > MIN_CONTRAST and not ruled:
        ink, noise, floor, dark, bright = _stands_out(a, _paper(a, calm=True))
    return ink, noise, floor, dark, bright, ruled


def _ink_threshold(candidates, noise):
    """Near-background to 0: whatever is below a quarter of the ink's strength (or the noise) is paper."""
    return max(0.25 * float(np.percentile(candidates, 98)), 4 * noise)


def _even_light(a, ink, noise, floor, dark_ink):
    """The picture with its light made even (divided by the paper's own tone, pixel by pixel), or None where a
    plane fits the paper well enough. It does not where the paper's tone, less the fitted plane's, varies by a
    quarter of the ink's strength or more (what _ink_threshold takes for paper; not by the frame's noise,
    which a shadow across the frame raises too) between its SHADOWED and 1 - SHADOWED quantiles, nor where
    nothing stood out from a frame whose tone varies (noise all over, or light that varies all over). Dark ink
    on light paper only, in a picture at least MIN_RULED pixels on its shorter side.

    The paper's tone is the picture's grey closing: the brightest tone within a square window, then the
    darkest of those. A window wider than any stroke fills the strokes in with the paper around them, while
    the edge of a shadow, a step, stays where it is; only a dark wedge narrower than the window (a shadow's
    tip) is filled in too. Whether to even the light is measured on at most about 100,000 of the picture's
    pixels (_sampled) with a window of SHADOW_CHECK of its shorter side, which also fills in a bold digit's
    blot; the light is evened with one of SHADOW_WINDOW, which follows a shadow's tip more closely."""
    if not dark_ink or min(a.shape) < MIN_RULED:
        return None
    candidates = ink[ink > floor]
    if candidates.size < MIN_INK_PIXELS and NOISE_SIGMAS * noise <= MIN_CONTRAST:
        return None  # a blank picture
    if candidates.size >= MIN_INK_PIXELS:  # else nothing stood out from a frame whose tone varied: its light may
        small = _sampled(a)
        paper = ndimage().grey_closing(small, size=max(3, int(SHADOW_CHECK * min(small.shape))))
        off = paper - (_sampled(ink) + small)  # the paper's tone less the plane's (ink = plane - a)
        low, high = np.percentile(off, [100 * SHADOWED, 100 * (1 - SHADOWED)])
        if high - low < _ink_threshold(candidates, 0.0):
            return None
    paper = ndimage().grey_closing(a, size=max(3, int(SHADOW_WINDOW * min(a.shape))))
    return a / np.maximum(paper, 1e-3) * float(np.percentile(paper, 90))


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
