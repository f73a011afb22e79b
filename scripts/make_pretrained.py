#!/usr/bin/env python3
"""Train the models bundled in digitnet/models/ and write their manifest.

    OPENBLAS_NUM_THREADS=1 python scripts/make_pretrained.py            # every model (~20-40 min)
    OPENBLAS_NUM_THREADS=1 python scripts/make_pretrained.py two-layer  # one model by name
    python scripts/make_pretrained.py --verify two-layer                # retrain in a temp dir, compare weights

Each model is trained on the bundled sample's 8,000 training digits (digitnet.data.load_sample(), the
first 8,000 MNIST training digits; its other 2,000 fit the temperature and the "not a digit" threshold
stored in the file, see docs/rejection.md), with outlier exposure on Fashion-MNIST's training images
(Debian's dataset-fashion-mnist, required) and, for deep-cnn, digitnet.outliers' drawings (Debian's
fonts-dejavu-core and fonts-liberation, required), from a fixed seed
on one BLAS thread, so a re-run gives the same weights bit for bit: the manifest's `weights_sha256`
(model_io.params_digest, also in the file's header) is the same each time. The .npz file's own sha256 is
recorded too, to check the shipped bytes; it changes with each re-run only because zip entries carry the
time they were written.
Test accuracy is measured on the official 10,000-image test set, from the folder scripts/shared_data.py names
(only read, never copied); without it the models are not made (their test accuracy, and which is the default,
come from it). --verify needs it not.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads: one thread, same sums every run

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]  # this checkout's digitnet; shared_data when imported by a test

from shared_data import official_test_set  # noqa: E402  (sys.path is set above)

import digitnet  # noqa: E402  (sys.path is set above)
from digitnet import im2col  # noqa: E402  (sys.path is set above)
from digitnet.augment import Augmenter  # noqa: E402  (sys.path is set above)
from digitnet.cut_digits import cut_share  # noqa: E402  (sys.path is set above)
from digitnet.data import load_sample  # noqa: E402  (sys.path is set above)
from digitnet.data.mnist import SAMPLE_HELD_OUT  # noqa: E402  (sys.path is set above)
from digitnet.nets.factory import build_net  # noqa: E402  (sys.path is set above)
from digitnet.optimizers import (  # noqa: E402  (sys.path is set above)
    OPTIMIZERS,
)
from digitnet.outliers import outlier_sets  # noqa: E402  (sys.path is set above)
from digitnet.pen_digits import redraw_share  # noqa: E402  (sys.path is set above)
from digitnet.run import learning_rate_schedule  # noqa: E402  (sys.path is set above)
from digitnet.settings import RunSettings  # noqa: E402  (sys.path is set above)

MODELS_DIR = REPO / "digitnet" / "models"
TRAINING_DATA = ("MNIST training digits 1-8,000 (the bundled offline sample's training split); digits 8,001-10,000 "
                 "held out to calibrate")
# The bundled weights were made with im2col's products; the row windows sum in another order (the same within
# float32 round-off), so they are off here and the models come out again bit for bit (--verify).
im2col.ROW_WINDOWS = False
CALIBRATION_DATA = SAMPLE_HELD_OUT

# The README's recipes: `digitnet train` defaults, its accuracy table's deep-cnn-mnist10k run, and fast-cnn
# trained longer and wider with elastic distortions on top of the affine ones (docs/performance.md).
RECIPES = {
    "two-layer": {"model": "two-layer", "optimizer": "sgd", "lr": 0.1, "schedule": "constant", "augment": True,
                  "iters": 60_000, "batch_size": 100, "seed": 0, "pen_digits": 0.5,
                  "outliers": {"kinds": "fashion+drawn", "seed": 1, "per_batch": 50},
                  "command": "digitnet train --augment --iters 60000 --pen-digits 0.5 --outliers fashion+drawn "
                             "--seed 0"},
    "deep-cnn": {"model": "deep-cnn", "optimizer": "adam", "lr": 0.001, "schedule": "cosine", "augment": True,
                 "epochs": 40, "batch_size": 100, "seed": 0, "pen_digits": 0.5,
                 "outliers": {"kinds": "fashion+drawn", "seed": 1, "per_batch": 50},
                 "command": "digitnet train --model deep-cnn --optimizer adam --schedule cosine --augment "
                            "--epochs 40 --pen-digits 0.5 --outliers fashion+drawn --seed 0"},
    "fast-cnn": {"model": "fast-cnn", "hidden": [48, 96, 192], "optimizer": "nesterov", "lr": 0.1,
                 "weight_decay": 5e-4, "schedule": "one-cycle", "augment": True, "elastic": 34.0, "epochs": 40,
                 "batch_size": 100, "sampling": "shuffle", "seed": 0, "reestimate_batch_norm": True,
                 "pen_digits": 0.5, "outliers": {"kinds": "fashion+drawn", "seed": 1, "per_batch": 50},
                 "command": "digitnet train --model fast-cnn --hidden 48,96,192 --elastic 34 --epochs 40 "
                            "--pen-digits 0.5 --outliers fashion+drawn --seed 0, "
                            "then batch norm's statistics re-estimated on the plain training digits"},
}
# fast-cnn's recipe with half the digits added again as read cuts them out of numbers (digitnet.cut_digits), and
# then with touching pairs among the outliers too: the nets that read whole numbers (docs/reading.md)
RECIPES["fast-cnn-cut"] = {**RECIPES["fast-cnn"], "cut_digits": 0.5, "cuts": "straight",
                           "command": RECIPES["fast-cnn"]["command"].replace("--outliers",
                                                                            "--cut-digits 0.5 --outliers")
                           + " (straight cuts: the previous release's --cut-digits, cut_digits.cut_share(cuts=))"}
RECIPES["fast-cnn-pairs"] = {**RECIPES["fast-cnn-cut"],
                             "outliers": {"kinds": "fashion+drawn+pairs", "seed": 1, "per_batch": 50},
                             "command": RECIPES["fast-cnn-cut"]["command"].replace("fashion+drawn",
                                                                                  "fashion+drawn+pairs")}
# and then with the digits cut as the reader cuts them, and the reader's wrong cuts among the outliers too
RECIPES["fast-cnn-read"] = {**RECIPES["fast-cnn-pairs"], "cuts": "segment",
                            "outliers": {"kinds": "fashion+drawn+pairs+cuts", "seed": 1, "per_batch": 50},
                            "command": RECIPES["fast-cnn"]["command"].replace(
                                "--outliers fashion+drawn", "--cut-digits 0.5 --outliers fashion+drawn+pairs+cuts")}
ARCHITECTURES = {"two-layer": "TwoLayerNet 784-50-10 (the book's ch. 5 net)",
                 "deep-cnn": "DeepConvNet: 6 conv 3x3 (16,16,32,32,64,64) + 3 max pools, affine 50, dropout, affine 10 "
                             "(the book's ch. 8 net)",
                 "fast-cnn": "FastConvNet: 3 x (conv 3x3 - channel batch norm - relu - 2x2 max pool), 48, 96, 192 "
                             "channels, affine 10",
                 "fast-cnn-cut": "FastConvNet 48-96-192 as fast-cnn, trained also on digits as read cuts them",
                 "fast-cnn-pairs": "FastConvNet 48-96-192 as fast-cnn, trained also on digits as read cuts them and to "
                                   "reject touching pairs",
                 "fast-cnn-read": "FastConvNet 48-96-192 as fast-cnn-pairs, trained on digits as the reader cuts them "
                                  "and to reject its wrong cuts"}


# What the package ships. fast-cnn is the default (choose_best): trained with outlier exposure and with pen-drawn
# copies of half its digits (digitnet.pen_digits), so that it says "not a digit" without rejecting drawn digits
# (docs/rejection.md); deep-cnn and two-layer are the book's nets. fast-cnn-cut, the base of fast-cnn-pairs's
# recipe, is not shipped: fast-cnn-read took its place in both committees, and rejects more non-digit drawings.
BUNDLED = ("two-layer", "deep-cnn", "fast-cnn", "fast-cnn-read", "fast-cnn-pairs")
# The nets that work together when no model is named (pretrained.committee_names; the first one rejects). predict:
# fast-cnn, fast-cnn-read and deep-cnn, fast-cnn's threshold (it rejects the most non-digit drawings); read: the
# two that read cut-out digits, fast-cnn-pairs's threshold (it rejects broken digits least and still 90 % of the
# drawings), with deep-cnn, which errs differently. Chosen on the sample's held-out digits (docs/reading.md).
COMMITTEES = {"predict": ["fast-cnn", "fast-cnn-read", "deep-cnn"],
              "read": ["fast-cnn-pairs", "fast-cnn-read", "deep-cnn"]}


def training_data():
    """The digits the models train on: the sample's 8,000 training digits (its other 2,000 calibrate)."""
    sample = load_sample()
    return sample.x_train, sample.t_train


def calibrate(net, recipe):
    """The "calibration" metadata entry: temperature and rejection threshold fitted on the sample's 2,000
    digits no model trains on; the held-out outliers of the recipe's kinds choose the score (msp or energy)."""
    from digitnet.calibration import fit_for_net

    sample = load_sample()
    exposure = recipe.get("outliers")
    held_out = outlier_sets(exposure["kinds"], seed=exposure["seed"])[1] if exposure else None
    confidence, aurocs = fit_for_net(net, sample.x_test, sample.t_test, held_out, fitted_on=CALIBRATION_DATA)
    print(f"  calibrated: {confidence.describe()}, {confidence.score} threshold "
          f"{confidence.threshold:.4g}" + "".join(f", held-out AUROC {k} {v:.4f}" for k, v in aurocs.items()))
    return confidence.as_metadata()


def train_recipe(name, x, t, steps=None, log=print):
    """(net, seconds): the recipe's net trained on (x, t); steps cuts it short (the schedule still spans the recipe)."""
    r = RECIPES[name]
    rng = np.random.default_rng(r["seed"])
    # as `digitnet train` builds it: init first, same rng
    net = build_net(r["model"], hidden=r.get("hidden"), weight_decay=r.get("weight_decay", 0.0), rng=rng,
                    dtype=np.float32)
    plain = x
    if r.get("pen_digits"):  # as `digitnet train --pen-digits` adds them (run.prepare): their own random stream
        x, t = redraw_share(x, t, r["pen_digits"], np.random.default_rng([r["seed"], 1]))
    if r.get("cut_digits"):  # as `digitnet train --cut-digits` adds them, after the pen's
        x, t = cut_share(x, t, r["cut_digits"], np.random.default_rng([r["seed"], 2]),
                         cuts=r.get("cuts", "segment"))
    total = r.get("iters") or r["epochs"] * (x.shape[0] // r["batch_size"])
    steps = steps or total
    optimizer = OPTIMIZERS[r["optimizer"]](lr=r["lr"])
    schedule = learning_rate_schedule(RunSettings(lr=r["lr"], schedule=r["schedule"]), total)
    augment = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1),
                        elastic_alpha=r.get("elastic", 0.0)) if r["augment"] else None
    exposure = r.get("outliers")  # outlier exposure: Fashion-MNIST (Debian's dataset-fashion-mnist) and drawings
    outliers = outlier_sets(exposure["kinds"], seed=exposure["seed"])[0] if exposure else None

    def on_epoch(rec):
        log(f"  {name} epoch {rec['epoch']:3d} step {rec['iteration']:6d} loss {rec['train_loss']:.4f} "
            f"train acc (first 1,000) {100 * rec['train_acc']:.2f}%  {rec['elapsed_s']:.0f}s")

    start = time.perf_counter()
    every = 1 if "epochs" in r else 10  # log lines: each epoch, or every 10th of the two-layer net's 100
    digitnet.train(net, x, t, iters=steps, batch_size=r["batch_size"], optimizer=optimizer, schedule=schedule,
                   augment=augment, sampling=r.get("sampling", "replacement"), rng=rng, train_eval_size=1000,
                   outliers=outliers, outliers_per_batch=exposure["per_batch"] if exposure else None,
                   on_epoch=lambda rec: on_epoch(rec) if rec["epoch"] % every == 0 else None)
    if r.get("reestimate_batch_norm"):  # statistics of the plain digits, not of the distorted ones (98.97 -> 99.28 %)
        net.reestimate_batch_norm(plain)
    return net, time.perf_counter() - start


def official_test_accuracy(net):
    ds, _ = official_test_set(dtype=np.float32)
    return None if ds is None else digitnet.evaluate(net, ds.x_test, ds.t_test)[1]


HANDWRITING = REPO / "tests" / "fixtures" / "handwriting"


def handwriting_score(net):
    """How many of the 60 hand-drawn fixture digits (never trained on) the net reads right."""
    from digitnet.predict import predict_images

    files = sorted(p for p in HANDWRITING.iterdir()
                   if p.suffix.lower() in (".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"))
    return sum(r["digit"] == int(p.name[0]) for p, r in zip(files, predict_images(net, files)))


def choose_best(models):
    """The default model of predict, read and serve: deep-cnn, unless fast-cnn beats it on the official test set
    and reads at least as many hand-drawn digits."""
    deep, fast = models.get("deep-cnn"), models.get("fast-cnn")
    if fast and deep and fast["test_accuracy"] is not None and deep["test_accuracy"] is not None \
            and fast["test_accuracy"] > deep["test_accuracy"] and fast["handwriting"] >= deep["handwriting"]:
        return "fast-cnn"
    return "deep-cnn" if deep else next(iter(models))


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make(name, out_dir, x, t):
    r = RECIPES[name]
    net, seconds = train_recipe(name, x, t)
    test_acc = official_test_accuracy(net)
    train_acc = digitnet.evaluate(net, x, t)[1]
    metadata = {"pretrained": name, "recipe": {k: v for k, v in r.items() if k != "command"},
                "command": r["command"] + " (on the sample's 8,000 training digits)",
                "dataset": TRAINING_DATA, "train_accuracy": train_acc,
                "accuracy": {"test": test_acc, "train": train_acc},
                "test_set": "official MNIST test set (10,000 images)" if test_acc is not None else None,
                "made_by": "scripts/make_pretrained.py", "threads": 1, "calibration": calibrate(net, r)}
    path = out_dir / f"{name}.npz"
    digitnet.save_model(path, net, metadata)
    entry = {"file": path.name, "architecture": ARCHITECTURES[name], "training_data": TRAINING_DATA,
             "recipe": r["command"], "seed": r["seed"], "test_accuracy": test_acc, "train_accuracy": train_acc,
             "size_bytes": path.stat().st_size, "sha256": file_sha256(path),
             "weights_sha256": digitnet.load_model(path)[1]["sha256"],  # model_io.params_digest of the arrays
             "training_time_s": round(seconds, 1), "handwriting": handwriting_score(net)}
    acc = "n/a (no ../shared)" if test_acc is None else f"{100 * test_acc:.2f}%"
    print(f"{name}: official test accuracy {acc}, training-data accuracy {100 * train_acc:.2f}%, "
          f"{entry['size_bytes']:,} bytes, weights sha256 {entry['weights_sha256'][:16]}..., {seconds:.0f}s",
          flush=True)
    return entry


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help=f"models to make, of {', '.join(RECIPES)} (default: the bundled "
                                           f"{', '.join(BUNDLED)})")
    p.add_argument("--verify", action="store_true",
                   help="retrain into a temporary folder and compare the weights digest with the manifest's")
    args = p.parse_args(argv)
    names = args.names or list(BUNDLED)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        p.error(f"unknown model(s) {unknown}: choose from {list(RECIPES)}")
    missing = None if args.verify else official_test_set()[1]
    if missing:  # before: made without it, its test accuracy None, and the default model switched to deep-cnn
        p.error(f"the bundled models' test accuracy, and which is the default, come from the official MNIST test "
                f"set: {missing}")
    x, t = training_data()
    manifest_path = MODELS_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": {}}
    with threadpool_limits(limits=1):
        if args.verify:
            with tempfile.TemporaryDirectory() as tmp:
                ok = True
                for name in names:
                    entry = make(name, Path(tmp), x, t)
                    want = manifest["models"].get(name, {}).get("weights_sha256")
                    same = entry["weights_sha256"] == want
                    ok &= same
                    print(f"{name}: weights {'IDENTICAL to' if same else 'DIFFER from'} the manifest's ({want})")
                return 0 if ok else 1
        MODELS_DIR.mkdir(exist_ok=True)
        for name in names:
            manifest["models"][name] = make(name, MODELS_DIR, x, t)
            for entry in manifest["models"].values():  # files made before the manifest kept this figure
                if "handwriting" not in entry:
                    entry["handwriting"] = handwriting_score(digitnet.load_model(MODELS_DIR / entry["file"])[0])
            manifest["best"] = choose_best(manifest["models"])
            manifest["committees"] = {task: names for task, names in COMMITTEES.items()
                                      if all(n in manifest["models"] for n in names)}
            manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
