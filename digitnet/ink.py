"""Where the ink is in a picture: ink_map(grey) makes the ink bright on 0, whatever the paper and the light.

The paper is measured on a frame round the picture and fitted by a plane (uneven light across it: a lamp to
one side), its noise with it; the ink is what stands out furthest from it, dark on light paper or light on
dark; a frame made mostly of ruled lines (one line of lined paper, cropped at its rules) is measured on its
calmest side instead. Light that no plane fits, a shadow's edge across a photo or dappled light, is divided
out (_even_light), and a dark desk showing round a photographed sheet is taken for paper (_off_the_sheet).
What is fainter than a quarter of the ink's strength, or than the noise, is paper.
preprocess.to_mnist (one digit) and reader.read (whole numbers) both start here.

NumPy; scipy.ndimage imported when the light needs evening or a sheet is found on a desk.
"""
import numpy as np

from .image_io import ImageError
from .strokes import ndimage

__all__ = ["ink_map", "MIN_INK_PIXELS"]

MIN_CONTRAST = 0.1         # ink must differ from the paper by 10 % of the grey range ...
NOISE_SIGMAS = 6.0         # ... and by this many times the paper's noise
MIN_INK_PIXELS = 6
EVEN_TONE = 0.02           # rows along an edge this even (robust spread / the picture's range), far from the
THIN_EDGE = 0.08           # picture's median and at most this thick (x its height) are a ruled line, not paper,
MIN_RULED = 64             # in a picture at least this many pixels on its shorter side
SHADOW_WINDOW = 0.25       # the paper's own tone: the brightest within this much of the shorter side (_even_light) ...
SHADOW_CHECK = 0.5         # ... and within this much where it is measured whether the light needs evening at all
SHADOWED = 0.05            # light is evened where the paper's tone off the plane varies, this share left out each end
SHADE_FLOOR = 0.075        # shade the closing filled in: darker than it by this share of the picture's range ...
RING_DARK = 0.25           # ... at the picture's edge, and going on into shade this dark (_shade_kept)
DESK_CONTRAST = 0.3        # a desk round the sheet: the frame's median tone this share of the picture's range or
SHEET = 0.3                # more under the sheet's, and the sheet this share of the picture or more (_off_the_sheet)
BARE = 0.005               # darker than the desk by half the sheet's contrast with it (ink: a shadow, not a desk)
LIGHT_STROKES = 2.0        # a "sheet" whose dark part is this many times as thick as its light part is a light digit
FRAME = 0.03               # a line drawn round the whole picture (a screenshot's border), at most this share of its
                           # shorter side thick, is painted over with the paper inside it (_unframed)


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
    fits (a shadow's edge across the paper) is divided out first (_even_light), and a desk round a sheet of
    paper is taken for paper (_off_the_sheet)."""
    grey = _unframed(grey)
    a = _box3(grey) if min(grey.shape) >= 100 else grey  # large images: smooth scanner/JPEG noise first
    a = _off_the_sheet(a)
    ink, noise, floor, dark, bright, ruled = _stand_out_of_paper(a)
    evened = _even_light(a, ink, ink[ink > floor], noise, dark > bright)
    if evened is not None:
        again = _stand_out_of_paper(evened)
        if again[3] > again[4]:  # dark ink stands out from the evened paper (light ink would be lost in evening)
            ink, noise, floor, dark, bright, ruled = again
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


def _unframed(a):
    """a with a line drawn round the whole of it (a screenshot's or a scan's border) painted over with the paper
    inside the line; else a itself. Such a frame filled much of the strip the paper is measured on, and the
    picture was called noise all over. A frame: on each of the four sides, the outermost rows (columns), at
    least one and at most FRAME of the shorter side, each of one even tone, the same on every side, and unlike
    the even paper just inside them (so ruled lines along two sides, or a desk, are not one)."""
    limit = max(1, int(round(FRAME * min(a.shape))))
    if min(a.shape) < 16 + 2 * limit:
        return a
    scale = max(float(np.ptp(_sampled(a))), 1e-6)
    sides = [a, a[::-1], a.T, a.T[::-1]]  # top, bottom, left, right: each side's lines from the edge in
    tone, depths = float(np.median(a[0])), []
    for side in sides:
        even = [abs(float(np.median(line)) - tone) < 0.1 * scale and _mad(line - tone) < 0.1 * scale
                for line in side[:limit + 1]]
        depth = even.index(False) if False in even else limit + 1
        inside = side[depth:depth + limit]
        if not 1 <= depth <= limit or _mad(inside - np.median(inside)) > 0.1 * scale or \
                abs(float(np.median(inside)) - tone) < 0.3 * scale:
            return a
        depths.append(depth)
    out = a.copy()
    for side, depth in zip([out, out[::-1], out.T, out.T[::-1]], depths):
        side[:depth] = side[depth]  # views of out: the frame's lines take the paper's line next to them
    return out


def _light_strokes(light, sheet):
    """Whether the light part of `sheet` (a piece filled in) is strokes round a dark inside, a light 0 or 8 on
    a dark ground, not a sheet of paper with dark ink on it: its dark part LIGHT_STROKES times as thick as its
    light part or more (the widest circle that fits in each). A sheet's paper is about as wide as its ink or
    wider, however bold the ink and however tightly the sheet is cropped (a bold 1 on a strip of paper). The
    loops of a light 0, filled in, made a "sheet" of the dark ground inside them, painted over whole (a review);
    a share of paper could not tell that from a bold digit on a small sheet."""
    edt = ndimage().distance_transform_edt
    dark = sheet & ~light
    return bool(dark.any()) and float(edt(dark).max()) > LIGHT_STROKES * float(edt(light & sheet).max())


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


def _even_light(a, ink, candidates, noise, dark_ink):
    """The picture with its light made even (divided by the paper's own tone, pixel by pixel), or None where a
    plane fits the paper well enough. It does not where the paper's tone, less the fitted plane's, varies by a
    quarter of the ink's strength or more (what _ink_threshold takes for paper; not by the frame's noise,
    which a shadow across the frame raises too) between its SHADOWED and 1 - SHADOWED quantiles, nor where
    nothing stood out from a frame whose tone varies (noise all over, or light that varies all over: a frame
    darker than the middle may make the middle look like light ink, so the ink's side is not asked there;
    ink_map keeps the evened picture only where dark ink stands out of it). Dark ink on light paper only, in a
    picture at least MIN_RULED pixels on its shorter side.

    The paper's tone is the picture's grey closing: the brightest tone within a square window, then the
    darkest of those. A window wider than any stroke fills the strokes in with the paper around them, while
    the edge of a shadow, a step, stays where it is; only a dark wedge narrower than the window (a shadow's
    tip) is filled in too. Whether to even the light is measured on at most about 100,000 of the picture's
    pixels (_sampled) with a window of SHADOW_CHECK of its shorter side, which also fills in a bold digit's
    blot; the light is evened with one of SHADOW_WINDOW, which follows a shadow's tip more closely.
    candidates: the ink that stood out of the plane's paper."""
    if min(a.shape) < MIN_RULED or (candidates.size >= MIN_INK_PIXELS and not dark_ink):
        return None  # a small picture, or light ink found
    if candidates.size < MIN_INK_PIXELS and NOISE_SIGMAS * noise <= MIN_CONTRAST:
        return None  # a blank picture
    if candidates.size >= MIN_INK_PIXELS:  # else nothing stood out from a frame whose tone varied: its light may
        small = _sampled(a)
        # the paper's tone less the plane's (ink = plane - a)
        off = _paper_tone(small, SHADOW_CHECK) - (_sampled(ink) + small)
        low, high = np.percentile(off, [100 * SHADOWED, 100 * (1 - SHADOWED)])
        if high - low < _ink_threshold(candidates, 0.0):
            return None
    paper = _shade_kept(a, _paper_tone(a, SHADOW_WINDOW), noise)
    return a / np.maximum(paper, 1e-3) * float(np.percentile(paper, 90))


def _shade_kept(a, paper, noise):
    """paper (the grey closing of a) with the shade it filled in at the picture's edge put back. Where a shadow's
    edge meets the picture's at a sharp angle, its tip is narrower than the closing's window and is filled in with
    the light paper beside it: a blank sheet then read as digits there (a '1' in a corner). Such a tip is a piece
    of what lies darker than the closing that touches the picture's edge and goes on, unmarked, into shade as dark
    as itself: at least RING_DARK of the pixels round it are as dark as its median. A stroke is lighter all round
    (its paper). There the paper's tone is the shade's own (down to its darkest 5 %: the shade grows darker across a
    shadow's soft edge), so that ink within the shade still stands out of it."""
    nd = ndimage()
    floor = max(SHADE_FLOOR * (float(np.percentile(paper, 90)) - float(np.percentile(_sampled(a), 1))),
                NOISE_SIGMAS * noise)
    labels, _ = nd.label(paper - a > floor)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    boxes = nd.find_objects(labels)
    for label in edge[edge > 0]:
        box = tuple(slice(max(0, s.start - 2), s.stop + 2) for s in boxes[label - 1])
        piece = labels[box] == label
        ring = nd.binary_dilation(piece, iterations=2) & ~piece
        shade = a[box][piece]
        if np.mean(a[box][ring] <= float(np.median(shade)) + floor) >= RING_DARK:
            paper[box][piece] = np.maximum(shade, float(np.percentile(shade, 5)))
    return paper


def _paper_tone(a, window):
    """The paper's own tone, pixel by pixel: the grey closing of `a` over a square `window` x its shorter side."""
    return ndimage().grey_closing(a, size=max(3, int(window * min(a.shape))))


def _off_the_sheet(a):
    """The picture with what shows round a sheet of paper (a desk, in a photo of the sheet lying on it) given the
    sheet's tone, or `a` itself. The sheet is the brightest of the picture's broad tones (its 90th percentile);
    the frame is mostly desk where its median tone lies DESK_CONTRAST of the picture's range or more under the
    sheet's. The sheet is then the biggest piece of the picture brighter than the midpoint of the two tones
    (its ink filled in), at least SHEET of the picture and no light strokes round a dark inside (_light_strokes),
    less its blurred edge (_depth); and what lies off it
    is bare: at most BARE of it is as dark as ink there would be (a dark surround with digits in it is shade,
    left to _even_light). Dark ink on a light sheet on a darker desk, in a picture at least MIN_RULED pixels
    on its shorter side."""
    if min(a.shape) < MIN_RULED:
        return a
    small = _sampled(a)
    sheet_tone, desk_tone = float(np.percentile(small, 90)), float(np.median(_border(a)[0]))
    if sheet_tone - desk_tone < DESK_CONTRAST * float(np.ptp(small)):
        return a
    mid = 0.5 * (sheet_tone + desk_tone)
    nd = ndimage()
    labels, count = nd.label(nd.binary_fill_holes(a >= mid))
    if not count:
        return a
    sheet = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))  # the biggest piece
    if sheet.mean() < SHEET or _light_strokes(a >= mid, sheet):
        return a
    off = ~nd.binary_erosion(sheet, iterations=_depth(a))
    if np.mean(a[off] < desk_tone - 0.5 * (sheet_tone - desk_tone)) > BARE:
        return a  # ink off the sheet: a shadow with digits in it, not a desk
    return np.where(off, np.float32(sheet_tone), a).astype(a.dtype, copy=False)
