"""Measures of handwriting's strokes: their width and length, the connected pieces of ink, the pieces stacked
into digits, and the digits' height H. The segmentation (segment), the rules it looks past (rules) and the
preparation of one digit (preprocess) measure the ink the same way, here.

Needs NumPy; the pieces of ink, scipy.ndimage (imported when first used).
"""
import numpy as np

from .errors import DigitnetError

__all__ = ["stroke_width", "stroke_length", "components", "stack_strokes", "digit_height", "label", "find_objects",
           "ndimage", "Groups", "overlap", "span", "bounds", "weighted_median"]

EIGHT = np.ones((3, 3), dtype=bool)
MAX_COMPONENTS = 400      # beyond this many (a noisy photo), only the largest are looked at; the rest are specks
DUST = 0.004              # a component with under this fraction of the largest one's area is dust (a speck)
STACK_GAP = 0.25          # strokes stack into one digit across at most this vertical gap (x H0)


def stroke_width(a):
    """Estimated stroke width in pixels: ink area / stroke length."""
    top = ink_strength(a)
    if top <= 0:
        return 0.0
    return float(np.minimum(a, top).sum() / top) / stroke_length(a, top)  # the percentile once, not twice


def stroke_length(a, strength=None):
    """Estimated length of the strokes in pixels (at least 1), from the outline of the ink above half its
    strength (ink_strength, or `strength` where the caller has it): two edges per stroke, edge crossings x pi/8
    for strokes at all angles."""
    strength = ink_strength(a) if strength is None else strength
    m = np.pad(a > 0.5 * strength, 1)  # a tight crop: the ink's outline may run along its edges
    crossings = np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1])
    return max(crossings * np.pi / 8, 1.0)


def ink_strength(a):
    """How strong the ink is: the 95th percentile of its values above 0, not its maximum. A line 1 px thick,
    smoothed, is twice as strong where it crosses itself (a 4, a 6) as along it; half its maximum left out all
    but the crossings, so that the strokes measured 100 px wide and were never thickened (a review)."""
    ink = a[a > 0]
    return float(np.percentile(ink, 95)) if ink.size else 0.0


# ------------------------------------------------------------------- pieces, stacks, height

def components(ink):
    """(label image, components as dicts {label, y0, y1, x0, x1, area}, those beyond MAX_COMPONENTS left out:
    specks, counted as such, unless as big as digits: segment refuses those); dust is left out uncounted."""
    labels, n = label(ink > 0)
    boxes = find_objects(labels)
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    comps = [dict(label=i + 1, y0=s[0].start, y1=s[0].stop, x0=s[1].start, x1=s[1].stop, area=int(area[i]))
             for i, s in enumerate(boxes)]
    if not comps:
        return labels, comps, []
    comps.sort(key=lambda c: -c["area"])
    keep = [c for c in comps[:MAX_COMPONENTS] if c["area"] >= DUST * comps[0]["area"]]
    dropped = [c for c in comps[MAX_COMPONENTS:] if c["area"] >= DUST * comps[0]["area"]]
    return labels, keep, dropped


def ndimage():
    """scipy.ndimage, or a one-line error naming what to install."""
    try:
        from scipy import ndimage as module
    except ImportError:
        raise DigitnetError("reading numbers needs scipy, which is not installed (pip install scipy)") from None
    return module


def label(mask):
    """(labels, count): the 8-connected pieces of a bool mask."""
    return ndimage().label(mask, structure=EIGHT)


def find_objects(labels):
    return ndimage().find_objects(labels)


def weighted_median(values, weights):
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


class Groups:
    """Union-find over n items."""

    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i, j):
        self.parent[self.find(i)] = self.find(j)

    def sets(self, items):
        out = {}
        for i in items:
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


def overlap(a0, a1, b0, b1):
    return min(a1, b1) - max(a0, b0)


def bounds(mask):
    """(y0, y1, x0, x1): the rows and columns a bool array's True pixels take (y1, x1 exclusive); None when it
    has none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return None if rows.size == 0 else (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def span(comps, members):
    return min(comps[i]["y0"] for i in members), max(comps[i]["y1"] for i in members)


def stack_strokes(comps):
    """(stacks: lists of component indices, digit height H). Strokes overlapping sideways by half the
    narrower one, and vertically close, are one digit's strokes."""
    h0 = weighted_median([c["y1"] - c["y0"] for c in comps], [c["area"] for c in comps])
    strokes = [i for i, c in enumerate(comps) if max(c["y1"] - c["y0"], c["x1"] - c["x0"]) >= 0.25 * h0]
    groups = Groups(len(comps))
    for a, i in enumerate(strokes):
        p = comps[i]
        for j in strokes[a + 1:]:
            q = comps[j]
            narrower = min(p["x1"] - p["x0"], q["x1"] - q["x0"])
            if (overlap(p["x0"], p["x1"], q["x0"], q["x1"]) >= 0.5 * narrower
                    and overlap(p["y0"], p["y1"], q["y0"], q["y1"]) > -STACK_GAP * h0):
                groups.join(i, j)
    found = groups.sets(strokes)
    heights = [span(comps, s)[1] - span(comps, s)[0] for s in found]
    return found, weighted_median(heights, [sum(comps[i]["area"] for i in s) for s in found])


def digit_height(ink, flat=0.0):
    """The digits' height H as segment measures it (the area-weighted median height of the stacks of
    strokes), leaving out the components at most `flat` pixels thick on average (area / width: a line, level
    or not); None when no other ink is left."""
    comps = [c for c in components(ink)[1] if c["area"] > flat * (c["x1"] - c["x0"])]
    return stack_strokes(comps)[1] if comps else None
