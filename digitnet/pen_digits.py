"""Training digits redrawn with a pen: MNIST's scanned strokes made to look like a digit drawn on a screen.

MNIST's digits were scanned from paper: soft, anti-aliased strokes of uneven width. A digit drawn with a
mouse, a stylus or a felt pen and put through preprocess.to_mnist looks different: hard-edged strokes of one
width (thin ones thickened to MNIST's). So do the drawn outliers that outlier exposure trains on
(digitnet.outliers), and a net that has only seen scanned digits learns that this look means "not a digit".
pen_digits gives it digits with that look:

1. enlarge the digit 4x (bilinear) and cut it at a random grey level: a hard-edged shape;
2. thin or thicken it by a few pixels (binary erosion or dilation; an erosion that would erase most of the
   ink is skipped), so the strokes run from hairline to marker;
3. draw it dark on white and prepare it exactly as a user's picture (preprocess.to_mnist).

`digitnet train --pen-digits 0.5` adds half the training digits again, redrawn so, with their labels.
NumPy, Pillow and scipy.ndimage (imported when called).
"""
import numpy as np

from .augment import add_share
from .data.images import PIXELS, SIDE
from .preprocess import ImageError, to_mnist

__all__ = ["pen_digits", "redraw_share"]

SCALE = 4                # the digit is redrawn at 4 x 28 = 112 pixels a side
LEVEL = (0.3, 0.6)       # the grey level the enlarged digit is cut at
THICKNESS = (-2, 4)      # pixels (at 112) taken off the strokes (> 0) or added to them (< 0), inclusive
KEEP = 0.3               # an erosion leaving less than this share of the ink is not applied


def _redraw(digit, rng):
    """One 28x28 digit (ink bright, [0, 1]) as a dark-on-white pen drawing (uint8, 112x112)."""
    from PIL import Image
    from scipy import ndimage

    big = Image.fromarray(np.round(digit * 255).astype(np.uint8)).resize((SIDE * SCALE,) * 2, Image.BILINEAR)
    mask = np.asarray(big) / 255.0 > rng.uniform(*LEVEL)
    change = int(rng.integers(THICKNESS[0], THICKNESS[1] + 1))
    cross = ndimage.generate_binary_structure(2, 1)
    if change > 0:
        thinner = ndimage.binary_erosion(mask, cross, iterations=change)
        mask = thinner if thinner.sum() >= KEEP * mask.sum() else mask
    elif change < 0:
        mask = ndimage.binary_dilation(mask, cross, iterations=-change)
    return np.where(mask, 0, 255).astype(np.uint8)


def pen_digits(x, rng):
    """Digits redrawn with a pen and prepared by to_mnist, as a user's drawing of them would be.

    Args:
        x: (N, 784) or (N, 1, 28, 28) digits, ink bright in [0, 1].
        rng: a numpy Generator: the grey level each is cut at and how much its strokes are thinned or thickened.

    Returns:
        An array of x's shape and dtype. A digit too faint to redraw is kept as it was.

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> x = load_sample().x_train[:3]
        >>> drawn = pen_digits(x, np.random.default_rng(0))
        >>> drawn.shape == x.shape, drawn.dtype == x.dtype, float(drawn.max())
        (True, True, 1.0)
    """
    x = np.asarray(x)
    flat = x.reshape(x.shape[0], PIXELS)
    out = np.empty_like(flat)
    for i, digit in enumerate(flat):
        try:
            out[i] = to_mnist(_redraw(digit.reshape(SIDE, SIDE).astype(np.float64), rng)).reshape(-1)
        except ImageError:  # nothing left after the cut: keep the digit as scanned
            out[i] = digit
    return out.reshape(x.shape)


def redraw_share(x, t, share, rng):
    """The training set of `--pen-digits SHARE`: x and t with some digits added again, redrawn with a pen.

    Args:
        x: (N, 784) or (N, 1, 28, 28) training digits, ink bright in [0, 1].
        t: their N labels (or one-hot rows).
        share: how many to add, as a share of N (round(share x N), picked at random without repeats).
        rng: a numpy Generator: the pick and the pen.

    Returns:
        (x, t) with the redrawn digits and their labels after the originals; x and t themselves for share 0.

    Examples:
        >>> import numpy as np
        >>> from digitnet.data import load_sample
        >>> s = load_sample()
        >>> x, t = redraw_share(s.x_train[:10], s.t_train[:10], 0.5, np.random.default_rng(0))
        >>> x.shape, t.shape
        ((15, 784), (15,))
    """
    return add_share(x, t, share, rng, pen_digits)
