"""Boxes drawn round digits: the frame of a form's field, taken out of the ink before the digits are looked
for (rules.remove_rules calls it first, for `read` and `predict`).

A box joins nothing to the digit in it, but its sides are strokes as long as the digit is high: `predict`
read a digit in a box as the box (6 of 100 test digits so drawn read right, 99 rejected), and `read` cut
the sides out as 1s (none of the 100 read right: 1d1, 13, 1d). A box is one piece of ink (with the digit,
if the digit touches it) whose four sides are straight lines:

    side   = the first ink met from that edge of the piece's box, along each row or column: within EDGE x
             its height (or width) of the edge for FILL of them, its place varying by at most STRAIGHT x
             the line's thickness (a hand-drawn 0 curves away from its box's corners)
    inside = ink, in the box less its sides and any column of ink from its top side to its bottom one, at
             least INSIDE x as high as the box: a digit in it (an empty box, a 0 drawn square and two square
             0s side by side have none)

A row of boxes drawn as one piece (a form's comb) has walls between its boxes: columns of ink from the top
side's line to the bottom's, no wider than two sides are deep (two boxes' sides side by side), leaving each
box ROOM x as wide as high; they go too.
Each side's line is taken out as thick as the THICK percentile of its runs of ink from the edge in (where
the digit touches the line, the run goes on into the digit); the digit keeps what lies inside the lines.
"""
import numpy as np

from .strokes import find_objects, label

__all__ = ["remove_frames"]

EDGE = 0.15      # a side's line lies within this part of the box's height (width) of its edge ...
FILL = 0.9       # ... along this part of the box's width (height) ...
STRAIGHT = 2.0   # ... its place varying by at most this many times its thickness (10th to 90th percentile)
INSIDE = 0.25    # the ink inside the sides is at least this part of the box's height: a digit
THICK = 25       # a side's line is as thick as this percentile of the runs of ink from its edge in
ROOM = 0.6       # the walls of a row of boxes leave each box at least this wide (x its height)
SMALLEST = 12    # a box is at least this many pixels on each side


def remove_frames(ink):
    """(ink with the frames of boxes drawn round digits at 0, how many were taken out)."""
    mask = ink > 0
    labels, _ = label(mask)
    out, count = ink, 0
    for k, where in enumerate(find_objects(labels), start=1):
        piece = labels[where] == k
        if min(piece.shape) < SMALLEST:
            continue
        frame = _frame(piece, mask[where])
        if frame is not None:
            if out is ink:
                out = ink.copy()
            out[where][frame] = 0
            count += 1
    return out, count


def _frame(piece, ink):
    """(bool, piece's shape) the pixels of its box's four sides, or None when it is not a box with a digit in it.
    ink: all the ink (bool) in the piece's box, the digit's included when it does not touch the box."""
    turned = [np.rot90(piece, turns) for turns in range(4)]  # each side as the top: top, right, bottom, left
    edges = [_edge_ink(side) for side in turned]
    if not all(near.mean() >= FILL for _, near in edges):
        return None  # the cheap test first: most pieces are digits
    sides, depth = np.zeros_like(piece), []
    for turns, (side, (first, near)) in enumerate(zip(turned, edges)):
        found = _top_line(side, first, near)
        if found is None:
            return None
        sides |= np.rot90(found[0], -turns)
        depth.append(found[1])
    h, w = piece.shape
    rows, cols = slice(depth[0], h - depth[2]), slice(depth[3], w - depth[1])  # the box less its sides
    inner = piece[rows, cols]
    upright = inner.all(axis=0) if inner.shape[0] else np.zeros(inner.shape[1], dtype=bool)  # top line to bottom
    sides[:, cols] |= _walls(upright, inner.shape[0], 2 * max(depth))  # two boxes' sides side by side
    inside = ink[rows, cols] & ~upright  # a wall left standing is no digit (two square 0s that touch)
    held = np.flatnonzero(inside.any(axis=1))  # the rows the digit inside takes
    if held.size == 0 or held[-1] - held[0] + 1 < INSIDE * h:
        return None
    return sides & piece


def _walls(upright, high, widest):
    """(bool, per column of the box less its sides) the walls between the boxes of a row of boxes drawn as one
    piece (a form's comb): groups of at most `widest` upright columns (ink from the top side's line to the
    bottom's) that leave each box at least ROOM x as wide as it is `high` (a digit's upright stroke touching
    both lines leaves less)."""
    walls = np.zeros_like(upright)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], upright.astype(np.int8), [0]])))
    left = 0
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start <= widest and start - left >= ROOM * high and upright.size - stop >= ROOM * high:
            walls[start:stop] = True
            left = stop
    return walls


def _top_line(piece, first, near):
    """((bool) the top side's line of a piece's box: in each column, the line's thickness from the first ink
    down; how deep the line reaches, in rows, with a pixel to spare), or None when the first ink (first, near:
    _edge_ink) lies not straight. _frame has checked that FILL of the columns have it within EDGE of the top."""
    runs = [_run(piece[f:, x]) for x, f in enumerate(first) if near[x]]
    thick = max(1, int(np.percentile(runs, THICK)))  # where the digit touches the line, the run goes on into it
    low, high = np.percentile(first[near], [10, 90])
    if high - low > STRAIGHT * thick:
        return None
    line = np.zeros_like(piece)
    for x in np.flatnonzero(near):
        line[first[x]:first[x] + thick + 1, x] = True
    return line, int(high) + thick + 2


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
