#!/usr/bin/env python3
"""Reproduce the accuracy figures in the README: fixed seeds, the digitnet command, one line per run.

    python scripts/accuracy.py                 # every run
    python scripts/accuracy.py mlp-mnist10k    # one run by name
    python scripts/accuracy.py --list

MNIST runs train on the first 10,000 training digits and test on the official 10,000-image test set:
`digitnet train --train-limit 10000 ...` on the full MNIST (cached, or downloaded once), or the same
digits from a folder holding just them, the one scripts/shared_data.py names ($DIGITNET_TEST_DATA, else the
project's copy), when there is one. Never the offline sample: its figures are not comparable. Fashion-MNIST runs use
/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist). BLAS runs on one thread, which is
the faster choice on two cores (see the README's performance notes).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from shared_data import FOLDER as MNIST_10K  # the first 10,000 training digits and the official test set
from shared_data import REPO, official_test_set

sys.path.insert(0, str(REPO))  # this checkout's digitnet, installed or not

FULL_MNIST = None  # the full MNIST from the cache, with --train-limit 10000
FASHION = Path("/usr/share/datasets/fashion-mnist")

RUNS = {
    "two-layer-mnist10k": (FULL_MNIST, ["--seed", "0"]),  # the book's recipe, 10,000 steps
    "mlp-mnist10k": (FULL_MNIST, ["--model", "mlp", "--hidden", "512,256", "--optimizer", "adam",
                                  "--schedule", "cosine", "--augment", "--epochs", "30", "--seed", "0"]),
    "simple-cnn-mnist10k": (FULL_MNIST, ["--model", "simple-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                        "--augment", "--epochs", "60", "--seed", "0"]),
    "deep-cnn-mnist10k": (FULL_MNIST, ["--model", "deep-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                      "--augment", "--epochs", "40", "--seed", "0"]),
    "mlp-fashion": (FASHION, ["--model", "mlp", "--hidden", "512,256", "--optimizer", "adam", "--schedule", "cosine",
                              "--dropout", "0.2", "--epochs", "15", "--seed", "0"]),
    "simple-cnn-fashion": (FASHION, ["--model", "simple-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                     "--epochs", "15", "--seed", "0"]),
}


def data_args(data_dir):
    """The `digitnet train` options that pick a run's data, or why it cannot run (a string)."""
    if data_dir is not FULL_MNIST:
        return ["--data-dir", str(data_dir)] if data_dir.is_dir() else f"{data_dir} is absent"
    if official_test_set(normalize=False)[0] is not None:
        return ["--data-dir", str(MNIST_10K)]  # the same digits as --train-limit 10000, already apart
    from digitnet.data.download import ensure_mnist_files, mnist_cache_dir
    from digitnet.errors import DataError
    try:
        ensure_mnist_files(mnist_cache_dir())
    except DataError as e:
        return f"full MNIST is not cached and could not be downloaded ({e})"
    return ["--train-limit", "10000"]


def run(name):
    data_dir, args = RUNS[name]
    data = data_args(data_dir)
    if isinstance(data, str):
        print(f"{name:22} skipped: {data}")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.npz"
        # this checkout's digitnet, not whatever another folder or the environment holds
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": path}
        cmd = [sys.executable, "-m", "digitnet", "train", *data, *args, "--out", str(out)]
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if done.returncode != 0:  # its one-line error is on stderr already (before: a CalledProcessError traceback)
            print(f"{name:22} failed: digitnet train exited with status {done.returncode}")
            return False
        history = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    last = history[-1]
    result = {"run": name, "test_acc": last["test_acc"], "train_time_s": last["train_time_s"],
              "command": " ".join(["digitnet", "train", *data, *args])}
    print(f"{name:22} test accuracy {100 * last['test_acc']:.2f}%  training {last['train_time_s']:6.1f} s  "
          f"({len(history)} epochs)\n{'':22} {result['command']}", flush=True)
    return result


def main(argv):
    if "--list" in argv:
        print("\n".join(RUNS))
        return 0
    unknown = [a for a in argv if a not in RUNS]
    if unknown:
        print(f"unknown run(s) {unknown}; --list shows them", file=sys.stderr)
        return 2
    measured = [run(name) for name in argv or RUNS]
    if not any(measured):  # it used to end with 0, as if it had measured something
        print("nothing measured: give the MNIST runs a folder of MNIST's four IDX files in $DIGITNET_TEST_DATA "
              "(or let digitnet download full MNIST once, online)", file=sys.stderr)
        return 1
    return 1 if any(result is False for result in measured) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
