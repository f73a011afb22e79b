#!/usr/bin/env python3
"""Reproduce the accuracy figures in the README: fixed seeds, the digitnet command, one line per run.

    python scripts/accuracy.py                 # every run
    python scripts/accuracy.py mlp-mnist10k    # one run by name
    python scripts/accuracy.py --list

MNIST runs train on the 10,000 training digits of ../shared/data/mnist-10k and test on the official
10,000-image test set; Fashion-MNIST runs use /usr/share/datasets/fashion-mnist
(apt-get install dataset-fashion-mnist). BLAS runs on one thread, which is the faster choice on
two cores (see the README's performance notes).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST_10K = REPO.parent / "shared" / "data" / "mnist-10k"
FASHION = Path("/usr/share/datasets/fashion-mnist")

RUNS = {
    "two-layer-mnist10k": (MNIST_10K, ["--seed", "0"]),  # the book's recipe, 10,000 steps
    "mlp-mnist10k": (MNIST_10K, ["--model", "mlp", "--hidden", "512,256", "--optimizer", "adam", "--schedule", "cosine",
                                 "--augment", "--epochs", "30", "--seed", "0"]),
    "simple-cnn-mnist10k": (MNIST_10K, ["--model", "simple-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                        "--augment", "--epochs", "60", "--seed", "0"]),
    "deep-cnn-mnist10k": (MNIST_10K, ["--model", "deep-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                      "--augment", "--epochs", "40", "--seed", "0"]),
    "mlp-fashion": (FASHION, ["--model", "mlp", "--hidden", "512,256", "--optimizer", "adam", "--schedule", "cosine",
                              "--dropout", "0.2", "--epochs", "15", "--seed", "0"]),
    "simple-cnn-fashion": (FASHION, ["--model", "simple-cnn", "--optimizer", "adam", "--schedule", "cosine",
                                     "--epochs", "15", "--seed", "0"]),
}


def run(name):
    data_dir, args = RUNS[name]
    if not data_dir.is_dir():
        print(f"{name:22} skipped: {data_dir} is absent")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.npz"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "digitnet", "train", "--data-dir", str(data_dir), *args, "--out", str(out)]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        history = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    last = history[-1]
    result = {"run": name, "test_acc": last["test_acc"], "train_time_s": last["train_time_s"],
              "command": "digitnet train --data-dir " + str(data_dir) + " " + " ".join(args)}
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
    for name in argv or RUNS:
        run(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
