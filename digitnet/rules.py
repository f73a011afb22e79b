"""Ruled lines: the long straight strokes of lined paper, an underline, a margin line, found and taken out
of the ink before the digits are looked for (reader.read_ink).

A rule touches the digits it runs under or through and joins them into one blob, which the segmentation
would cut up as if it were digits (2024 underlined was read 2?2222). A digit's strokes are short: a 7's
bar or a 1 is about one digit high or wide. So a straight run of ink, across or down, is a rule when it is
RULE_LENGTH digit heights long, or EDGE_LENGTH long and reaching from one side of the picture to the other
(the lines of a narrow photo of lined paper); straight pieces PIECE long that join up count as one run, so
a rule may be tilted a few degrees. Its pixels are removed; the digits it crossed come out in
pieces, which the segmentation joins again as it joins a digit drawn in several strokes.

    spread = the ink, spread TILT stroke widths up and down (a rule a little off level stays one piece)
    pieces = opening(spread, a line PIECE x H long) and ink          (and the same down the columns)
    rules  = the components of pieces RULE_LENGTH x H long, or EDGE_LENGTH x H from side to side

so a digit also loses what ink lies within TILT stroke widths of a rule.

H, the digits' height, is measured as the segmentation measures it (strokes.digit_height: strokes stacked
into digits, the median height weighted by area), without the runs that are surely rules (LONG_RUN stroke
widths long, or pieces SIDE_RUN long joined up from side to side: they join the digits into one tall blob)
and without flat components (rules, dashes); then again without the rules found, since a rule missed at
first (a tilted one) makes H too high, and with it the length a rule needs (ROUNDS).
"""
import numpy as np

from .strokes import digit_height, find_objects, label, ndimage, stroke_width

__all__ = ["remove_rules"]

RULE_LENGTH = 2.5  # a straight run of ink this many digit heights long is a rule (a digit's strokes: about 1) ...
EDGE_LENGTH = 1.5  # ... or this long from side to side of the picture (lined paper in a narrow crop), ...
PIECE = 0.75       # ... made of straight pieces at least this long (x H), joined up: a rule may be tilted a little
SIDE_GAP = 0.1     # "from side to side": to within this much (x H) of each (a photo's line may fade at the edge)
ROUNDS = 3         # H is measured again without the rules found, at most this many times
LONG_RUN = 40.0    # runs across this many stroke widths long are left out when H is measured, and so are those ...
SIDE_RUN = 8.0     # ... this long that join up from one side of the picture to the other
TILT = 0.25        # the ink is spread this many stroke widths across a run: a rule may tilt or wobble that much
FLAT = 2.0         # components at most this many stroke widths thick on average are not digits (rules, dashes) ...
MIN_HEIGHT = 8     # ... and no digit is measured shorter than this many pixels


def remove_rules(ink):
    """(ink with its rules at 0, how many rules were taken out): see the module's doc.

    Args:
        ink: 2-D float array, ink bright on 0 (preprocess.ink_map).

    Examples:
        >>> import numpy as np
        >>> ink = np.zeros((60, 300), dtype=np.float32)
        >>> ink[10:40, 50:54] = ink[10:40, 150:154] = 1.0   # two 1s ...
        >>> ink[40:43, 20:280] = 1.0                         # ... underlined
        >>> out, count = remove_rules(ink)
        >>> count, float(out[40:43].sum()), float(out[10:38].sum()) == float(ink[10:38].sum())
        (1, 0.0, True)
    """
    mask = ink > 0
    if not mask.any():
        return ink, 0
    width = max(stroke_width(ink), 1.0)
    spread = max(1, int(round(TILT * width)))
    long = _runs(mask, int(round(LONG_RUN * width)), 1, spread)
    long |= _long_or_side_to_side(_runs(mask, int(round(SIDE_RUN * width)), 1, spread), 1, spread)
    height = digit_height(np.where(long, 0, ink), FLAT * width)
    if height is None:
        return ink, 0
    for _ in range(ROUNDS):  # rules not yet taken out join digits into tall blobs: H comes out too high at first
        height = max(height, MIN_HEIGHT)
        rules = _rules(mask, 1, height, spread) | _rules(mask, 0, height, spread)
        if not rules.any():
            return ink, 0
        again = digit_height(np.where(rules | long, 0, ink), FLAT * width)
        if again is None or again >= 0.9 * height:
            break
        height = again
    count = label(rules)[1]
    return np.where(rules, 0, ink).astype(ink.dtype), int(count)


def _rules(mask, axis, height, spread):
    """(bool) the rules along axis: runs PIECE x height long joined up into one RULE_LENGTH x height long, or
    EDGE_LENGTH x height long from side to side (within SIDE_GAP x height of each)."""
    runs = _runs(mask, int(round(PIECE * height)), axis, spread)
    return _long_or_side_to_side(runs, axis, max(spread, SIDE_GAP * height), RULE_LENGTH * height,
                                 EDGE_LENGTH * height)


def _long_or_side_to_side(runs, axis, gap, length=np.inf, side_length=0):
    """(bool) the components of runs at least `length` long along axis, or at least `side_length` and reaching
    from one side of the picture to the other (within `gap` pixels of each)."""
    labels, _ = label(runs)
    keep = [False]
    for s in find_objects(labels):
        start, stop = s[axis].start, s[axis].stop
        keep.append(stop - start >= length or (stop - start >= side_length and start <= gap
                                               and stop >= runs.shape[axis] - gap))
    return np.asarray(keep)[labels]


def _runs(mask, length, axis, spread):
    """(bool, mask's shape) the ink on straight runs at least `length` long along axis (1: across, 0: down): the
    ink spread `spread` pixels the other way, opened by a line of `length`, where there is ink. A digit's ink
    within `spread` of a rule goes with it (narrowed back, a tilted rule would leave a sliver at each step)."""
    length |= 1  # odd: the opening's erosion and dilation then stay centred on each other
    if mask.shape[axis] < length:
        return np.zeros_like(mask)
    nd = ndimage()
    wide = nd.maximum_filter1d(mask.view(np.uint8), 2 * spread + 1, axis=1 - axis)
    opened = nd.maximum_filter1d(nd.minimum_filter1d(wide, length, axis=axis), length, axis=axis)
    return mask & opened.astype(bool)
