"""Training digits as the reader cuts them out of written numbers: broken into strokes, or with a neighbour's ink.

reader.read finds the digits of a number (digitnet.segment) and classifies each one as it was cut out. Two
things make those digits unlike MNIST's clean, single ones:

- **broken**: a digit drawn in several strokes has gaps; it reaches the net with them;
- **touching**: where digits touch or overlap, the cut between them is a path through the ink, so a digit
  comes with a sliver of its neighbour's ink, or with a sliver of its own cut off.

A net trained only on whole, clean digits is unsure of such digits, and with a "not a digit" threshold it
rejects them: one rejected digit spoils the whole number. cut_digits makes training digits that look like
them, from the training digits themselves (digitnet.data.numbers, which composes the test numbers, does the
drawing):

1. broken: the digit enlarged 2x, a thin line erased across it (numbers.break_strokes);
2. touching: the digit composed between two random neighbours, each slid until the ink meets and then up
   to 2 MNIST pixels further (numbers.compose), and cut out as segment cuts it (cuts="segment", the
   default): one of segment.candidates that holds at least GOOD of the digit's ink and is at least GOOD the
   digit's, at random. cuts="straight" (an earlier release's, which the bundled fast-cnn-pairs was trained with) cuts
   between two vertical lines instead, each at a random column of the stretch its neighbour overlaps, at
   most 3 MNIST pixels into the digit's own box; so does "segment" when no candidate holds the digit;

then prepared as segment prepares a digit (preprocess.to_field: 20x20 box, centred by mass).

`digitnet train --cut-digits 0.5` adds half the training digits again, cut so, with their labels.

wrong_cuts makes the opposite: candidates segment weighs that hold no one digit (a piece of one, or one with
much of its neighbour), under WRONG by the same measure: outliers (`--outliers cuts`) that teach a net to
say "not a digit" to a wrong cut, so that the reader prefers the right one. A stroke as narrow as a 1 is
never one of them: no net can tell a 1 from a 4's upright.
NumPy, Pillow and scipy.ndimage (imported when called).
"""
import numpy as np

from .augment import add_share
from .data.images import PIXELS, SIDE
from .data.numbers import INK, break_strokes, compose, tight
from .ink import ink_map
from .preprocess import ImageError, to_field
from .segment import candidates
from .strokes import bounds

__all__ = ["CUTS", "cut_digits", "cut_share", "touching_pairs", "wrong_cuts"]

SCALE = 2          # the digits are drawn 2x enlarged, as the composed test numbers are
REACH = 3 * SCALE  # a straight cut lies at most 3 MNIST pixels inside the digit's own box
GOOD = 0.8         # a candidate is the digit if it holds this share of its ink, and this share of it is the digit's
WRONG = 0.55       # it is no digit (wrong_cuts) if, for every digit of the number, one of the two is under this
NARROW = 0.4       # a stroke narrower than this x its height is like a 1: never a wrong cut
CUTS = ("segment", "straight")


def _broken(digit, rng):
    """The digit with a gap across it, as a crop of its ink (uint8, bright on 0)."""
    return break_strokes(tight(digit, SCALE), rng, SCALE)


def _touching(digit, left, right, rng, cuts):
    """The digit between its touching neighbours, cut out (see the module's doc), as a 28x28 field."""
    boxes, crops = [], []
    canvas = compose([left, digit, right], "touching", rng, scale=SCALE, pad=0 if cuts == "straight" else None,
                     boxes_out=boxes, crops_out=crops)
    if cuts == "segment":
        ink = _ink(canvas)
        own = _masks(canvas.shape, crops, boxes, ink)[1]
        good = [field for mask, field in candidates(ink) if _match(mask & (ink > 0), own) >= GOOD]
        if good:
            return good[int(rng.integers(0, len(good)))]
    return to_field(_straight(canvas, boxes, rng).astype(np.float64) / 255.0)


def _straight(canvas, boxes, rng):
    """The middle digit of three cut out between two vertical cuts, a random column of each overlap (at most
    REACH into its own box), cropped to the ink."""
    (_, _, left_end, _), (x0, _, x1, _), (right_start, _, _, _) = boxes
    start = int(rng.integers(x0, min(max(x0, left_end), x0 + REACH) + 1))
    stop = int(rng.integers(max(min(x1, right_start), x1 - REACH), x1 + 1))
    strip = canvas[:, start:max(stop, start + 1)]
    ys, xs = np.nonzero(strip)
    return strip[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else strip


def _ink(canvas):
    """A composed number's ink map, as the reader finds it in the picture (dark ink on light paper)."""
    return ink_map((255 - canvas).astype(np.float32) / 255.0, "number")


def _masks(shape, crops, boxes, ink):
    """Each placed digit's ink (bool, the canvas's shape), as the ink map has it."""
    out = []
    for crop, (x0, y0, x1, y1) in zip(crops, boxes):
        d = np.zeros(shape, dtype=bool)
        d[y0:y1, x0:x1] = crop > INK
        out.append(d & (ink > 0))
    return out


def _match(mask, digit):
    """How much a candidate's ink is one digit's: the smaller of the share of the digit it holds and the share
    of it that is the digit's."""
    both = (mask & digit).sum()
    return min(both / max(digit.sum(), 1), both / max(mask.sum(), 1))


def _narrow(mask):
    """Whether a candidate is as narrow as a 1."""
    y0, y1, x0, x1 = bounds(mask)
    return x1 - x0 < NARROW * (y1 - y0)


def cut_digits(x, rng, others=None, cuts="segment"):
    """Digits as read out of written numbers: half broken into strokes, half cut from between neighbours.

    Args:
        x: (N, 784) or (N, 1, 28, 28) digits, ink bright in [0, 1].
        rng: a numpy Generator: which digits are broken, the neighbours, the gaps and the cuts.
        others: digits to draw the neighbours from (like x); x itself by default.
        cuts: "segment" (cut as the reader cuts) or "straight" (the previous release's cuts; see the module's doc).

    Returns:
        An array of x's shape and dtype, each digit prepared as segment prepares one. A digit the cut leaves
        no ink of is kept as it was.

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> x = load_sample().x_train[:4]
        >>> cut = cut_digits(x, np.random.default_rng(0))
        >>> cut.shape == x.shape, cut.dtype == x.dtype, float(cut.max())
        (True, True, 1.0)
    """
    if cuts not in CUTS:
        raise ValueError(f"cuts must be one of {', '.join(CUTS)}, not {cuts!r}")
    x = np.asarray(x)
    flat = x.reshape(x.shape[0], PIXELS)
    pool = flat if others is None else np.asarray(others).reshape(-1, PIXELS)
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        digit = row.reshape(SIDE, SIDE)
        try:
            if rng.random() < 0.5:
                out[i] = to_field(_broken(digit, rng).astype(np.float64) / 255.0).reshape(-1)
            else:
                left, right = pool[rng.integers(0, len(pool), 2)].reshape(2, SIDE, SIDE)
                out[i] = _touching(digit, left, right, rng, cuts).reshape(-1)
        except ImageError:  # nothing of the digit left: keep it as it was
            out[i] = row
    return out.reshape(x.shape)


def cut_share(x, t, share, rng, cuts="segment"):
    """The training set of `--cut-digits SHARE`: x and t with some digits added again, as the reader cuts them.

    Args:
        x: (N, 784) or (N, 1, 28, 28) training digits, ink bright in [0, 1].
        t: their N labels (or one-hot rows).
        share: how many to add, as a share of N (round(share x N), picked at random without repeats).
        rng: a numpy Generator: the pick and the cuts.
        cuts: as cut_digits takes it.

    Returns:
        (x, t) with the cut digits and their labels after the originals; x and t themselves for share 0.

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> s = load_sample()
        >>> x, t = cut_share(s.x_train[:10], s.t_train[:10], 0.5, np.random.default_rng(0))
        >>> x.shape, t.shape
        ((15, 784), (15,))
    """
    return add_share(x, t, share, rng, lambda picked, rng: cut_digits(picked, rng, others=x, cuts=cuts))


def wrong_cuts(x, n, rng, per_number=3):
    """n candidates segment weighs in numbers of 2-4 digits of x that are no one digit: outliers (`--outliers cuts`).

    Args:
        x: (N, 784) or (N, 1, 28, 28) digits, ink bright in [0, 1], to compose numbers of (six in ten touching,
            the others broken into strokes, as numbers.compose draws them).
        n: how many.
        rng: a numpy Generator.
        per_number: at most this many from one number, picked at random.

    Returns:
        (n, 784) float32 in [0, 1], each prepared as segment prepares a digit.

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> wrong_cuts(load_sample().x_train[:20], 4, np.random.default_rng(0)).shape
        (4, 784)
    """
    pool = np.asarray(x).reshape(-1, SIDE, SIDE)
    out = []
    while len(out) < n:
        crops, boxes = [], []
        kind = "touching" if rng.random() < 0.6 else "broken"
        canvas = compose(list(pool[rng.integers(0, len(pool), int(rng.integers(2, 5)))]), kind, rng, scale=SCALE,
                         crops_out=crops, boxes_out=boxes)
        ink = _ink(canvas)
        digits = _masks(canvas.shape, crops, boxes, ink)
        wrong = [field for mask, field in candidates(ink)
                 if max(_match(mask & (ink > 0), d) for d in digits) < WRONG and not _narrow(mask)]
        for k in rng.permutation(len(wrong))[:per_number]:
            out.append(wrong[k].reshape(-1))
    return np.stack(out[:n]).astype(np.float32)


def touching_pairs(x, n, rng):
    """n pictures of two touching digits cut out as one, prepared as segment prepares a digit: what the reader
    sees when it fails to cut a pair apart. Outliers (`--outliers pairs`): a net that says such a pair is not
    a digit makes the reader prefer the cut.

    Args:
        x: (N, 784) or (N, 1, 28, 28) digits, ink bright in [0, 1], to pair at random.
        n: how many pictures.
        rng: a numpy Generator.

    Returns:
        (n, 784) float32 in [0, 1].

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> touching_pairs(load_sample().x_train[:20], 3, np.random.default_rng(0)).shape
        (3, 784)
    """
    pool = np.asarray(x).reshape(-1, SIDE, SIDE)
    out = np.empty((n, PIXELS), np.float32)
    for k in range(n):
        canvas = compose(list(pool[rng.integers(0, len(pool), 2)]), "touching", rng, scale=SCALE, pad=0)
        ys, xs = np.nonzero(canvas)
        out[k] = to_field(canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1] / 255.0).reshape(-1)
    return out
