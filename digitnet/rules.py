"""Ruled lines: the long straight strokes of lined paper, an underline, a margin line, found and taken out
of the ink before the digits are looked for (reader.read_ink) or one digit is prepared (preprocess.to_mnist).
A box drawn round a digit, or a field open at the top, goes first (frames.remove_frames), and counts as one
rule.

A rule touches the digits it runs under or through and joins them into one blob, which the segmentation would
cut up as if it were digits (2024 underlined was read 2?2222). A digit's strokes are short: a 7's bar or a 1
is about one digit high or wide. So a straight run of ink, across or down, is a rule when it is RULE_LENGTH
digit heights long, or EDGE_LENGTH long (across; down), reaching from one side of the picture to the other
(the lines of a narrow photo of lined paper) and REACH past the other ink at both ends (the base of a wide 2
cropped tight reaches from side to side too, but not past the 2's other strokes); straight pieces PIECE long
that join up count as one run, so a rule may be tilted a few degrees. Its pixels are removed; the digits it
crossed come out in pieces, which the segmentation joins again as it joins a digit drawn in several strokes.

    spread = the ink, spread TILT stroke widths up and down (a rule a little off level stays one piece)
    pieces = opening(spread, a line PIECE x H long) and ink          (and the same down the columns)
    rules  = the components of pieces RULE_LENGTH x H long, or EDGE_LENGTH x H from side to side and
             REACH x H past the other ink at both ends, or (across) UNDER x H long under two digits
             or more and over next to no ink: the underline of a short number, or PIECE x H long
             reaching PAST_ONE x H past the ink over it at both ends: the underline of one digit

and of a rule across, only its own line is taken out (BAND): the ink off it goes back to the digits (a 2's
base sitting on the line, a digit's ink within TILT stroke widths of it). A rule is a line: a run whose pieces
are thicker on average than THIN x H (area / length) is a solid shape, not a rule (a shoe, given to predict);
not a stroke width, since a ruled line may be drawn thicker than the digits.

H, the digits' height, is measured as the segmentation measures it (strokes.digit_height: strokes stacked into
digits, the median height weighted by area), without the runs that are surely rules (LONG_RUN stroke widths
long, or pieces SIDE_RUN long, or as long as the picture is wide, joined up from side to side and PAST stroke
widths past the other ink: they join the digits into one tall blob) and without flat components (rules,
dashes); then again without the rules found, since a rule missed at first (a tilted one) makes H too high, and
with it the length a rule needs (ROUNDS); an underline of a short number found in one round stays found when a
later round, at the lower H, finds no rule at all (the line with a digit's base on it is then too thick for one).
When nothing but flat ink is left, there is no H: blank lined paper.
Then two or more pieces that lie wholly on long or side-to-side runs are rules, and the picture has no digit
(a lone bar is kept, as predict reads it).
"""
import numpy as np

from .frames import remove_frames
from .strokes import (
    bounds,
    components,
    digit_height,
    find_objects,
    label,
    ndimage,
    overlap,
    span,
    stack_strokes,
    stroke_width,
)

__all__ = ["remove_rules", "only_rules"]

RULE_LENGTH = 2.5  # a straight run of ink this many digit heights long is a rule (a digit's strokes: about 1) ...
EDGE_LENGTH = {1: 1.0, 0: 1.5}  # ... or this long (across, down) from side to side of the picture (lined paper in
                                # a narrow crop: one digit's photo), down longer: a 4's stem reaches past its arm
PIECE = 0.75       # ... made of straight pieces at least this long (x H), joined up: a rule may be tilted a little
SIDE_GAP = 0.1     # "from side to side": to within this much (x H) of each (a photo's line may fade at the edge) ...
REACH = 0.2        # ... and past the other ink by this much (x H) at both ends: not a wide digit's bar cropped tight
THIN = 0.3         # a rule is at most this thick on average (x H): thicker, it is a solid shape (a shoe)
UNDER = 1.2        # a shorter run across, this long (x H), is an underline when it lies under two digits or more,
TALL = 0.5         # ... each at least this high (x H) ...
COVER = 0.8        # ... and this much of its width over the run, ...
PAST_ONE = 0.25    # ... or, as short as a straight piece (PIECE), reaches this far (x H) past one digit's ink at both
                   # ends (a plain digit's bottom stroke at its nearer end: 0.1 H at most for 30 of 600 of the sample's
                   # digits, 0.19 and 0.23 H for two 2s of the test set's 10,000, which 0.15 took)
APART = 0.08       # ... or lies this far (x H, 3 pixels at least) under all the ink over it, spanning COVER of it
BELOW = 0.1        # ... over next to no ink (within H below it, this much of the ink within 1.5 H above it) ...
GAPS = 0.3         # ... and it runs bare (no ink a digit height over it) for this much of its length (x H): under the
                   # gaps between digits; the bottoms of digits that touch leave none (at most 0.19 H bare, in 6 of
                   # 600 touching numbers of the sample's digits; under 109 underlined ones, 0.34 H at least)
BAND = 0.5         # what is taken out of a rule across is its own line: half its thickness, and this many pixels,
                   # either side of its centre (0.5: 89 -> 94 of the sample's 100 lined numbers; 1 and 2: 93)
ROUNDS = 3         # H is measured again without the rules found, at most this many times
LONG_RUN = 40.0    # runs across this many stroke widths long are left out when H is measured, and so are those ...
SIDE_RUN = 8.0     # ... this long that join up from one side of the picture to the other, reaching ...
PAST = 2.0         # ... this many stroke widths past the other ink at both ends
TILT = 0.25        # the ink is spread this many stroke widths across a run: a rule may tilt or wobble that much
FLAT = 2.0         # components at most this many stroke widths thick on average are not digits (rules, dashes) ...
MIN_HEIGHT = 8     # ... and no digit is measured shorter than this many pixels


def remove_rules(ink):
    """(ink with its rules at 0, how many rules were taken out): see the module's doc.

    Args:
        ink: 2-D float array, ink bright on 0 (ink.ink_map).

    Examples:
        >>> import numpy as np
        >>> ink = np.zeros((60, 300), dtype=np.float32)
        >>> ink[10:40, 50:54] = ink[10:40, 150:154] = 1.0   # two 1s ...
        >>> ink[40:43, 20:280] = 1.0                         # ... underlined
        >>> out, count = remove_rules(ink)
        >>> count, float(out[40:43].sum()), float(out[10:38].sum()) == float(ink[10:38].sum())
        (1, 0.0, True)
    """
    ink, frames = remove_frames(ink)  # a box round a digit, a field's ticks (frames.py), then the lines
    out, count = _remove_lines(ink)
    return out, count + frames


def _remove_lines(ink):
    """remove_rules without the boxes."""
    mask = ink > 0
    if not mask.any():
        return ink, 0
    width = max(stroke_width(ink), 1.0)
    spread = max(1, int(round(TILT * width)))
    wide = {}  # the ink spread across each axis (_spread), made when first needed
    long = _runs(mask, wide, spread, int(round(LONG_RUN * width)), 1)
    across = max(1, int(round(min(SIDE_RUN * width, mask.shape[1] - 2 * spread))))  # a narrow photo: its width
    side = np.zeros_like(mask)
    if _may_hold(mask, 1, spread, np.inf, across):
        side = _long_and_side_to_side(_runs(mask, wide, spread, across, 1), 1, spread, np.inf)[1]
    long |= _past(side, mask & ~long & ~side, long | side, 1, PAST * width)
    height = digit_height(np.where(long, 0, ink), FLAT * width)
    if height is None:  # nothing but flat ink: blank lined paper (a lone bar, or a wide 7 joined to its bar: kept)
        lines, count = _without(ink, _wholly(mask, long | side))
        return (lines, count) if count >= 2 else (ink, 0)
    underlines = None  # what the last round that found any found under a short number (_under)
    for _ in range(ROUNDS):  # rules not yet taken out join digits into tall blobs: H comes out too high at first
        height = max(height, MIN_HEIGHT)
        rules, under = _rules(mask, wide, height, spread)
        if not rules.any():
            if underlines is None:
                return ink, 0
            rules = underlines  # at the lower H, a thick underline (a digit's base on it) is too thick: it stays
            break
        underlines = under if under.any() else underlines
        again = digit_height(np.where(rules | long, 0, ink), FLAT * width)
        if again is None or again >= 0.9 * height:
            break
        height = again
    return _without(ink, rules, _own_line(rules))


def only_rules(count):
    """What a picture holds when it holds nothing but `count` ruled lines (the end of a "no digit found")."""
    return f"only {count} ruled line{'s' if count != 1 else ''}"


def _wholly(mask, runs):
    """(bool) the pieces of mask that lie wholly on runs."""
    labels, count = label(mask)
    whole = np.bincount(labels[runs], minlength=count + 1) == np.bincount(labels.ravel(), minlength=count + 1)
    whole[0] = False
    return whole[labels]


def _without(ink, rules, taken=None):
    """(ink with rules at 0, or only the part `taken` of them; how many rules there are)."""
    return np.where(rules if taken is None else taken, 0, ink).astype(ink.dtype), int(label(rules)[1])


def _own_line(rules):
    """(bool) the part of each rule across on its own line: in each column, within BAND pixels more than half its
    median thickness of its centre (the centres of the columns no more than a pixel thicker than that, smoothed by
    a running median over an eighth of its length). What lies off the line goes back to the digits: a 2's base
    sitting on it, a digit's ink within the spread. Rules down are kept whole."""
    labels, _ = label(rules)
    out = np.zeros_like(rules)
    for k, s in enumerate(find_objects(labels), start=1):
        rule = labels[s] == k
        h, w = rule.shape
        if w <= h:
            out[s] |= rule
            continue
        thickness = rule.sum(axis=0)
        rows = np.arange(h)[:, None]
        typical = np.median(thickness[thickness > 0])
        cols = np.flatnonzero((thickness > 0) & (thickness <= typical + 1))  # not where a stroke lies on it
        centre = (rows * rule).sum(axis=0)[cols] / thickness[cols]
        centre = ndimage().median_filter(np.interp(np.arange(w), cols, centre), size=max(3, w // 8 | 1),
                                         mode="nearest")
        out[s] |= rule & (np.abs(rows - centre) <= 0.5 * typical + BAND)
    return out


def _rules(mask, wide, height, spread):
    """(bool) the rules across and down: runs PIECE x height long joined up into one RULE_LENGTH x height long,
    or EDGE_LENGTH x height long from side to side (within SIDE_GAP x height of each) that reach REACH x height
    past the other ink at both ends (the base of a wide 2 cropped tight runs from side to side too), or the
    underline of a short number (_under); and (bool) those underlines alone."""
    gap = max(spread, SIDE_GAP * height)
    none = np.zeros_like(mask)
    runs, found = {}, {}
    for axis in (1, 0):
        shortest = (PIECE if axis else RULE_LENGTH) * height  # across: the underline of one digit (_under)
        if not _may_hold(mask, axis, gap, shortest, EDGE_LENGTH[axis] * height):
            runs[axis], found[axis] = none, (none, none)  # the ink is too short for a rule: no need to look
            continue
        runs[axis] = _runs(mask, wide, spread, int(round(PIECE * height)), axis)
        found[axis] = _long_and_side_to_side(runs[axis], axis, gap, THIN * height, RULE_LENGTH * height,
                                             EDGE_LENGTH[axis] * height)
    rules = found[1][0] | found[0][0]
    rest = mask & ~rules & ~found[1][1] & ~found[0][1]
    for axis, (_, side) in found.items():
        rules |= _past(side, rest, runs[axis], axis, REACH * height)
    under = _under(runs[1] & ~rules, mask, height)
    return rules | under, under


def _under(runs, mask, height):
    """(bool) the underlines: the runs across at most THIN x height thick on average, over next to no ink, that
    reach PAST_ONE x height past the ink over them at both ends (one digit's: _past_one), or lie apart under all
    of it (_apart_one), or are at least UNDER x height long and lie under two digits or more (stacks of strokes
    in the other ink, at least TALL x height high, whose middle is above the run's and COVER of whose width it
    runs under), run bare under the gaps between them (no ink a digit height over it, for GAPS x height of its
    length) and over next to no ink (in its columns, within a digit height below it, at most BELOW x the ink
    within 1.5 above it). Shorter than RULE_LENGTH, a
    rule needs the digits over it: the base of one wide 2 lies under one digit, the bottoms of digits that touch
    leave no gap, a stroke through the lower part of two digits runs over their bottoms."""
    labels, _ = label(runs)
    out = np.zeros_like(runs)
    for k, s in enumerate(find_objects(labels), start=1):
        x0, x1 = s[1].start, s[1].stop
        run = labels[s] == k
        if np.count_nonzero(run) > THIN * height * (x1 - x0):
            continue
        rest = mask & (labels != k)
        rows = s[0].start + np.nonzero(run)[0]
        middle, top, bottom = float(rows.mean()), int(rows.min()), int(rows.max()) + 1
        over_it = rest[max(0, int(top - 1.5 * height)):top, x0:x1]
        bare = np.count_nonzero(~over_it[-int(height):].any(axis=0))  # columns with no ink a digit height over it
        below = np.count_nonzero(rest[bottom:int(bottom + height), x0:x1])
        if below > BELOW * np.count_nonzero(over_it):
            continue
        if _past_one(rest, x0, x1, top, bottom, height) or _apart_one(rest, x0, x1, top, height):
            out |= labels == k
            continue
        if x1 - x0 < UNDER * height or bare < GAPS * height:
            continue
        comps = components(rest)[1]
        over = [c for c in comps if overlap(c["x0"], c["x1"], x0, x1) > 0
                and 0.5 * (c["y0"] + c["y1"]) < middle and c["y1"] >= middle - 1.5 * height]
        under = 0
        for stack in stack_strokes(over)[0] if over else []:
            a, b = min(over[i]["x0"] for i in stack), max(over[i]["x1"] for i in stack)
            y0, y1 = span(over, stack)
            under += overlap(a, b, x0, x1) >= COVER * (b - a) and y1 - y0 >= TALL * height
        if under >= 2:
            out |= labels == k
    return out


def _past_one(rest, x0, x1, top, bottom, height):
    """Whether a run across columns x0:x1, in rows top:bottom, reaches PAST_ONE x height past the other ink
    over it and beside it (rows from 1.5 x height over it down to its bottom) at both ends, under ink at least
    TALL x height high: the underline of one digit. The base of a 2 starts where its stroke comes down; a line
    drawn under a digit runs on past it."""
    over = _tall_ink_over(rest, top, bottom, height)
    reach = PAST_ONE * height
    return over is not None and bool(over[0] - x0 >= reach and x1 - over[1] >= reach)


def _apart_one(rest, x0, x1, top, height):
    """Whether a run across columns x0:x1, its top at row `top`, lies apart under the ink over it: none within
    APART x height over it, under ink at least TALL x height high (rows up to 1.5 x height over it) whose width
    it spans COVER of: a line drawn under one digit (or a whole number), not touching it. A 2's base cut off
    from its stroke has the end of the stroke right over it."""
    gap = max(3, int(round(APART * height)))
    over = _tall_ink_over(rest, top, top, height)
    if over is None or rest[max(0, top - gap):top, x0:x1].any():
        return False
    return overlap(over[0], over[1], x0, x1) >= COVER * (over[1] - over[0])


def _tall_ink_over(rest, top, bottom, height):
    """(x0, x1): the columns the ink of rest takes in the rows from 1.5 x height over `top` down to `bottom`;
    None when there is none, or it is less than TALL x height high (no digit over a run)."""
    box = bounds(rest[max(0, int(top - 1.5 * height)):bottom])
    return None if box is None or box[1] - box[0] < TALL * height else box[2:]


def _long_and_side_to_side(runs, axis, gap, thickest, length=np.inf, side_length=0):
    """(long, side): (bool) the components of runs no more than `thickest` pixels thick on average (area / length:
    a line, not a solid shape) and at least `length` long along axis; those at least `side_length` long and
    reaching from one side of the picture to the other (within `gap` pixels of each)."""
    labels, count = label(runs)
    long, side = np.zeros(count + 1, dtype=bool), np.zeros(count + 1, dtype=bool)
    for k, s in enumerate(find_objects(labels), start=1):
        start, stop = s[axis].start, s[axis].stop
        is_long = stop - start >= length
        is_side = not is_long and stop - start >= side_length and start <= gap and stop >= runs.shape[axis] - gap
        if (is_long or is_side) and np.count_nonzero(labels[s] == k) <= thickest * (stop - start):  # thin
            long[k], side[k] = is_long, is_side
    return tuple(flags[labels] if flags.any() else np.zeros_like(runs) for flags in (long, side))


def _past(side, rest, on_runs, axis, reach):
    """(bool) the components of side that reach `reach` pixels past the ink of rest at both ends along axis; none
    when rest has no other ink (a lone 1 from top to bottom is no rule). Of rest, only the pieces at least `reach`
    across the axis and not mostly on on_runs (straight runs along it) count, the digits: not specks, nor what is
    left of the other lines on a tilted page (lined paper turned 4 degrees: 28 -> 31 of 40 read right)."""
    if not side.any():
        return side
    labels, comps, _ = components(rest)
    straight = np.bincount(labels[on_runs], minlength=labels.max() + 1)
    pieces = [c for c in comps if (c["y1"] - c["y0"] if axis else c["x1"] - c["x0"]) >= reach
              and straight[c["label"]] <= 0.5 * c["area"]]
    if not pieces:
        return np.zeros_like(side)
    first = min(c["x0" if axis else "y0"] for c in pieces)
    last = max(c["x1" if axis else "y1"] for c in pieces)
    labels, _ = label(side)
    keep = [False] + [s[axis].start <= first - reach and s[axis].stop >= last + reach for s in find_objects(labels)]
    return np.asarray(keep)[labels]


def _may_hold(mask, axis, gap, length, side_length):
    """Whether the ink is long enough along axis for a run `length` long, or `side_length` long from side to
    side of the picture (within `gap` pixels of each): if not, no run of it is."""
    ink = np.flatnonzero(mask.any(axis=1 - axis))
    start, stop = ink[0], ink[-1] + 1
    return stop - start >= length or (stop - start >= side_length and start <= gap and stop >= mask.shape[axis] - gap)


def _spread(mask, axis, spread):
    """(uint8) the ink spread `spread` pixels across axis (up and down for runs across): a rule a little off level
    or wobbling stays one straight run."""
    return ndimage().maximum_filter1d(mask.view(np.uint8), 2 * spread + 1, axis=1 - axis)


def _runs(mask, wide, spread, length, axis):
    """(bool, mask's shape) the ink on straight runs at least `length` long along axis (1: across, 0: down): the
    ink spread `spread` pixels across it (kept in wide by axis, _spread), opened by a line of `length`, where there
    is ink. A digit's ink within the spread of a rule goes with it (narrowed back, a tilted rule would leave a
    sliver at each step)."""
    length |= 1  # odd: the opening's erosion and dilation then stay centred on each other
    if not _may_hold(mask, axis, 0, length, np.inf):
        return np.zeros_like(mask)
    if axis not in wide:
        wide[axis] = _spread(mask, axis, spread)
    nd = ndimage()
    opened = nd.maximum_filter1d(nd.minimum_filter1d(wide[axis], length, axis=axis), length, axis=axis)
    return mask & opened.astype(bool)
