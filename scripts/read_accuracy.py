#!/usr/bin/env python3
"""How well digitnet.read reads whole numbers written with real handwriting the network never saw.

    python scripts/read_accuracy.py               # 300 numbers of each kind, as `digitnet read` reads them
    python scripts/read_accuracy.py -n 100 --model deep-cnn     # one bundled model alone
    python scripts/read_accuracy.py --digits sample             # tune on these, not on the test set
    python scripts/read_accuracy.py --model-file /path/to/model.npz [more.npz ...]   # read together
    python scripts/read_accuracy.py --no-reject                 # no '?': what rejection costs

Numbers of 2 to 6 digits are composed (digitnet.data.numbers, fixed seed) from the official MNIST test
set scripts/shared_data.py finds: separated (clear gaps), touching (ink meeting
or overlapping by up to 2 MNIST pixels), broken (each digit's strokes cut apart: several strokes) and
lines (2 or 3 separated numbers one above the other), drawn dark on light paper; with --kinds, also
underlined and lined (separated numbers underlined, or on lined paper: data.numbers.ruled), boxed and
ticked (one digit a cell: a row of boxes, or a comb of ticks on one line: data.numbers.in_fields), even,
shadowed, dappled and desk (separated numbers enlarged 3 times and photographed in even light, with a
shadow's edge across them, in dappled light, or on a dark desk: data.photos.lit; the same numbers in each).
--digits
sample takes the digits from the bundled sample's held-out 2,000 instead (MNIST training digits
8,001-10,000, which no bundled model trains on, and which are not the test set): tune the reading on
those, and measure on the test set once. Prints per kind the exact whole-number accuracy (with its 95 %
Wilson interval: 200 numbers pin a figure near 95 % to about 90-97 %), the digits read right (by
alignment, so a missed or extra digit costs only itself), the same digits read one by one by `predict`
(preprocess.to_mnist), and the time per picture; then the time of one 4-digit photo-sized picture (a
1600-pixel-wide JPEG). BLAS runs on one thread.
"""
import argparse
import difflib
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # after the thread setting, which BLAS reads when it loads

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared_data import official_test_set  # noqa: E402  (this script's folder is on sys.path)

import digitnet  # noqa: E402  (sys.path is set above)
from digitnet.committee import as_committee  # noqa: E402  (sys.path is set above)
from digitnet.data.numbers import FIELDS, RULINGS, compose, in_fields, lines, ruled  # noqa: E402  (sys.path is set above)
from digitnet.data.photos import PHOTOS, lit  # noqa: E402  (sys.path is set above)
from digitnet.predict import predict_images  # noqa: E402  (sys.path is set above)
from digitnet.reader import reading_nets  # noqa: E402  (sys.path is set above)


def make(kind, x, t, rng):
    """(picture dark on light, the truth as text, the digits' own pictures as placed); the picture as a photo's
    JPEG bytes for the kinds of PHOTOS."""
    if kind in PHOTOS:
        picture, truth, crops = make("separated", x, t, rng)
        return lit(picture, kind, rng), truth, crops
    if kind == "lines":
        parts, truth, crops = [], [], []
        for _ in range(int(rng.integers(2, 4))):
            idx = rng.integers(0, len(x), int(rng.integers(2, 7)))
            parts.append(compose(x[idx], "separated", rng, crops_out=crops))
            truth.append("".join(str(int(t[i])) for i in idx))
        return 255 - lines(parts, rng), "\n".join(truth), crops
    idx = rng.integers(0, len(x), int(rng.integers(2, 7)))
    crops, boxes = [], []
    truth = "".join(str(int(t[i])) for i in idx)
    if kind in FIELDS:
        return 255 - in_fields(x[idx], kind, rng, crops_out=crops), truth, crops
    if kind in RULINGS:
        return 255 - ruled(compose(x[idx], "separated", rng, crops_out=crops, boxes_out=boxes), boxes, kind, rng), \
            truth, crops
    return 255 - compose(x[idx], kind, rng, crops_out=crops), truth, crops


def matched(truth, got):
    """Digits of `truth` read right, by the longest matching alignment of the two strings."""
    truth, got = truth.replace("\n", ""), got.replace("\n", "")
    return sum(b.size for b in difflib.SequenceMatcher(None, truth, got, autojunk=False).get_matching_blocks())


def run_kind(kind, net, x, t, n, seed, reject=True):
    rng = np.random.default_rng(seed)
    whole = right = total = alone = 0
    seconds = 0.0
    for _ in range(n):
        picture, truth, crops = make(kind, x, t, rng)
        start = time.perf_counter()
        try:
            got = digitnet.read(picture, net, reject=reject).text
        except digitnet.DigitnetError:
            got = ""
        seconds += time.perf_counter() - start
        whole += got == truth
        right += matched(truth, got)
        digits = truth.replace("\n", "")
        total += len(digits)
        readings = predict_images(as_committee(net).first, [np.pad(c, 16) for c in crops], on_error="report")
        alone += sum(r.get("digit") == int(d) for r, d in zip(readings, digits))
    low, high = interval(whole, n)
    print(f"{kind:>10}: whole numbers {100 * whole / n:5.1f}% ({100 * low:.1f}-{100 * high:.1f})   "
          f"digits {100 * right / total:5.2f}%   predict alone {100 * alone / total:5.2f}%   "
          f"{1000 * seconds / n:4.0f} ms a picture", flush=True)


def interval(k, n):
    """The 95 % Wilson interval of k right of n: with 200 numbers near 95 %, about 90-97 %."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def photo_time(net, x, t):
    """Seconds for read() of a 4-digit number drawn large (1600 px wide) and saved as a JPEG."""
    from PIL import Image

    rng = np.random.default_rng(1)
    picture = 255 - compose(x[rng.integers(0, len(x), 4)], "separated", rng)
    img = Image.fromarray(picture).resize((1600, round(1600 * picture.shape[0] / picture.shape[1])), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    digitnet.read(data, net)  # warm
    times = []
    for _ in range(5):
        start = time.perf_counter()
        digitnet.read(data, net)
        times.append(time.perf_counter() - start)
    return img.size, float(np.median(times))


def digits(which):
    """(28x28 digits, labels, where they come from)."""
    if which == "sample":
        from digitnet.data import load_sample

        sample = load_sample(flatten=False)
        return sample.x_test.reshape(-1, 28, 28), sample.t_test, "the bundled sample's held-out digits"
    ds, why = official_test_set(flatten=False)
    if ds is None:
        sys.exit(f"read_accuracy: {why}")
    return ds.x_test.reshape(-1, 28, 28), ds.t_test, "the official MNIST test set"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="numbers of each kind (default 300)")
    parser.add_argument("--model", help="a bundled model's name, read alone (default: the bundled convolutional "
                                        "models together, as digitnet.read and `digitnet read` read)")
    parser.add_argument("--model-file", nargs="+", help="model files (load_model) instead of the bundled models; "
                                                         "several read together, the first one's threshold rejects")
    parser.add_argument("--no-reject", action="store_true", help="read as `digitnet read --no-reject`: no '?'")
    parser.add_argument("--digits", choices=("test", "sample"), default="test",
                        help="test: the official MNIST test set (default); sample: the bundled sample's "
                             "held-out digits, for tuning")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="separated,touching,broken,lines",
                        help="of separated, touching, broken, lines, underlined and lined (separated numbers "
                             "on lined paper), boxed and ticked (one digit a cell of a form's field), even, shadowed, "
                             "dappled and desk (separated numbers photographed in even or uneven light, or on a "
                             "dark desk)")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    known = ("separated", "touching", "broken", "lines", *RULINGS, *FIELDS, *PHOTOS)
    unknown = [kind for kind in kinds if kind not in known]
    if unknown or args.n < 1:  # before: a traceback, after minutes of the kinds before it
        parser.error(f"no kind {unknown[0]!r}: the kinds are {', '.join(known)}" if unknown else
                     f"-n must be 1 or more, not {args.n}")
    x, t, source = digits(args.digits)
    try:
        net, name = load_nets(args)
    except digitnet.DigitnetError as e:  # an unknown name, a missing or damaged file: one line, not a traceback
        sys.exit(f"read_accuracy: {e}")
    print(f"{args.n} numbers of 2 to 6 digits per kind from {source}, seed {args.seed}, model {name}")
    for kind in kinds:
        run_kind(kind, net, x, t, args.n, args.seed, reject=not args.no_reject)
    size, seconds = photo_time(net, x, t)
    print(f"a 4-digit {size[0]}x{size[1]} JPEG: read in {1000 * seconds:.0f} ms (median of 5)")


def load_nets(args):
    """(the nets to read with, a name for them) from the command line."""
    if args.model_file:
        from digitnet.model_io import load_model

        net, name = tuple(load_model(f)[0] for f in args.model_file), " and ".join(args.model_file)
    elif args.model:
        net, name = (digitnet.pretrained(args.model),), args.model
    else:
        from digitnet.pretrained import committee_names

        net = reading_nets()
        name = ", ".join(committee_names("read")) + " together (predict alone: the first)"
    return net, name


if __name__ == "__main__":
    main()
