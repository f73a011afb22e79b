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
   to 2 MNIST pixels further (numbers.compose), and cut out between two vertical cuts, each at a random
   column of the stretch its neighbour overlaps, at most 3 MNIST pixels into the digit's own box;

then prepared as segment prepares a digit (preprocess.to_field: 20x20 box, centred by mass).

`digitnet train --cut-digits 0.5` adds half the training digits again, cut so, with their labels.
NumPy, Pillow and scipy.ndimage (imported when called).
"""
import numpy as np

from .augment import add_share
from .data.images import PIXELS, SIDE
from .data.numbers import break_strokes, compose, tight
from .preprocess import ImageError, to_field

__all__ = ["cut_digits", "cut_share", "touching_pairs"]

SCALE = 2          # the digits are drawn 2x enlarged, as the composed test numbers are
REACH = 3 * SCALE  # a cut lies at most 3 MNIST pixels inside the digit's own box


def _broken(digit, rng):
    """The digit with a gap across it, as a crop of its ink (uint8, bright on 0)."""
    return break_strokes(tight(digit, SCALE), rng, SCALE)


def _touching(digit, left, right, rng):
    """The digit between its touching neighbours, cut out between a random column of each overlap."""
    boxes = []
    canvas = compose([left, digit, right], "touching", rng, scale=SCALE, pad=0, boxes_out=boxes)
    (_, _, left_end, _), (x0, _, x1, _), (right_start, _, _, _) = boxes
    start = int(rng.integers(x0, min(max(x0, left_end), x0 + REACH) + 1))
    stop = int(rng.integers(max(min(x1, right_start), x1 - REACH), x1 + 1))
    strip = canvas[:, start:max(stop, start + 1)]
    ys, xs = np.nonzero(strip)
    return strip[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else strip


def cut_digits(x, rng, others=None):
    """Digits as read out of written numbers: half broken into strokes, half cut from between neighbours.

    Args:
        x: (N, 784) or (N, 1, 28, 28) digits, ink bright in [0, 1].
        rng: a numpy Generator: which digits are broken, the neighbours, the gaps and the cuts.
        others: digits to draw the neighbours from (like x); x itself by default.

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
    x = np.asarray(x)
    flat = x.reshape(x.shape[0], PIXELS)
    pool = flat if others is None else np.asarray(others).reshape(-1, PIXELS)
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        digit = row.reshape(SIDE, SIDE)
        if rng.random() < 0.5:
            crop = _broken(digit, rng)
        else:
            left, right = pool[rng.integers(0, len(pool), 2)].reshape(2, SIDE, SIDE)
            crop = _touching(digit, left, right, rng)
        try:
            out[i] = to_field(crop.astype(np.float64) / 255.0).reshape(-1)
        except ImageError:  # nothing of the digit left: keep it as it was
            out[i] = row
    return out.reshape(x.shape)


def cut_share(x, t, share, rng):
    """The training set of `--cut-digits SHARE`: x and t with some digits added again, as the reader cuts them.

    Args:
        x: (N, 784) or (N, 1, 28, 28) training digits, ink bright in [0, 1].
        t: their N labels (or one-hot rows).
        share: how many to add, as a share of N (round(share x N), picked at random without repeats).
        rng: a numpy Generator: the pick and the cuts.

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
    return add_share(x, t, share, rng, lambda picked, rng: cut_digits(picked, rng, others=x))


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
