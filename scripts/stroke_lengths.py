#!/usr/bin/env python3
"""Print segment.LONG_AT: for each digit, the 99th percentile of its stroke length / height.

    python scripts/stroke_lengths.py              # the bundled sample's 8,000 training digits
    python scripts/stroke_lengths.py --percentile 99.5

Each digit is measured as the reader measures a candidate digit: drawn dark on light paper (12 px of paper
around it), its ink found by ink.ink_map, cropped to that ink, and its stroke length
(preprocess.stroke_length) divided by the crop's height: segment.relative_length. The reader charges a
candidate read as d for strokes longer than LONG_AT[d] x its height: a 1 or a 7 that overlaps a neighbour and
was read as part of it.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digitnet.data import load_sample
from digitnet.ink import ink_map
from digitnet.segment import relative_length


def digit_length(digit):
    """A 28x28 digit in [0, 1] (ink bright): its stroke length / height, as the reader measures a candidate."""
    ink = ink_map((255 - np.pad(digit * 255, 12)).astype(np.float32), "a digit")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return relative_length(crop)


def limits(images, labels, percentile=99.0):
    """(10,) the percentile of digit_length among each digit's images, rounded to 2 places."""
    lengths = np.array([digit_length(img) for img in images])
    return tuple(round(float(np.percentile(lengths[labels == d], percentile)), 2) for d in range(10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--percentile", type=float, default=99.0)
    args = parser.parse_args()
    sample = load_sample(flatten=False)
    print(limits(sample.x_train[:, 0], sample.t_train, args.percentile))


if __name__ == "__main__":
    main()
