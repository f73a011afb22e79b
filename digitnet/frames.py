"""Boxes drawn round digits: the frame of a form's field, taken out of the ink before the digits are looked
for (rules.remove_rules calls it first, for `read` and `predict`).

A box joins nothing to the digit in it, but its sides are strokes as long as the digit is high: `predict`
read a digit in a box as the box (6 of 100 test digits so drawn read right, 99 rejected), and `read` cut
the sides out as 1s (none of the 100 read right: 1d1, 13, 1d). A box is one piece of ink (with the digit,
if the digit touches it) whose four sides are straight lines:

    side   = the first ink met from that edge of the piece's box, along each row or column: within EDGE x
             its height (or width) of the edge for FILL of them (less the corners of a box turned by up to
             TILT, where the sides across run on), off the straight line fitted through it by at most
             STRAIGHT x the line's thickness (a hand-drawn 0 curves away from its box's corners)
    inside = ink, in the box less its sides and any column of ink from its top side to its bottom one, at
             least INSIDE x as high as the box: a digit in it (an empty box, a 0 drawn square and two square
             0s side by side have none; an empty box goes all the same beside a box alike that has one)

A row of boxes drawn as one piece (a form's comb) has walls between its boxes: ink from the top side's line to
the bottom's in every row near one column (as near as the slope of the comb's lines makes a wall drift, and a
pixel for a photo's ragged edge), no wider than two sides are deep (two boxes' sides side by side), leaving
each box ROOM x as wide as high; they go too.
Each side's line is taken out as thick as the THICK percentile of its runs of ink from the edge in (where
the digit touches the line, the run goes on into the digit); the digit keeps what lies inside the lines.

A field open at the top (_open_frame) is a base line with an upright tick at each end: a cup, or a comb of
cells whose walls are ticks rising from one base line, as printed forms have them. Its base is the bottom
side, found as above, at most THIN x a cell's width thick (a bold digit's flat bottom is thicker). Each
end's tick is the first ink from that side, upright (UPRIGHT: a 4's arm over its bar slants), a stroke of
its own (the side of a 0 or an 8 curves on), rising at least TICK x the cell's width and two line widths
from the base. The ticks between are the thin uprights from the base, no higher than the end ones and as
high as each other, that lie on an even grid of cells (a 1 standing on the line lies off it; the fewer the
cells, the surer each tick must be). Some cell has ink over the base at least INSIDE x as high as the cell
is wide: a digit.
"""
import numpy as np

from .strokes import find_objects, label, ndimage

__all__ = ["remove_frames"]

EDGE = 0.15      # a side's line lies within this part of the box's height (width) of its edge ...
FILL = 0.9       # ... along this part of the box's width (height) ...
STRAIGHT = 2.0   # ... its place varying by at most this many times its thickness (10th to 90th percentile)
INSIDE = 0.25    # the ink inside the sides is at least this part of the box's height: a digit
THICK = 25       # a side's line is as thick as this percentile of the runs of ink from its edge in
ROOM = 0.6       # the walls of a row of boxes leave each box at least this wide (x its height)
SMALLEST = 12    # a box is at least this many pixels on each side
TICK = 0.1       # an open field's end ticks rise at least this part of its cell's width from its base
UPRIGHT = 0.1    # ... upright: its side drifts by at most this part of its height (and a pixel)
THIN = 0.15      # its base line is at most this part of a cell's width thick
TILT = 0.08      # the sides of a box turned a little slope by this much at most (rows a column: 4.6 degrees)
SAME = 0.15      # an empty box in a row of boxes is as high and as wide as one with a digit, within this part,
NEAR = 0.5       # ... and at most this part of its height from it
GRID = 0.1       # the ticks between its cells lie within this part of a cell's width of an even grid


def remove_frames(ink):
    """(ink with the frames of boxes drawn round digits at 0, how many were taken out). An empty box goes too
    where it continues a row of boxes that hold digits, as high and as wide as they are (_beside_boxes): the end
    of a form's field longer than the number written in it (elsewhere it is kept: it may be a 0 drawn square)."""
    mask = ink > 0
    labels, _ = label(mask)
    taken, boxes, empty = [], [], []
    for k, where in enumerate(find_objects(labels), start=1):
        piece = labels[where] == k
        if min(piece.shape) < SMALLEST:
            continue
        frame, held = _frame(piece, mask[where])
        if frame is not None:
            (boxes if held else empty).append((where, frame))
        elif (frame := _open_frame(piece, mask, where)) is not None:
            taken.append((where, frame))
    taken += boxes + _beside_boxes(empty, [where for where, _ in boxes])
    if not taken:
        return ink, 0
    out = ink.copy()
    for where, frame in taken:
        out[where][frame] = 0
    return out, len(taken)


def _beside_boxes(empty, row):
    """The empty boxes (where, frame) that continue a row of boxes (row: the boxes with a digit, as slices): as
    high and as wide as a box of the row, within SAME, in its row and at most NEAR x its height from it, in turn
    (a field's last two boxes). A square 0 along the line, or narrower than the boxes, stays."""
    taken, rest, grew = [], list(empty), True
    while grew:
        grew = False
        for item in list(rest):
            if any(_beside(item[0], box) for box in row):
                taken.append(item)
                row.append(item[0])
                rest.remove(item)
                grew = True
    return taken


def _beside(a, b):
    """Whether the boxes a and b (slices) are alike, within SAME, and side by side, at most NEAR x high apart."""
    (high_a, wide_a), (high_b, wide_b) = [(c[0].stop - c[0].start, c[1].stop - c[1].start) for c in (a, b)]
    alike = abs(high_a - high_b) <= SAME * max(high_a, high_b) and abs(wide_a - wide_b) <= SAME * max(wide_a, wide_b)
    overlap = min(a[0].stop, b[0].stop) - max(a[0].start, b[0].start)
    gap = max(a[1].start, b[1].start) - min(a[1].stop, b[1].stop)
    return alike and overlap >= 0.5 * min(high_a, high_b) and gap <= NEAR * min(high_a, high_b)


def _frame(piece, ink):
    """((bool, piece's shape) the pixels of its box's four sides, whether a digit is in it), or (None, False) when
    it is not a box. ink: all the ink (bool) in the piece's box, the digit's included when it does not touch it."""
    turned = [np.rot90(piece, turns) for turns in range(4)]  # each side as the top: top, right, bottom, left
    edges = [_edge_ink(side) for side in turned]
    h, w = piece.shape
    if not _filled(edges, [TILT] * 4, (w, h, w, h)):
        return None, False  # the cheap test first: most pieces are digits
    sides, depth, slopes = np.zeros_like(piece), [], []
    for turns, (side, (first, near)) in enumerate(zip(turned, edges)):
        found = _top_line(side, first, near)
        if found is None:
            return None, False
        sides |= np.rot90(found[0], -turns)
        depth.append(found[1])
        slopes.append(found[2])
    if not _filled(edges, slopes, (w, h, w, h)):
        return None, False
    rows, cols = slice(depth[0], h - depth[2]), slice(depth[3], w - depth[1])  # the box less its sides
    inner = piece[rows, cols]
    # the walls of a row of boxes turned a little drift sideways as its top and bottom lines slope, and a photo's
    # walls have ragged edges: a wall is ink within `reach` of a column all the way down
    reach = 1 + int(np.ceil(max(slopes[0], slopes[2]) * inner.shape[0] / 2))
    near = ndimage().maximum_filter1d(inner, 2 * reach + 1, axis=1)
    full = inner.shape[0] > 0  # (no rows left: no column is ink from top to bottom)
    upright, exact = near.all(axis=0) & full, inner.all(axis=0) & full  # ink from the top line to the bottom one
    walls = np.zeros(inner.shape[1], dtype=bool)
    for start, stop in _walls(upright, inner.shape[0], 2 * max(depth) + 2 * reach):  # two sides side by side
        walls[max(0, start - reach):stop + reach] = True  # and the wall's ink, however it slants
    sides[:, cols] |= walls
    inside = ink[rows, cols] & ~(walls | exact)  # a wall left standing is no digit (two square 0s that touch); a 1
    # leaning by a pixel or two from the top line to the bottom one is (upright, the columns near ink all the way)
    held = np.flatnonzero(inside.any(axis=1))  # the rows the digit inside takes
    return sides & piece, bool(held.size and held[-1] - held[0] + 1 >= INSIDE * h)


def _filled(edges, slopes, lengths):
    """Whether each side (edges: _edge_ink of each, top, right, bottom, left) has its first ink near the edge
    along FILL of its length, less where the sides across it, sloping (slopes: rows a column, each side's), run
    on past its ends: a box turned a little has no ink of its side in its corners."""
    return all(near.mean() >= FILL - max(slopes[(k + 1) % 4], slopes[(k + 3) % 4]) * lengths[(k + 1) % 4] / lengths[k]
               for k, (_, near) in enumerate(edges))


def _walls(upright, high, widest):
    """[(first column, last + 1)] (of the box less its sides) of the walls between the boxes of a row of boxes
    drawn as one piece (a form's comb): groups of at most `widest` upright columns (ink from the top side's line
    to the bottom's) that leave each box at least ROOM x as wide as it is `high` (a digit's upright stroke
    touching both lines leaves less)."""
    walls = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], upright.astype(np.int8), [0]])))
    left = 0
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start <= widest and start - left >= ROOM * high and upright.size - stop >= ROOM * high:
            walls.append((start, stop))
            left = stop
    return walls


def _top_line(piece, first, near):
    """((bool) the top side's line of a piece's box: in each column, the line's thickness from the first ink
    down; how deep the line reaches, in rows, with a pixel to spare; how much it slopes, in rows a column), or
    None when the first ink (first, near: _edge_ink) lies not straight: off the straight line fitted through it
    (a box turned a little is straight) by more than STRAIGHT x its thickness, or that line slopes by more than
    TILT. _frame has checked that FILL of
    the columns have it within EDGE of the top."""
    runs = [_run(piece[f:, x]) for x, f in enumerate(first) if near[x]]
    thick = max(1, int(np.percentile(runs, THICK)))  # where the digit touches the line, the run goes on into it
    xs = np.flatnonzero(near)
    slope, offset = np.polyfit(xs, first[near], 1) if xs.size > 1 else (0.0, 0.0)
    low, high = np.percentile(first[near] - slope * xs, [10, 90])
    if high - low > STRAIGHT * thick or abs(slope) > TILT:
        return None
    line = np.zeros_like(piece)
    for x in xs:
        line[first[x]:first[x] + thick + 1, x] = True
    return line, int(np.percentile(first[near], 90)) + thick + 2, abs(float(slope))


def _edge_ink(piece):
    """(each column's first row of ink, the piece's height where it has none; whether that is within EDGE of the
    top)."""
    h = piece.shape[0]
    first = np.where(piece.any(axis=0), piece.argmax(axis=0), h)
    return first, first < max(2, EDGE * h)


def _run(column):
    """How many pixels of ink a column (bool) starts with."""
    gaps = np.flatnonzero(~column)
    return int(gaps[0]) if gaps.size else column.size


# ------------------------------------------------------------------------------- fields open at the top

def _open_frame(piece, mask, where):
    """(bool, piece's shape) the base line and ticks of a field open at the top, or None when the piece is not
    one with a digit over it. mask: all the ink (bool); where: the piece's box in it."""
    h, w = piece.shape
    low = piece[::-1]  # the bottom side as the top
    first, near = _edge_ink(low)
    if near.mean() < FILL:
        return None  # the cheap test first: most pieces have no flat bottom
    found = _top_line(low, first, near)
    if found is None:
        return None
    frame, base = found[0][::-1].copy(), h - found[1] + 1  # the base line, and the first row under what is over it
    thick = max(1, int(found[0].sum(axis=0)[near].mean()) - 1)
    over = piece[:base]
    labels, _ = label(over)  # once, for the ticks at both ends and between
    ends = [_tick(over, labels, thick), _tick(over[:, ::-1], labels[:, ::-1], thick)]
    if None in ends:
        return None
    frame[:base] |= ends[0][1] | ends[1][1][:, ::-1]
    inner = _between_ticks(over, labels, thick, min(t for t, _ in ends), max(t for t, _ in ends))
    for ticks in [inner, []] if inner else [[]]:  # a 1 standing mid-cup is no tick: then no cell holds a digit
        cells = [0] + [(a + b) // 2 for a, b, _ in ticks] + [w]
        width = min(np.diff(cells))
        if width < SMALLEST or thick > THIN * width or min(t for t, _ in ends) < max(2 * thick, TICK * width):
            continue  # a bold digit's flat bottom is no line: a field's lines are thin beside its cells
        fields = frame.copy()
        for a, b, top in ticks:  # up to its top: a digit touching it keeps what lies over it
            fields[top:base, max(0, a - 1):b + 1] |= piece[top:base, max(0, a - 1):b + 1]
        fields &= piece
        if _digit_over(mask, where, base, cells, thick, fields):
            return fields
    return None


def _tick(piece, labels, thick):
    """(how high, its pixels) of the upright tick at the left end of an open field's base (piece: the ink over
    the base; labels: its pieces, labelled), or None when no straight upright stroke of its own rises from the
    base there."""
    rows = piece.any(axis=1)
    first = np.where(rows, piece.argmax(axis=1), piece.shape[1])
    high = 0
    for y in range(piece.shape[0] - 1, -1, -1):  # up from the base while the first ink lies at the edge
        if first[y] > STRAIGHT * thick:
            break
        high += 1
    if high == 0:
        return None
    ys = np.arange(piece.shape[0] - high, piece.shape[0])
    if np.ptp(first[ys]) > UPRIGHT * high + 1:
        return None  # a slanted stroke: the arm of a 4 over its bar, no tick
    runs = [_run(piece[y, first[y]:]) for y in ys]
    width = max(1, int(np.percentile(runs, THICK)))
    if width > 2 * thick + 1:
        return None  # a stroke as wide as a digit's body, no tick
    if not _alone(labels, first[-1], first[-1] + width, int(STRAIGHT * thick) + width + 1):
        return None  # not a stroke of its own: the side of a round digit (a 0, an 8) that curves on over it
    tick = np.zeros_like(piece)
    for y in ys:
        tick[y, first[y]:first[y] + width + 1] = True
    return high, tick


def _between_ticks(over, labels, thick, lowest, highest):
    """[(first column, last + 1, top row)] of the ticks between an open field's cells: upright runs of ink from
    the base (over: the ink over it; labels: its pieces, labelled) at least half the end ticks' height and no
    higher than theirs, no wider than two lines, as high as each other, that lie on the even grid with the
    most cells (GRID). The fewer the cells, the likelier a digit's stroke lies on the grid by chance, so the
    surer each tick must be:

        one tick, two cells        a stroke of its own (a digit's stroke standing on the base goes on)
        two ticks, three cells     that, or one whose top is free: a digit touches it at its side
        three ticks or more        any (digits written across the ticks)
    """
    w = over.shape[1]
    up = np.argmin(over[::-1], axis=0)  # each column's run of ink up from the base
    up[over.all(axis=0)] = over.shape[0]
    tall = (up >= 0.5 * lowest) & (up <= highest + thick)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], tall.astype(np.int8), [0]])))
    found = []  # (first column, last + 1, top row, how sure: 2 its own stroke, 1 its top free, 0 neither)
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a <= 2 * thick + 1 and 0 < a and b < w:
            top = over.shape[0] - int(up[a:b].max())
            free = not over[max(0, top - thick):top, max(0, a - thick):b + thick].any()
            found.append((a, b, top, 2 if _alone(labels, a, b, b - a + 2 * thick + 1) else int(free)))
    for n in range(len(found) + 1, 1, -1):  # the grid of n cells whose inner points all have a tick near
        grid = np.arange(1, n) * w / n
        ticks = [t for t in found if t[3] >= max(0, 4 - n)]
        picked = [min(ticks, key=lambda t: abs((t[0] + t[1]) / 2 - g)) for g in grid] if ticks else []
        tops = [t[2] for t in picked]
        if picked and all(abs((a + b) / 2 - g) <= GRID * w / n for (a, b, _, _), g in zip(picked, grid)) \
                and max(tops) - min(tops) <= 2 * thick:  # a comb's ticks are alike
            return [t[:3] for t in picked]
    return []


def _alone(labels, a, b, widest):
    """Whether the ink standing on the bottom row in columns a..b-1 (labels: the ink over a field's base,
    labelled) is a stroke of its own, at most `widest` columns wide: a tick, not a digit's stroke."""
    own = np.isin(labels, np.setdiff1d(labels[-1, a:b], [0]))
    return own.any(axis=0).sum() <= widest


def _digit_over(mask, where, base, cells, thick, frame):
    """Whether some cell of an open field has ink over its base, the frame's left out, at least INSIDE x as
    high as the cell is wide (looked for up to 1.5 cells' widths over the base): a digit (an empty cup or
    comb has none)."""
    top, left = where[0].start, where[1].start
    y1 = top + base
    y0 = max(0, y1 - int(1.5 * max(np.diff(cells))))
    ink = mask[y0:y1, left:left + frame.shape[1]].copy()
    ink[max(0, top - y0):] &= ~frame[max(0, y0 - top):base]
    for a, b in zip(cells[:-1], cells[1:]):
        rows = np.flatnonzero(ink[max(0, ink.shape[0] - int(1.5 * (b - a))):, a + 2 * thick:b - 2 * thick].any(axis=1))
        if rows.size and rows[-1] - rows[0] + 1 >= INSIDE * (b - a):
            return True
    return False
