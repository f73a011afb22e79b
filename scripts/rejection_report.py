#!/usr/bin/env python3
"""Print how well each bundled model is calibrated and says "not a digit": the figures of issue 22.

    OPENBLAS_NUM_THREADS=1 python scripts/rejection_report.py                 # every bundled model
    python scripts/rejection_report.py deep-cnn --model-file other.npz --plots docs/rejection

Per model, with the calibration and rejection threshold stored in its file:
  - ECE (15 bins) on the official MNIST test set: the plain softmax, the model's one temperature, and
    its calibrated probabilities (each picture's temperature, where the file has one);
  - AUROC of the model's rejection score, MNIST test digits against Fashion-MNIST's TEST images, and the
    hand-drawn digit fixtures (tests/fixtures/handwriting) against the non-digit drawings
    (tests/fixtures/nondigits); the same for the other scores, for comparison;
  - the share rejected at the model's threshold: of the MNIST test digits, the hand-drawn digits, the
    non-digit drawings and Fashion-MNIST's test images.
Goals (issue 22): AUROC >= 0.995 against Fashion, >= 0.95 on the drawings, >= 90 % of non-digit drawings
rejected, <= 1 % of MNIST test digits and <= 5 % of hand-drawn digits rejected, ECE <= 0.5 %.
Needs the official test set (read only, where scripts/shared_data.py finds it) and Fashion-MNIST
(apt-get install dataset-fashion-mnist); a part whose data is missing is reported as such.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared_data import official_test_set  # noqa: E402  (this script's folder is on sys.path)

from digitnet.calibration import SCORES, confidence_of, score_of  # noqa: E402  (sys.path is set above)
from digitnet.errors import DigitnetError  # noqa: E402  (sys.path is set above)
from digitnet.functions import softmax  # noqa: E402  (sys.path is set above)
from digitnet.metrics import auroc, expected_calibration_error, predict_scores  # noqa: E402  (sys.path is set above)
from digitnet.model_io import load_model  # noqa: E402  (sys.path is set above)
from digitnet.outliers import fashion_images  # noqa: E402  (sys.path is set above)
from digitnet.predict import IMAGE_SUFFIXES  # noqa: E402  (sys.path is set above)
from digitnet.preprocess import to_mnist  # noqa: E402  (sys.path is set above)
from digitnet.pretrained import bundled_models, bundled_path  # noqa: E402  (sys.path is set above)

FIXTURES = REPO / "tests" / "fixtures"
GOALS = {"fashion_auroc": 0.995, "drawings_auroc": 0.95, "nondigits_rejected": 0.90, "mnist_rejected": 0.01,
         "handwriting_rejected": 0.05, "ece": 0.005}


def fixture_images(folder):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return np.stack([to_mnist(p).reshape(-1) for p in files]).astype(np.float32), files


def load_sets():
    """{name: (images, labels or None)} of what is there, and a list of what is missing."""
    sets, missing = {}, []
    ds, why = official_test_set(dtype=np.float32)
    if ds is not None:
        sets["mnist"] = (ds.x_test, ds.t_test)
    else:
        missing.append(f"the official MNIST test set ({why})")
    try:
        sets["fashion"] = (fashion_images(split="test"), None)
    except DigitnetError as e:
        missing.append(str(e))
    x, files = fixture_images(FIXTURES / "handwriting")
    sets["handwriting"] = (x, np.array([int(p.name[0]) for p in files]))
    sets["nondigits"] = (fixture_images(FIXTURES / "nondigits")[0], None)
    return sets, missing


def check(value, goal, higher):
    ok = value >= goal if higher else value <= goal
    return f"{'ok ' if ok else 'MISS'} (goal {'>=' if higher else '<='} {goal:g})"


def report(name, net, sets, plots=None):
    c = confidence_of(net)
    logits = {k: predict_scores(net, x) for k, (x, _) in sets.items()}
    print(f"\n== {name}: {c.describe()}, rejection "
          + (f"{c.score} below {c.threshold:.4g} (fitted on {c.fitted_on})" if c.threshold is not None else "none"))
    if "mnist" in sets:
        t = sets["mnist"][1]
        acc = float(np.mean(logits["mnist"].argmax(axis=1) == t))
        before = expected_calibration_error(softmax(logits["mnist"]), t)
        one = expected_calibration_error(c.probabilities(logits["mnist"], per_picture=False), t)
        after = expected_calibration_error(c.probabilities(logits["mnist"]), t)
        print(f"  MNIST test accuracy {100 * acc:.2f}%; ECE (15 bins) {100 * before:.2f}% plain softmax, "
              f"{100 * one:.2f}% with the one temperature, {100 * after:.2f}% calibrated  "
              f"{check(after, GOALS['ece'], False)}")
    pairs = [("fashion_auroc", "MNIST test vs Fashion-MNIST test", "mnist", "fashion"),
             ("drawings_auroc", "hand-drawn digits vs non-digit drawings", "handwriting", "nondigits")]
    for goal, what, inside, outside in pairs:
        if inside not in logits or outside not in logits:
            continue
        figures = {k: auroc(score_of(logits[inside], k, c.temperature), score_of(logits[outside], k, c.temperature))
                   for k in SCORES}
        others = ", ".join(f"{k} {v:.4f}" for k, v in figures.items() if k != c.score)
        verdict = check(figures[c.score], GOALS[goal], True)
        print(f"  AUROC {what}: {figures[c.score]:.4f} ({c.score}; {others})  {verdict}")
    if c.threshold is not None:
        for key, what in (("mnist", "MNIST test digits"), ("handwriting", "hand-drawn digit fixtures"),
                          ("nondigits", "non-digit drawings"), ("fashion", "Fashion-MNIST test images")):
            if key not in logits:
                continue
            rejected = c.rejected(logits[key])
            goal = {"mnist": ("mnist_rejected", False), "handwriting": ("handwriting_rejected", False),
                    "nondigits": ("nondigits_rejected", True)}.get(key)
            verdict = check(rejected.mean(), GOALS[goal[0]], goal[1]) if goal else ""
            print(f"  rejected: {100 * rejected.mean():6.2f}% of the {rejected.size:,} {what}  {verdict}")
    if plots:
        draw(name, c, logits, sets, Path(plots))


def draw(name, c, logits, sets, folder):
    from digitnet.plots import plot_reliability, plot_score_histograms

    folder.mkdir(parents=True, exist_ok=True)
    if "mnist" in sets:
        t = sets["mnist"][1]
        z = logits["mnist"]
        path = plot_reliability(t, [("plain softmax", softmax(z)),
                                    (f"one temperature ({c.temperature:.3g})", c.probabilities(z, per_picture=False)),
                                    ("calibrated (each picture's temperature)", c.probabilities(z))],
                                folder / f"{name}-reliability.png", title=f"{name}: official MNIST test set")
        print(f"  wrote {path}")
    names = {"mnist": "MNIST test digits", "handwriting": "hand-drawn digits", "nondigits": "non-digit drawings",
             "fashion": "Fashion-MNIST test"}
    shown = [(names[k], score_of(v, c.score, c.temperature)) for k, v in logits.items()]
    path = plot_score_histograms(shown, c.threshold, folder / f"{name}-scores.png", xlabel=f"{c.score} score",
                                 title=f"{name}: rejection score (left of the line: 'not a digit')")
    print(f"  wrote {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="bundled models (default: all)")
    p.add_argument("--model-file", action="append", default=[], type=Path, help="also report this model file")
    p.add_argument("--plots", metavar="DIR", help="draw each model's reliability diagram and score histograms here")
    args = p.parse_args(argv)
    if args.plots and Path(args.plots).exists() and not Path(args.plots).is_dir():  # before: after all the measuring
        p.error(f"--plots {args.plots}: a file, not a folder")
    sets, missing = load_sets()
    for m in missing:
        print(f"missing, so not measured: {m}")
    names = args.names or ([] if args.model_file else list(bundled_models()))
    try:
        models = [(n, load_model(bundled_path(n))[0]) for n in names]
        models += [(f.stem, load_model(f)[0]) for f in args.model_file]
    except DigitnetError as e:  # an unknown name, a missing or damaged file: one line, not a traceback
        sys.exit(f"rejection_report: {e}")
    for name, net in models:
        report(name, net, sets, args.plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
