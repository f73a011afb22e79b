# long: one pipeline (components, stacks, lines, seams, the DP over a line) whose steps share its constants
"""Find the digits of a written number: lines, strokes grouped into digits, touching digits cut apart.

segment(ink, classify) takes the ink map ink.ink_map makes (bright ink on 0) and a classifier
(28x28 fields -> (N, 10) calibrated probabilities) and returns the lines, top to bottom, each a list of
the digits found in it, left to right. How:

1. Connected components of the ink (scipy.ndimage.label, 8-connected).
2. Strokes above one another that overlap sideways (a 5's bar, the halves of a 4 drawn in two strokes)
   form a stack; the digit height H is the area-weighted median height of the stacks.
3. Stacks whose vertical spans overlap form a line; lines are read top to bottom. Components much
   smaller than H (dots, commas, specks) are counted and left out, unless they lie over a digit.
4. Within a line, every component wider than WIDE x H is cut by seams: paths across it that cross as
   little ink as they can (dynamic programming row by row, a cost per sideways step), traced from the top
   down and from the bottom up, one per local minimum of that cost and one every EVEN x H. The pieces
   (whole components, or the strips between seams) are ordered left to right, a blob's strips in the order
   of its seams. A line is cut a second time along its blobs' slant (each sheared upright first,
   slant_shifts): a 1 leaning on its neighbour lies across every upright seam. Where the digits the upright
   reading (step 5) cuts from blobs are doubtful, the slanted cuts are read too, and kept where they score
   SLANTED_BY more.
5. Every run of consecutive pieces that could be one digit (not too wide, no wide gap inside), and every
   blob cut into strips whole (a bold, wide digit may be wider than MAX_WIDTH), is cut
   out (only its own ink; a run cut from a blob of several digits, again with the blob's ink within GROW x H,
   which a seam through overlapping strokes may have left with the neighbour), prepared like MNIST
   (preprocess.to_field: 20x20 box, centred by mass) and classified, all in one batch. Dynamic
   programming over the pieces then picks the reading whose digits score best: each digit's confidence
   as capped log-odds of its probability (at the net's one temperature) and as its log-probability, less
   how far the rejecting net's score lies under its "not a digit" threshold (a wrong cut looks like no
   digit to a net trained on wrong cuts), weighted by its width (so that reading two digits as one saves
   nothing), penalties for digits much wider or shorter than H, for strokes longer than the digit read
   has (a 1 hidden in its neighbour), for ink a cut runs through, for cutting a blob no wider than one wide
   digit, and for neighbours that overlap a lot.

Needs NumPy and scipy.ndimage; no OpenCV.
"""
from dataclasses import dataclass

import numpy as np

from .errors import DigitnetError
from .preprocess import speck_limit, to_field
from .strokes import (
    MAX_COMPONENTS,
    Groups,
    bounds,
    components,
    ndimage,
    overlap,
    span,
    stack_strokes,
    stroke_length,
    stroke_width,
)

__all__ = ["Found", "TooManyCuts", "candidates", "segment"]

SPECK = 0.28              # a component whose longer side is under SPECK x H is a dot, a comma or a speck
SMALLEST = 0.01           # digits are this share of the picture's longer side at least (preprocess.speck_limit):
                          # a page of handwriting photographed whole has digits of 1.5-3 %; at to_mnist's 3 % a
                          # number 60 px high on a 2400x1600 page was "only 4 specks of ink"
LARGE = 0.1               # a piece of ink at least this part of the largest one's area, and no speck, may be a digit
LOWEST = 3                # a digit is at least this many pixels high: a strip 1 px high read "66" (a review)
LINE_OVERLAP = 0.4        # stacks whose spans overlap by this part of the shorter one share a line
WIDE = 0.6                # components wider than WIDE x H are cut by seams (the cuts are only candidates) ...
CUT_HIGH = 0.6            # ... if at least CUT_HIGH x H high: touching digits are full height, a bar is not
PEN_HEIGHTS = 4.0         # digits are at least this many stroke widths high (H is raised to it)
SEAM_DRIFT = 1.0          # a seam's cost per sideways step, in ink pixels crossed ...
SEAM_STEP = 1             # ... of at most this many columns a row
SEAM_MARGIN = 0.08        # no seam nearer a component's side than this (x H): a 1 can be that thin
SEAM_WINDOW = 0.08        # a seam ends at the cheapest column within this much either side (x H)
SEAM_SPACING = 0.1        # seams at least this far apart (x H) ...
SEAM_DENSITY = 0.2        # ... and at most one per this much width (x H) ...
EVEN = 0.1                # ... plus one ending every EVEN x H (from the top and from the bottom)
MAX_SLANT = 0.5           # a line is also cut along its blobs' slant (dx/dy), at most this much ...
SLANT_STEP = 0.05         # ... measured in these steps, and read so where that reading scores SLANTED_BY more
SLANTED_BY = 2.0          # than the upright one's. 2: 324 -> 331 of 400 touching numbers of the sample's digits
                          # (seeds 0 and 1, a replay; 0.5-3 gave 328-331, 0 gave 326: slanted cuts through round
                          # digits), seed 2 (held out) 172 -> 173
MAX_WIDTH = 1.3           # a digit made of several pieces is at most this wide (x H; but one blob is read whole) ...
MAX_GAP = 0.25            # ... and has no gap wider than this (x H) between its pieces
CAP, WEIGHT = 12.0, 0.3   # a digit's score: WEIGHT x (min(log-odds of its probability, CAP) - CAP) ...
LOW_COST = 2.0            # ... plus LOW_COST x the log of its probability: an unsure reading (two digits read as
                          # one at 25 %) costs more than its capped log-odds say. 2: 307 -> 317 of 400 touching
                          # numbers of the sample's digits (seeds 0 and 1) read right; no kind read worse
BY_WIDTH = 0.6            # ... x its width / BY_WIDTH H (at least 1): two digits read as one cost what two do
WIDE_AT, WIDE_COST = 0.95, 4.0     # cost per H of width beyond WIDE_AT x H
SHORT_AT, SHORT_COST = 0.6, 32.0   # cost per H of height under SHORT_AT x H (a 3's hook is no 1)
DOUBT_COST = 3.0                   # cost per unit the rejecting net's score lies under its threshold
CROSS_COST = 0.3                   # cost per stroke width of ink a cut runs through
BLOB_AT, BLOB_COST = 1.2, 8.0      # cost per H a blob that is cut is narrower than BLOB_AT x H (one wide digit)
# cost per unit that the strokes of a digit read as d are longer than LONG_AT[d] x its own height: a 1 or a 7 that
# overlaps its neighbour was read as part of it (a 4 and a 1 as one 4, sure of it). The 99th percentile of each
# digit's stroke length / height among the bundled sample's training digits (scripts/stroke_lengths.py). Replayed: 318
# -> 324 of 400 touching numbers of the sample's held-out digits (seeds 0 and 1) read right, read for real 317 -> 323;
# the other kinds unchanged
LONG_AT = (3.34, 1.65, 3.19, 3.09, 2.50, 3.03, 2.98, 2.41, 3.36, 2.71)
LONG_COST = 8.0
OVERLAP_AT, OVERLAP_COST = 0.2, 6.0  # cost per H of neighbours' overlap beyond OVERLAP_AT x H
GROW = 0.15               # a cut run is read again with the ink of its blob's other strips within GROW x H: a
                          # seam through overlapping strokes leaves part of one digit with its neighbour ...
GROW_BLOB = 1.1           # ... in a blob at least this wide (x H): two digits, not one wide digit cut into strips.
                          # Tuned on 200 touching numbers of the sample's digits: 148 read right without, 154 with
                          # (155 for any blob, at twice the time a picture; any piece's ink instead of its blob's:
                          # 152, 154, 156, 153 at GROW 0.05, 0.1, 0.15, 0.2)
MAX_CANDIDATES = 3000     # a picture whose cuts give more candidate digits (not counting GROW's second readings) is
                          # refused (TooManyCuts): a 6000x400 wave of ink gave 15,978 and took 45 s to read. The
                          # touching numbers of 2-6 digits give at most 755 (200 of the sample's), lines 946 ...
PER_PIECE = 50            # ... plus this many for each piece of ink of its lines (not a speck): a digit on its own
                          # gives about 40, so a page of separate digits is read however many (a sheet of 144 was
                          # refused as "too much joined ink"); but the candidates that take in one blob's strips
                          # are MAX_CANDIDATES at most (a wave with 250 strokes beside it was read for a minute)


class TooManyCuts(DigitnetError):
    """A picture whose joined ink gives more candidate digits than its limit (MAX_CANDIDATES, and PER_PIECE for
    each piece of ink), or that has more pieces of ink as big as digits than are looked at (MAX_COMPONENTS):
    refused, not read for minutes or cut short."""


@dataclass
class Found:
    """One digit found: its line (0 = top), box (x0, y0, x1, y1) in the ink map's pixels, the 28x28 field
    the classifier saw, its probabilities, and `row`: which row of which classify() call it was
    (call, index), so that a caller can find what else it kept of that row (its logits)."""
    line: int
    box: tuple
    field: np.ndarray
    probabilities: np.ndarray
    row: tuple


def segment(ink, classify):
    """(lines, specks): lines top to bottom, each a list of Found left to right, and the number of dots,
    commas and specks left out. ink: 2-D float array, ink bright on 0 (ink.ink_map).
    classify: (N, 28, 28) float32 fields -> (N, 10) probabilities, or (probabilities, margins): margins (N,)
    how far each field lies above the rejecting net's "not a digit" threshold (Committee.assess). It is
    called once, and once more for the lines cut again along their slant (Found.row says which call)."""
    lines, specks, budget = _prepare(ink)
    if not lines:
        return [], specks
    readings = _read(list(enumerate(lines)), classify, 0)
    # Every score is at most 0, and cutting along the slant changes only the digits cut from blobs: a line whose
    # blobs' digits (with the costs between digits) score -SLANTED_BY or more is not cut again
    twins = []
    for k, (_, _, doubt) in enumerate(readings):
        twin = lines[k].along_slant(budget) if doubt < -SLANTED_BY else None
        if twin is not None:
            twins.append((k, twin))
            budget -= len(twin.own())
    if twins:
        for (k, _), (total, found, _) in zip(twins, _read(twins, classify, 1)):
            if total > readings[k][0] + SLANTED_BY:
                readings[k] = (total, found, 0.0)
    return [found for _, found, _ in readings], specks


def _read(lines, classify, call):
    """[(total score, [Found], doubt)] of each (line number, _Line) in lines: their candidates classified in one
    batch, the `call`-th of classify, and the best reading of each line; doubt: its total less the scores of
    the digits it reads that hold no piece of a blob cut by seams."""
    fields = [f for _, line in lines for f in line.fields]
    answer = classify(np.stack(fields).astype(np.float32))
    probabilities, margins = answer if isinstance(answer, tuple) else (answer, np.full(len(fields), np.inf))
    probabilities, margins = np.asarray(probabilities), np.asarray(margins, dtype=np.float64)
    out, start = [], 0
    for line_no, line in lines:
        rows = probabilities[start:start + len(line.fields)]
        total, chosen = line.best(rows, margins[start:start + len(line.fields)])
        uncut = [k for k in chosen if not any(line.owners[i][0] in line.cut_cost for i in range(*line.runs[k]))]
        doubt = total - sum(line.score(k, rows[k], margins[start + k]) for k in uncut)
        out.append((total, [Found(line_no, line.boxes[k], line.fields[k], rows[k], (call, start + k))
                            for k in chosen], doubt))
        start += len(line.fields)
    return out


def _prepare(ink):
    """(the lines that hold candidate digits, as _Line objects top to bottom; the number of specks left out;
    how many more candidates the picture's limit allows: MAX_CANDIDATES and PER_PIECE a piece of ink)."""
    labels, comps, dropped = components(ink)
    if not comps:
        return [], 0, MAX_CANDIDATES
    least = speck_limit(ink.shape, SMALLEST)
    large = sum(c["area"] >= LARGE * comps[0]["area"] and max(c["y1"] - c["y0"], c["x1"] - c["x0"]) >= least
                for c in dropped)
    if large:  # a page of 420 digits lost its faintest 20 as specks; all looked at, a page of text took minutes
        raise TooManyCuts(f"more than {MAX_COMPONENTS} pieces of ink as big as digits ({large:,} past the first "
                          f"{MAX_COMPONENTS}); read a page of so many digits in parts")
    lines, height, specks = _lines(comps, least, PEN_HEIGHTS * stroke_width(ink))
    for c in comps:
        c["small"] = max(c["y1"] - c["y0"], c["x1"] - c["x0"]) < SPECK * height
    limit = MAX_CANDIDATES + PER_PIECE * sum(not comps[i]["small"] for members in lines for i in members)
    prepared, budget = [], limit
    for members in lines:
        line = _Line(ink, labels, [comps[i] for i in members], height, budget, limit=limit)
        budget -= len(line.own())
        specks += line.specks
        if line.spans:
            prepared.append(line)
    return prepared, specks + len(dropped), budget


def candidates(ink):
    """Every candidate digit segment() cuts out of a picture, before any is classified (segment also reads
    the cuts that have other ink near them once more with that ink, GROW, and cuts a line whose cut digits
    are doubtful again along its slant, SLANTED_BY; those are not listed here).

    Args:
        ink: 2-D float array, ink bright on 0 (ink.ink_map).

    Returns:
        A list of (mask, field) pairs, the lines' candidates in turn: mask, a bool array of ink's shape, True
        where the candidate's ink may lie (its ink is ink > 0 there); field, the (28, 28) float array the
        classifier is shown. What cut_digits trains on: the cuts that hold one digit, and those that do not.

    Raises:
        TooManyCuts: the ink would give more candidates than its limit (MAX_CANDIDATES, and PER_PIECE for each
            piece of ink; segment() raises it too).

    Examples:
        >>> import numpy as np
        >>> ink = np.zeros((40, 80), dtype=np.float32)
        >>> ink[8:32, 10:14] = 1.0       # a 1
        >>> ink[8:32, 50:54] = 1.0       # and another, far to its right
        >>> [(field.shape, int(mask[:, 10:14].any()), int(mask[:, 50:54].any())) for mask, field in candidates(ink)]
        [((28, 28), 1, 0), ((28, 28), 0, 1)]
    """
    out = []
    for line in _prepare(ink)[0]:
        for k in line.own():
            mask = np.zeros(ink.shape, dtype=bool)
            mask[line.y0:line.y1, line.x0:line.x1] = line.member(*line.runs[k])
            out.append((mask, line.fields[k]))
    return out


# -------------------------------------------------------------------------- components, stacks, lines

def _lines(comps, least, at_least_high):
    """(lines: lists of component indices, top to bottom; H; specks). Stacks at least half as tall as H and
    LOWEST pixels, and `least` pixels long (to_mnist's rule for a speck), whose spans overlap make the lines;
    the other components join the line they lie in, or are specks (all of them when nothing is that tall).
    H is raised to at_least_high (PEN_HEIGHTS stroke widths)."""
    stacks, height = stack_strokes(comps)
    spans = [span(comps, s) for s in stacks]
    widths = [max(comps[i]["x1"] for i in st) - min(comps[i]["x0"] for i in st) for st in stacks]
    tall = [k for k, (a, b) in enumerate(spans)
            if b - a >= max(0.5 * height, LOWEST) and max(b - a, widths[k]) >= least]
    groups = Groups(len(stacks))
    for a, k in enumerate(tall):
        for m in tall[a + 1:]:
            (p0, p1), (q0, q1) = spans[k], spans[m]
            if overlap(p0, p1, q0, q1) > LINE_OVERLAP * min(p1 - p0, q1 - q0):
                groups.join(k, m)
    lines = [[i for k in g for i in stacks[k]] for g in groups.sets(tall)]
    height = max(height, at_least_high)  # a lone bar is one digit (as to_mnist reads it), not a row of them
    line_spans = [span(comps, line) for line in lines]
    placed = {i for line in lines for i in line}
    specks = 0
    for i, c in enumerate(comps):
        if i in placed:
            continue
        middle = 0.5 * (c["y0"] + c["y1"])
        distance = [max(s0 - middle, middle - s1, 0) for s0, s1 in line_spans]
        if not distance or min(distance) > 0.3 * height:
            specks += 1
        else:
            lines[int(np.argmin(distance))].append(i)
    order = np.argsort([s0 + s1 for s0, s1 in line_spans], kind="stable")
    return [lines[k] for k in order], height, specks


# ------------------------------------------------------------------------------------------ seams

def seams(mask, height, shifts=None):
    """Cut paths through a blob (h x w bool): an (m, h) int array, path k's column in each row (pixels left of
    it go left; with shifts, a column may lie outside 0..w), sorted row by row. A path costs the ink pixels it
    runs through plus SEAM_DRIFT per sideways step; paths are traced down from the top and up from the bottom,
    one ending at each local minimum of the cheapest cost over the far row (and one every EVEN x H); nearly
    equal paths are kept once. shifts: (h,) each row's shift to the right before the paths are traced
    (slant_shifts: the blob sheared upright, so that a path may follow a slanted 1), taken off again after."""
    h, w = mask.shape
    shifts = np.zeros(h, dtype=np.int64) if shifts is None else shifts - shifts.min()  # the same columns come back
    upright = np.zeros((h, w + int(shifts.max())), dtype=bool)
    for y in range(h):
        upright[y, shifts[y]:shifts[y] + w] = mask[y]
    down, up = _seams_to_end(upright, height), _seams_to_end(upright[::-1], height)[:, ::-1]
    paths = []
    for path in list(down) + list(up):
        if all(np.abs(path - p).max() > 1 for p in paths):
            paths.append(path)
    return np.sort(np.array(paths, dtype=np.int64).reshape(len(paths), h), axis=0) - shifts


def slant_shifts(mask):
    """(h,) int, each row's shift to the right that makes a blob (h x w bool) upright, the least 0. The slant
    (dx/dy, within MAX_SLANT, in steps of SLANT_STEP) is the one whose sheared blob has the most of its ink in
    columns that cross one stroke only, each column counting its height squared (Vinciarelli and Luettin's
    deslanting of handwriting, 2001): the uprights of the digits then stand in columns of their own."""
    h = mask.shape[0]
    ys, xs = np.nonzero(mask)
    best, shifts = -1.0, np.zeros(h, dtype=np.int64)
    for slant in np.arange(-MAX_SLANT, MAX_SLANT + 1e-9, SLANT_STEP):
        shift = np.round(-slant * (np.arange(h) - h / 2)).astype(np.int64)
        shift -= shift.min()
        x = xs + shift[ys]
        count = np.bincount(x)
        first, last = np.full(len(count), h), np.full(len(count), -1)
        np.minimum.at(first, x, ys)
        np.maximum.at(last, x, ys)
        score = float(np.sum(count[count == last - first + 1] ** 2.0))  # columns that cross one stroke
        score *= 1 + 1e-9 * (abs(slant) < 1e-9)  # upright wins a tie
        if score > best:
            best, shifts = score, shift
    return shifts


def _seam_costs(ink):
    """(the cheapest cost of a path from the top row to each pixel of the bottom row, where each row's path
    came from: the column shift to the row above)."""
    h, w = ink.shape
    cost = ink[0].copy()
    came = np.zeros((h, w), dtype=np.int8)
    shifts = np.arange(-int(SEAM_STEP), int(SEAM_STEP) + 1)
    columns = np.arange(w)
    for y in range(1, h):
        before = np.concatenate([[0.0], np.cumsum(ink[y])])
        options = np.full((len(shifts), w), np.float32(1e9))
        for k, s in enumerate(shifts):  # from column x + s above: the ink of row y between the two is cut
            lo, hi = max(0, -s), min(w, w - s)
            x = columns[lo:hi]
            crossed = before[np.maximum(x, x + s) + 1] - before[np.minimum(x, x + s)]
            options[k, lo:hi] = cost[x + s] + crossed + SEAM_DRIFT * abs(s)
        best = options.argmin(axis=0)
        cost = options[best, columns].astype(np.float32)
        came[y] = shifts[best]
    return cost, came


def _seams_to_end(mask, height):
    """seams() traced from the top row down: the paths ending at the bottom row's cheap columns."""
    h, w = mask.shape
    cost, came = _seam_costs(mask.astype(np.float32))
    margin, window = max(2, int(SEAM_MARGIN * height)), max(1, int(SEAM_WINDOW * height))
    ends = sorted((cost[x], x) for x in range(margin, w - margin)
                  if cost[x] <= cost[max(0, x - window):x + window + 1].min())
    chosen, spacing = [], max(2, int(SEAM_SPACING * height))
    for _, x in ends:
        if len(chosen) >= max(1, round(w / (SEAM_DENSITY * height))):
            break
        if all(abs(x - c) >= spacing for c in chosen):
            chosen.append(x)
    if EVEN:
        for x in range(margin, w - margin, max(1, int(EVEN * height))):
            if all(abs(x - c) >= spacing // 2 for c in chosen):
                chosen.append(x)
    paths = np.empty((len(chosen), h), dtype=np.int64)
    for k, x in enumerate(sorted(chosen)):
        for y in range(h - 1, -1, -1):
            paths[k, y] = x
            x += int(came[y, x])
    return paths


# ------------------------------------------------------------------------------------- one line

def relative_length(crop):
    """A candidate digit's stroke length / its height, what LONG_AT limits. crop: its ink, cropped to its box
    (scripts/stroke_lengths.py measures the sample's digits with it)."""
    return stroke_length(crop) / crop.shape[0]


class _Line:
    """A line's pieces, its candidate digits (runs of consecutive pieces) and their fields, and the DP."""

    def __init__(self, ink, labels, comps, height, budget, slanted=False, limit=MAX_CANDIDATES):
        self.height, self.specks, self.slanted, self.sheared, self.limit = height, 0, slanted, False, limit
        self._source = ink, labels, comps
        self.y0, self.y1 = min(c["y0"] for c in comps), max(c["y1"] for c in comps)
        self.x0, self.x1 = min(c["x0"] for c in comps), max(c["x1"] for c in comps)
        self.cut_cost = {}   # component label -> [0, cost of seam 1, cost of seam 2, ...]
        self.blob_width = {}  # component label -> its width (x H), for the components cut
        self._pieces(labels[self.y0:self.y1, self.x0:self.x1], comps)
        self._candidates(ink[self.y0:self.y1, self.x0:self.x1], budget)  # budget: candidates the picture has left

    def _pieces(self, labels, comps):
        """self.pieces (piece index per pixel, -1 elsewhere), self.spans (columns), self.owners ((label, strip))."""
        raw = []
        biggest = max(comps, key=lambda c: c["area"])  # a line's biggest stroke is never a speck
        for c in comps:
            mask = labels == c["label"]
            if c["small"] and c is not biggest and not self._over_a_digit(c, comps):
                self.specks += 1
                continue
            if c["x1"] - c["x0"] <= WIDE * self.height or c["y1"] - c["y0"] < CUT_HIGH * self.height:
                raw.append((mask, (c["label"], 0)))
                continue
            ys, xs = slice(c["y0"] - self.y0, c["y1"] - self.y0), slice(c["x0"] - self.x0, c["x1"] - self.x0)
            blob = mask[ys, xs]
            shifts = slant_shifts(blob) if self.slanted else None
            cuts = seams(blob, self.height, shifts)
            self.sheared |= shifts is not None and bool(shifts.any())
            width = max(stroke_width(blob.astype(np.float32)), 1.0)
            rows = np.arange(blob.shape[0])
            inside = (cuts >= 0) & (cuts < blob.shape[1])  # a slanted seam may run past the blob's box
            self.cut_cost[c["label"]] = [0.0] + [float(blob[rows[k], cut[k]].sum()) / width
                                                 for cut, k in zip(cuts, inside)]
            self.blob_width[c["label"]] = (c["x1"] - c["x0"]) / self.height
            strip = (np.arange(blob.shape[1])[None, :, None] >= cuts.T[:, None, :]).sum(axis=2)
            for k in range(len(cuts) + 1):
                part = np.zeros_like(mask)
                part[ys, xs] = blob & (strip == k)
                if part.any():
                    raw.append((part, (c["label"], k)))
        centres, strips = [], {}
        for n, (mask, (label, _)) in enumerate(raw):
            _, _, x0, x1 = bounds(mask)
            centres.append(x0 + x1 - 1)
            strips.setdefault(label, []).append(n)  # a blob's strips, in the order of its seams
        for ns in strips.values():  # a blob's strips keep that order: seams that lean leave slivers whose centres
            for n, centre in zip(ns, sorted(centres[n] for n in ns)):  # lie past their neighbours'
                centres[n] = centre
        self.pieces = np.full(labels.shape, -1, dtype=np.int32)
        self.spans, self.owners = [], []
        for k, i in enumerate(np.argsort(centres, kind="stable")):
            mask, owner = raw[i]
            self.pieces[mask] = k
            self.spans.append(bounds(mask)[2:])
            self.owners.append(owner)

    def along_slant(self, budget):
        """The line cut again, its blobs along their slant (slant_shifts), or None: no blob of it is cut or
        slants, or its candidates would be more than `budget` (what the picture's limit leaves)."""
        if not self.cut_cost:
            return None
        ink, labels, comps = self._source
        try:
            twin = _Line(ink, labels, comps, self.height, budget, slanted=True, limit=self.limit)
        except TooManyCuts:  # the upright cuts alone are read then
            return None
        return twin if twin.sheared else None

    @staticmethod
    def _over_a_digit(c, comps):
        """A small component above or below a digit (a stroke of it), not beside one (a dot, a comma)."""
        return any(d is not c and not d["small"] and overlap(c["x0"], c["x1"], d["x0"], d["x1"])
                   >= 0.5 * (c["x1"] - c["x0"]) for d in comps)

    def _runs(self):
        """[(i, j)]: the runs of consecutive pieces i..j-1 that could be one digit (not too wide, no wide gap)."""
        runs, n, height = [], len(self.spans), self.height
        for i in range(n):
            right = self.spans[i][1]
            for j in range(i + 1, n + 1):
                if j > i + 1:
                    if self.spans[j - 1][0] - right > MAX_GAP * height:
                        break
                    right = max(right, self.spans[j - 1][1])
                    if right - self.spans[i][0] > MAX_WIDTH * height:
                        break
                runs.append((i, j))
        for i, j in self._whole_blobs():  # a bold wide digit is one blob wider than MAX_WIDTH x H: read it whole too
            if (i, j) not in runs:
                runs.append((i, j))
        return sorted(runs, key=lambda run: run[0])  # by first piece, as best() needs (stable: j stays ascending)

    def _blob_strips(self):
        """{label: [piece indices]}: the strips of each blob cut by seams, in order."""
        strips = {}
        for k, (label, _) in enumerate(self.owners):
            if label in self.cut_cost:
                strips.setdefault(label, []).append(k)
        return strips

    def _whole_blobs(self):
        """[(i, j)]: the blobs cut into strips whose strips are the consecutive pieces i..j-1."""
        return [(ks[0], ks[-1] + 1) for ks in self._blob_strips().values() if ks == list(range(ks[0], ks[-1] + 1))]

    def _candidates(self, ink, budget):
        """self.runs [(i, j): pieces i..j-1 as one digit], their boxes (ink-map pixels) and 28x28 fields; a run
        cut from a blob of several digits (GROW_BLOB) comes twice, the second time with the blob's ink within
        GROW x H of it (self.grown). More runs than `budget` (what the picture's limit leaves): TooManyCuts, before
        any is cut out."""
        runs = self._runs()
        if len(runs) > budget:
            count = self.limit - budget + len(runs)
            raise TooManyCuts(f"too much joined ink to read: cutting it gives over {count:,} candidate digits, and "
                              f"at most {self.limit:,} are read (write the digits apart, or send fewer at a time)")
        self._one_blob_at_most(runs)
        self.runs, self.boxes, self.fields, self.grown, self.lengths = [], [], [], [], []
        for i, j in runs:
            member = self.member(i, j)
            box = self._add(i, j, member, ink, False, None)
            grown = self._near(i, j, member)
            if grown is not None:  # its neighbours' ink near: a seam may have cut off part of it
                self._add(i, j, grown, ink, True, box)

    def _one_blob_at_most(self, runs):
        """TooManyCuts when more than MAX_CANDIDATES of the runs take in strips of one blob: the picture's limit
        grows with its pieces of ink, the limit of a blob does not."""
        starts, stops = np.array([i for i, _ in runs]), np.array([j for _, j in runs])
        for ks in self._blob_strips().values():
            count = int(np.sum((starts <= max(ks)) & (stops > min(ks))))
            if count > MAX_CANDIDATES:
                raise TooManyCuts(f"too much joined ink to read: cutting one stroke of it gives over {count:,} "
                                  f"candidate digits, and at most {MAX_CANDIDATES:,} are read (write the digits "
                                  "apart, or send fewer at a time)")

    def own(self):
        """The indices (into self.runs) of the candidates of its own, what the picture's limit counts: not those read
        again with their neighbours' ink (self.grown), which are not cuts of their own."""
        return [k for k, grown in enumerate(self.grown) if not grown]

    def _add(self, i, j, member, ink, grown, box):
        """One candidate: run (i, j) as the ink under member (line pixels); its box is the run's own."""
        y0, y1, x0, x1 = bounds(member)
        crop = np.where(member[y0:y1, x0:x1], ink[y0:y1, x0:x1], 0).astype(np.float32)
        box = box or (int(x0 + self.x0), int(y0 + self.y0), int(x1 + self.x0), int(y1 + self.y0))
        self.runs.append((i, j))
        self.boxes.append(box)
        self.fields.append(to_field(crop, "a digit"))
        self.grown.append(grown)
        self.lengths.append(relative_length(crop))
        return box

    def member(self, i, j, grown=False):
        """(line pixels) bool: the ink of pieces i..j-1; grown: and of the other strips of the blobs at least
        GROW_BLOB x H wide it was cut from, within GROW x H of it."""
        member = (self.pieces >= i) & (self.pieces < j)
        near = self._near(i, j, member) if grown else None
        return member if near is None else near

    def _near(self, i, j, member):
        """member (the ink of pieces i..j-1) with its blobs' other strips within GROW x H of it; None when
        that adds nothing (no blob GROW_BLOB x H wide was cut, or none of its ink lies that near)."""
        labels = {label for label, _ in self.owners[i:j] if self.blob_width.get(label, 0) >= GROW_BLOB}
        kin = [k for k, (label, _) in enumerate(self.owners) if label in labels and not i <= k < j]
        if not kin:
            return None
        d = max(1, int(round(GROW * self.height)))
        y0, y1, x0, x1 = bounds(member)
        y0, y1, x0, x1 = max(0, y0 - d), min(member.shape[0], y1 + d), max(0, x0 - d), min(member.shape[1], x1 + d)
        near = member.copy()
        near[y0:y1, x0:x1] = ndimage().binary_dilation(member[y0:y1, x0:x1], iterations=d)
        near &= member | np.isin(self.pieces, kin)
        return near if (near != member).any() else None

    def _score(self, box, probabilities, margin, length):
        """A candidate digit's score: its confidence (capped log-odds, and log-probability) and how far below the
        threshold of "not a digit" it lies, by its width, less the cost of an unlikely shape (too wide, too low,
        strokes too long for the digit read: length is theirs / its height)."""
        p = min(float(np.max(probabilities)), 1 - 1e-15)
        score = WEIGHT * (min(np.log(p) - np.log1p(-p), CAP) - CAP) + LOW_COST * np.log(p)
        score -= DOUBT_COST * max(0.0, -float(margin))
        width, height = (box[2] - box[0]) / self.height, (box[3] - box[1]) / self.height
        score *= max(width, BY_WIDTH) / BY_WIDTH
        score -= WIDE_COST * max(0.0, width - WIDE_AT) + SHORT_COST * max(0.0, SHORT_AT - height)
        return score - LONG_COST * max(0.0, length - LONG_AT[int(np.argmax(probabilities))])

    def _between(self, a, b):
        """The cost of reading runs a and b (indices into self.runs) as neighbouring digits: the ink the
        seams between them cut through, the cut of a blob too narrow to hold two digits (BLOB_AT), and their
        boxes' overlap."""
        cost = 0.0
        left, right = {}, {}
        for label, strip in self.owners[self.runs[a][0]:self.runs[a][1]]:
            left.setdefault(label, []).append(strip)
        for label, strip in self.owners[self.runs[b][0]:self.runs[b][1]]:
            right.setdefault(label, []).append(strip)
        for label in left.keys() & right.keys():
            lo, hi = sorted((max(left[label]), min(right[label])))
            cost += CROSS_COST * sum(self.cut_cost[label][lo + 1:hi + 1])
            cost += BLOB_COST * max(0.0, BLOB_AT - self.blob_width[label])
        overlap = (self.boxes[a][2] - self.boxes[b][0]) / self.height
        return cost + OVERLAP_COST * max(0.0, overlap - OVERLAP_AT)

    def score(self, k, probabilities, margin):
        """Candidate k's score (_score), given its probabilities and margin."""
        return self._score(self.boxes[k], probabilities, margin, self.lengths[k])

    def best(self, probabilities, margins):
        """(the best reading's total score, at most 0; its indices into self.runs): dynamic programming over
        (last digit) states."""
        n = len(self.spans)
        score = [self.score(k, p, m) for k, (p, m) in enumerate(zip(probabilities, margins))]
        ending = {}  # piece index -> runs that end just before it
        for k, (_, j) in enumerate(self.runs):
            ending.setdefault(j, []).append(k)
        total, back = {}, {}
        for k, (i, _) in enumerate(self.runs):  # runs come ordered by their first piece
            if i == 0:
                total[k], back[k] = score[k], None
                continue
            options = [(total[m] + score[k] - self._between(m, k), m) for m in ending.get(i, []) if m in total]
            if options:
                total[k], back[k] = max(options)
        best_total, last = max((total[k], k) for k in ending[n] if k in total)
        chosen = []
        while last is not None:
            chosen.append(last)
            last = back[last]
        return best_total, chosen[::-1]
