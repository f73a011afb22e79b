"""The digitnet command, run as a user runs it: a subprocess, its output and exit code."""
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def env(tmp_path):
    """An empty cache and a dead mirror: the CLI must fall back to the offline sample, never reach the internet."""
    e = dict(os.environ)
    e.update(DIGITNET_CACHE_DIR=str(tmp_path / "cache"), DIGITNET_MNIST_MIRRORS="http://127.0.0.1:9/",
             PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return e


def digitnet(*args, env, cwd=None):
    return subprocess.run([sys.executable, "-m", "digitnet", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_train_then_evaluate_on_the_offline_sample(tmp_path, env):
    out = tmp_path / "m.npz"
    r = digitnet("train", "--iters", 400, "--seed", 3, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "offline sample" in r.stderr and len([line for line in r.stderr.splitlines() if "sample" in line]) == 1
    assert "dataset: MNIST offline sample" in r.stdout
    assert r.stdout.count("epoch") >= 5  # 400 steps of 72 per epoch (800 digits calibrate): one line per epoch
    with np.load(out, allow_pickle=False) as npz:
        header = json.loads(str(npz["__header__"]))
    meta = header["metadata"]
    assert meta["settings"]["seed"] == 3 and meta["settings"]["lr"] == 0.1 and meta["settings"]["optimizer"] == "sgd"
    assert meta["steps"] == 400
    assert "offline sample" in meta["dataset"] and meta["accuracy"]["test"] > 0.85
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert len(metrics["epochs"]) == 6 and metrics["epochs"][-1]["iteration"] == 400

    r = digitnet("evaluate", out, env=env)
    assert r.returncode == 0, r.stderr
    assert f"{100 * meta['accuracy']['test']:.2f}%" in r.stdout
    assert "fitted on these very digits" not in r.stdout  # its own 800 held-out training digits calibrated it


def test_same_seed_same_model(tmp_path, env):
    for name in ("a", "b"):
        assert digitnet("train", "--iters", 100, "--seed", 9, "--sampling", "shuffle",
                        "--out", tmp_path / f"{name}.npz", env=env).returncode == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in ("W1", "b1", "W2", "b2"))


def test_gradcheck_passes_and_prints_four_parameters(env):
    r = digitnet("gradcheck", env=env)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.split()[:1] in (["W1"], ["b1"], ["W2"], ["b2"])]
    assert [row[0] for row in rows] == ["W1", "b1", "W2", "b2"] and all(row[-1] == "ok" for row in rows)
    assert all(float(row[1]) < 1e-6 for row in rows)


def test_gradcheck_with_the_books_loss_reproduces_the_books_figures(env):
    r = digitnet("gradcheck", "--book-loss", env=env)
    assert r.returncode == 0, r.stderr
    diffs = {line.split()[0]: float(line.split()[1]) for line in r.stdout.splitlines()
             if line.split()[:1] in (["W1"], ["b1"], ["W2"], ["b2"])}
    # the book's gradient_check.py prints about W1 4e-10, b1 2e-9, W2 5e-9, b2 1.4e-7
    assert 1e-10 < diffs["W1"] < 2e-9 and 5e-10 < diffs["b1"] < 1e-8
    assert 1e-9 < diffs["W2"] < 2e-8 and 5e-8 < diffs["b2"] < 5e-7


def test_gradcheck_fails_when_tolerance_is_impossible(env):
    r = digitnet("gradcheck", "--tolerance", "1e-30", env=env)
    assert r.returncode == 1 and "FAILED" in r.stderr


def make_data_dir(tmp_path, corrupt):
    d = tmp_path / "data"
    shutil.copytree(Path(__file__).resolve().parents[1] / "digitnet" / "data" / "sample", d,
                    ignore=shutil.ignore_patterns("*.md"))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(d / name.replace("t10k", "train"), d / name)
    target = d / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(target.read_bytes())
    if corrupt == "truncated":
        target.write_bytes(gzip.compress(raw[:-100]))
    elif corrupt == "not gzip":
        target.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    elif corrupt == "wrong magic":
        target.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + raw[4:]))
    elif corrupt == "labels as images":
        shutil.copy(d / "t10k-labels-idx1-ubyte.gz", target)
    elif corrupt == "count mismatch":
        labels = gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes())
        (d / "t10k-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(labels[:4] + (9000).to_bytes(4, "big") + labels[8:9008]))
    return d, target


@pytest.mark.parametrize("corrupt", ["truncated", "not gzip", "wrong magic", "labels as images", "count mismatch"])
def test_bad_data_files_give_one_line_naming_the_file(tmp_path, env, corrupt):
    d, _ = make_data_dir(tmp_path, corrupt)
    r = digitnet("train", "--iters", 5, "--data-dir", d, "--out", tmp_path / "m.npz", env=env)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    error_lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and "t10k-" in error_lines[0], r.stderr
    assert not (tmp_path / "m.npz").exists()


def test_missing_data_dir_file(tmp_path, env):
    from digitnet import TwoLayerNet, save_model
    model = save_model(tmp_path / "m.npz", TwoLayerNet(784, 10, 10, rng=np.random.default_rng(0), dtype=np.float32))
    d, target = make_data_dir(tmp_path, None)
    target.unlink()
    r = digitnet("evaluate", model, "--data-dir", d, env=env)  # a real model: the data is what is missing
    error_lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(error_lines) == 1, r.stderr
    assert target.name in error_lines[0] and "m.npz" not in error_lines[0], r.stderr


@pytest.mark.parametrize("content", [b"", b"\x80\x04K\x01.", b"PK\x03\x04broken"])
def test_evaluate_refuses_bad_model_files_in_one_line(tmp_path, env, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    r = digitnet("evaluate", bad, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.npz" in r.stderr


def test_usage_errors(tmp_path, env):
    r = digitnet("train", "--iters", 5, "--epochs", 1, env=env)
    assert r.returncode == 2 and "not both" in r.stderr
    r = digitnet("train", "--lr", "-1", env=env)
    assert r.returncode == 2


def test_train_on_real_mnist_test_set(tmp_path, env, mnist_10k_dir):
    out = tmp_path / "m.npz"
    r = digitnet("train", "--iters", 300, "--seed", 0, "--data-dir", mnist_10k_dir, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "mnist-10k" in r.stdout and "offline sample" not in r.stdout + r.stderr
    r = digitnet("evaluate", out, "--data-dir", mnist_10k_dir, env=env)
    assert r.returncode == 0 and "10,000 test images" in r.stdout
    assert float(r.stdout.split("test accuracy ")[1].split("%")[0]) > 85  # 300 steps; untrained is 10 %


def test_core_library_imports_numpy_only():
    code = "import sys, digitnet, digitnet.data; print(sorted({'click', 'tqdm'} & set(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_train_mlp_with_every_toolkit_option(tmp_path, env):
    out = tmp_path / "mlp.npz"
    r = digitnet("train", "--model", "mlp", "--hidden", "64,32", "--optimizer", "adam", "--schedule", "cosine",
                 "--weight-decay", "1e-4", "--dropout", "0.1", "--batch-norm", "--augment", "--validation", 1000,
                 "--epochs", 3, "--seed", 1, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "MultiLayerNet 784-64-32-10" in r.stdout and "adam lr 0.001 (cosine)" in r.stdout
    assert "1,000 training samples held out for validation" in r.stdout
    assert "best validation accuracy" in r.stdout
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    assert len(metrics) == 3 and all("val_acc" in m for m in metrics)
    best = max(metrics, key=lambda m: m["val_acc"])
    first_best = min(m["epoch"] for m in metrics if m["val_acc"] == best["val_acc"])
    assert [m["epoch"] for m in metrics if m["best"]] == [first_best]
    with np.load(out) as npz:
        header = json.loads(str(npz["__header__"]))
        assert "buffer.BatchNorm1.running_mean" in npz.files
    assert header["metadata"]["accuracy"]["val"] == best["val_acc"]
    # All the options together still learn: 3 short epochs (70 steps each, with augmentation, dropout and
    # weight decay slowing it) reach about 84 % on the offline sample and more on full MNIST; a combination
    # that broke training would stay near chance (10 %). 70 % clears both by a margin.
    assert header["metadata"]["accuracy"]["test"] > 0.70
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    r = digitnet("evaluate", out, env=env)
    assert r.returncode == 0 and f"{100 * best['test_acc']:.2f}%" in r.stdout


@pytest.mark.parametrize("model", ["simple-cnn", "deep-cnn"])
def test_train_conv_nets_briefly(tmp_path, env, model):
    out = tmp_path / f"{model}.npz"
    r = digitnet("train", "--model", model, "--iters", 3, "--batch-size", 20, "--seed", 0, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "adam lr 0.001" in r.stdout  # the book's optimizer for its conv nets, without --optimizer
    r = digitnet("evaluate", out, env=env)
    assert r.returncode == 0 and "test accuracy" in r.stdout


def test_options_a_model_does_not_take_are_usage_errors(env):
    r = digitnet("train", "--batch-norm", "--iters", 1, env=env)
    assert r.returncode == 2 and "two-layer does not take batch norm" in r.stderr
    r = digitnet("train", "--hidden", "10,x", env=env)
    assert r.returncode == 2 and "sizes like" in r.stderr


def test_unwritable_output_is_one_line(tmp_path, env):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    r = digitnet("train", "--iters", 5, "--out", blocker / "m.npz", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: ") and str(blocker) in r.stderr


def test_threads_option_sets_the_blas_thread_count():
    from click.testing import CliRunner
    from threadpoolctl import threadpool_info, threadpool_limits

    from digitnet.cli import main

    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    if not blas:
        pytest.skip("threadpoolctl sees no BLAS library in this NumPy")
    try:
        result = CliRunner().invoke(main, ["--threads", "2", "tour", "--help"])
        assert result.exit_code == 0, result.output
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {2}
        result = CliRunner().invoke(main, ["--threads", "0", "tour", "--help"])
        assert result.exit_code == 2 and "--threads" in result.output
    finally:
        threadpool_limits(1)


def test_train_limit_takes_the_first_digits_before_the_validation_split(tmp_path, env):
    out = tmp_path / "m.npz"
    r = digitnet("train", "--train-limit", 1000, "--validation", 200, "--iters", 20, "--seed", 0, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "training on its first 1,000 digits; 200 training samples held out" in r.stdout
    epochs = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    assert [e["iteration"] for e in epochs] == [8, 16, 20]  # 800 training digits left: 8 steps of 100 an epoch
    r = digitnet("train", "--train-limit", 10**6, "--iters", 5, "--seed", 0, "--out", out, env=env)
    assert r.returncode == 0 and "all are used" in r.stdout


@pytest.mark.parametrize("limit, trained", [(1500, 1350), (500, 500)])
def test_train_limit_trains_on_exactly_those_digits(tmp_path, env, limit, trained):
    """The CLI's weights equal the library's training on dataset.x_train[:trained], written out here: the first
    1,500 digits, less the last 150 held out for calibration (a tenth); of 500, a tenth is under the 100 digits a
    calibration needs, and all 500 train."""
    from digitnet import SGD, TwoLayerNet, train
    from digitnet.data import load_sample

    out = tmp_path / "m.npz"
    r = digitnet("train", "--train-limit", limit, "--iters", 12, "--seed", 4, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    ds = load_sample()
    rng = np.random.default_rng(4)
    net = TwoLayerNet(784, 50, 10, rng=rng, dtype=np.float32)
    train(net, ds.x_train[:trained], ds.t_train[:trained], iters=12, optimizer=SGD(0.1), rng=rng)
    with np.load(out) as npz:
        assert all(np.array_equal(npz[k], net.params[k]) for k in net.params)


def one_error_line(stderr):
    """The stderr lines other than the notice that the offline sample stands in for MNIST."""
    return [line for line in stderr.splitlines() if line.strip() and "bundled offline sample" not in line]


def test_a_run_ending_near_chance_warns_in_one_line(tmp_path, env):
    out = tmp_path / "m.npz"
    r = digitnet("train", "--lr", 50, "--iters", 160, "--seed", 0, "--out", out, env=env)
    assert r.returncode == 0 and out.exists(), r.stderr
    lines = one_error_line(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and "near chance" in lines[0], r.stderr
    assert "smaller --lr than 50" in lines[0]


def test_overflow_gives_only_the_divergence_line(tmp_path, env):
    r = digitnet("train", "--lr", "1e30", "--iters", 50, "--seed", 0, "--out", tmp_path / "m.npz", env=env)
    assert r.returncode == 1
    lines = one_error_line(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: training diverged"), r.stderr


@pytest.mark.parametrize("args", [["--epochs", 5, "--train-limit", 200, "--lr", "1e12", "--logdir", "runs"],
                                  ["--iters", 1, "--lr", "1e38", "--calibration", 0],
                                  ["--iters", 1, "--lr", "1e38"]], ids=["epoch-end-logdir", "last-step", "calibrated"])
def test_an_update_that_diverges_just_before_an_epoch_ends_is_the_divergence_line(tmp_path, env, args):
    """Only the loss before each update was checked: where an epoch ended right after a diverging one, TensorBoard's
    histogram raised a traceback; on the last step a model of NaN weights was saved (exit 0, its metrics file
    holding a bare NaN), or calibrating it failed with a line that did not say the run diverged."""
    out = tmp_path / "m.npz"
    args = [str(tmp_path / a) if a == "runs" else a for a in args]
    r = digitnet("train", *args, "--seed", 1, "--out", out, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    (line,) = [line for line in one_error_line(r.stderr) if "RuntimeWarning" not in line and not line.startswith(" ")]
    assert line.startswith("Error: training diverged: the loss on the training digits became nan after step"), line
    assert line.endswith("no checkpoint of this run was written") and not out.exists()
    assert not out.with_suffix(".metrics.json").exists()


@pytest.mark.parametrize("args", [["train", "--dropout", "nan", "--model", "mlp"], ["train", "--pen-digits", "nan"],
                                  ["train", "--cut-digits", "nan"], ["train", "--elastic", "nan", "--augment"],
                                  ["train", "--lr", "inf"], ["train", "--weight-decay", "nan", "--model", "mlp"],
                                  ["train", "--init", "inf"], ["train", "--weight-init-std", "nan"],
                                  ["calibrate", "two-layer", "--rate", "nan", "--out", "c.npz"],
                                  ["gradcheck", "--tolerance", "nan"]])
def test_a_number_option_refuses_nan_and_infinity_in_one_line(tmp_path, args):
    """click's FloatRange lets nan through every bound: --dropout nan trained and saved a model with dropout nan,
    --pen-digits, --cut-digits and --elastic nan raised a traceback, --lr and --weight-decay nan were called a
    learning rate too high."""
    from click.testing import CliRunner

    from digitnet.cli import main

    r = CliRunner().invoke(main, [*args, "--offline", "--iters", "2", "--out", str(tmp_path / "m.npz")]
                           if args[0] == "train" else [*args, "--offline"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    option = next(a for a in args if a.startswith("--") and a not in ("--model", "--augment", "--out"))
    assert f"Invalid value for '{option}'" in r.output and "finite" in r.output
    assert not (tmp_path / "m.npz").exists()


def test_a_warmup_as_long_as_the_run_is_refused(tmp_path):
    """The learning rate would never reach --lr: taken without a word before."""
    from click.testing import CliRunner

    from digitnet.cli import main

    out = tmp_path / "m.npz"
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "20", "--warmup", "20", "--out", str(out)])
    assert r.exit_code == 2 and "--warmup 20 is not shorter than the run (20 steps)" in r.output and not out.exists()
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "20", "--warmup", "19", "--calibration", "0",
                                  "--out", str(out)])
    assert r.exit_code == 0 and out.exists(), r.output


def end_warning_for(history, **settings):
    from types import SimpleNamespace

    from digitnet.cli.train import end_warning
    from digitnet.settings import RunSettings

    return end_warning(SimpleNamespace(settings=RunSettings(seed=0, **settings).resolved()), history)


def test_end_warnings_name_the_symptom_and_a_hint():
    learned = [{"train_loss": 2.0, "test_acc": 0.5}, {"train_loss": 0.4, "test_acc": 0.9}]
    assert end_warning_for(learned) is None
    rose = [{"train_loss": 0.5, "test_acc": 0.8}, {"train_loss": 0.9, "test_acc": 0.6}]
    assert "loss rose from 0.5000 (epoch 1) to 0.9000 (epoch 2)" in end_warning_for(rose, lr=2.0)
    assert "smaller --lr than 2" in end_warning_for(rose, lr=2.0)
    chance = [{"train_loss": 2.30, "test_acc": 0.11}]
    assert "near chance" in end_warning_for(chance, model="simple-cnn", optimizer="sgd")
    assert "--optimizer adam" in end_warning_for(chance, model="simple-cnn", optimizer="sgd")
    assert "more --iters" in end_warning_for(chance)


def test_end_warnings_do_not_call_a_model_s_own_learning_rate_too_high():
    """A fast-cnn run at its recipe's rate (nesterov at 0.1, ten times nesterov's general default) that ended near
    chance or with its loss rising was told to try "a smaller --lr than 0.1", its own default; only a rate above
    the model's own default is called too high now."""
    chance = [{"train_loss": 2.30, "test_acc": 0.11}]
    assert "smaller --lr" not in end_warning_for(chance, model="fast-cnn")
    assert "more --iters" in end_warning_for(chance, model="fast-cnn")
    assert "smaller --lr than 0.3" in end_warning_for(chance, model="fast-cnn", lr=0.3)


def test_a_net_that_fails_to_build_is_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import digitnet.nets.factory
    from digitnet.cli import main

    def broken(*args, **kwargs):
        raise TypeError("can't multiply sequence by non-int of type 'float'")

    monkeypatch.setattr(digitnet.nets.factory, "build_net", broken)
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["train", "--iters", "1", "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert lines == ["Error: cannot build two-layer with these settings (TypeError: can't multiply sequence by "
                     "non-int of type 'float')"]


def test_evaluate_takes_a_bundled_models_name(env):
    r = digitnet("evaluate", "two-layer", "--offline", env=env)
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and "each picture's" in r.stdout  # its calibration, per picture
    assert "held out to calibrate" in r.stdout  # what it was trained on: which digits to measure it on
    assert "fitted on these very digits" in r.stdout  # the sample's test digits calibrated the bundled models
    r = digitnet("evaluate", "no-such-model", "--offline", env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "not a bundled model (" in r.stderr and "two-layer" in r.stderr


def idx_folder(folder, side, n=300):
    """An MNIST-format folder of n training and n // 3 test pictures side x side (the sample's digits, cropped)."""
    from helpers import write_mnist_folder

    from digitnet.data import load_sample

    ds, lo = load_sample(flatten=False), (28 - side) // 2
    crop = lambda x: (255 * x[:, 0, lo:lo + side, lo:lo + side]).astype(np.uint8)
    return write_mnist_folder(folder, crop(ds.x_train[:n]), ds.t_train[:n], crop(ds.x_test[:n // 3]),
                              ds.t_test[:n // 3])


def test_pictures_of_another_size_train_with_augmentation_and_refuse_outliers_of_28x28(tmp_path, env):
    """A --data-dir set of 20x20 pictures trained plainly, but --augment (which fast-cnn's recipe turns on) ended
    in a ValueError traceback from the first batch (it turned 28x28 pictures), and so did --outliers of 28x28."""
    data = idx_folder(tmp_path / "small", 20)
    r = digitnet("train", "--data-dir", data, "--augment", "--elastic", 8, "--iters", 3, "--out", tmp_path / "a.npz",
                 env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = digitnet("train", "--data-dir", data, "--outliers", idx_folder(tmp_path / "others", 28), "--iters", 3,
                 "--out", tmp_path / "b.npz", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert one_error_line(r.stderr)[-1].endswith("pictures of 784 pixels, and the digits have 400"), r.stderr


def test_pen_and_cut_digits_and_calibrate_s_outliers_refuse_pictures_of_another_size(tmp_path, env):
    """--pen-digits and --cut-digits on 20x20 pictures, and calibrate --outliers of 20x20 pictures for a 28x28
    model, ended in reshape tracebacks (a review)."""
    data = idx_folder(tmp_path / "small", 20)
    for option in ("--pen-digits", "--cut-digits"):
        r = digitnet("train", "--data-dir", data, option, 0.5, "--iters", 3, "--out", tmp_path / "p.npz", env=env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert one_error_line(r.stderr)[-1].endswith(f"{option} works on 28x28 digits; these pictures have 400 pixels")
    r = digitnet("calibrate", "two-layer", "--offline", "--outliers", data, "--out", tmp_path / "c.npz", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert one_error_line(r.stderr)[-1].endswith("pictures of 400 pixels, and the digits have 784"), r.stderr


def test_outliers_that_are_training_pictures_are_refused(tmp_path, env):
    """--outliers of the very folder the net trains on (or Fashion-MNIST's with --outliers fashion on Fashion-MNIST)
    taught each of those pictures as its class and as "not a digit" at once, without a word (a review)."""
    data = idx_folder(tmp_path / "digits", 28)
    r = digitnet("train", "--data-dir", data, "--outliers", data, "--iters", 3, "--out", tmp_path / "o.npz", env=env)
    assert r.returncode == 2 and not (tmp_path / "o.npz").exists(), r.stderr
    assert "of its pictures are among the training pictures, which the net would learn as their class and as " \
           "'not a digit' at once" in one_error_line(r.stderr)[-1]


def test_a_folder_of_outliers_needs_only_its_training_images(tmp_path, env):
    """A folder of outliers had to hold all four MNIST files, labels 0-9, and its errors blamed Fashion-MNIST."""
    from helpers import write_idx

    others = tmp_path / "letters"
    others.mkdir()
    rng = np.random.default_rng(0)
    write_idx(others / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (200, 28, 28)))
    data = idx_folder(tmp_path / "digits", 28)
    r = digitnet("train", "--data-dir", data, "--outliers", others, "--iters", 3, "--calibration", 0,
                 "--out", tmp_path / "o.npz", env=env)
    assert r.returncode == 0, r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = digitnet("train", "--data-dir", data, "--outliers", empty, "--iters", 3, "--out", tmp_path / "e.npz", env=env)
    line = one_error_line(r.stderr)[-1]
    assert r.returncode == 1 and "a folder of pictures needs at least its training images" in line
    assert "Fashion" not in line


def test_a_data_folder_with_both_a_gz_and_a_plain_file_that_differ_is_refused(tmp_path, env):
    """The .gz was read and the plain file beside it never mentioned, whatever it held (a review)."""
    data = idx_folder(tmp_path / "digits", 28)
    labels = data / "t10k-labels-idx1-ubyte"
    labels.write_bytes(gzip.decompress((data / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    r = digitnet("train", "--data-dir", data, "--iters", 3, "--out", tmp_path / "same.npz", env=env)
    assert r.returncode == 0, r.stderr  # the same labels twice: read
    body = bytearray(labels.read_bytes())
    body[-1] = (body[-1] + 1) % 10
    labels.write_bytes(bytes(body))
    r = digitnet("train", "--data-dir", data, "--iters", 3, "--out", tmp_path / "differ.npz", env=env)
    assert r.returncode == 1 and one_error_line(r.stderr)[-1].endswith(
        "both t10k-labels-idx1-ubyte.gz and t10k-labels-idx1-ubyte are here, and they differ: keep one"), r.stderr


def test_a_data_folder_given_as_dot_is_named_for_what_it_is(tmp_path, env):
    """`--data-dir .` named the dataset "." in the output, the metrics and the model file (a review)."""
    data = idx_folder(tmp_path / "digits", 28)
    r = digitnet("train", "--data-dir", ".", "--iters", 3, "--calibration", 0, "--out", tmp_path / "dot.npz", env=env,
                 cwd=data)
    assert r.returncode == 0, r.stderr
    assert "dataset: digits at ." in r.stdout and "on digits" in r.stdout, r.stdout
    (tmp_path / "mnist").symlink_to(data)  # a link keeps its own name: calibrate finds a run's data by it
    r = digitnet("train", "--data-dir", "mnist", "--iters", 3, "--calibration", 0, "--out", tmp_path / "link.npz",
                 env=env, cwd=tmp_path)
    assert r.returncode == 0 and "dataset: mnist at mnist" in r.stdout, r.stdout


def test_a_batch_norm_net_with_batches_of_one_is_refused_in_one_line(tmp_path, env):
    """Batch norm learns nothing from batches of 1 (output and gradient 0), and its running variance then broke
    inference; the layer refuses it, and train says so before the first step."""
    r = digitnet("train", "--offline", "--model", "mlp", "--batch-norm", "--batch-size", 1, "--iters", 3,
                 "--out", tmp_path / "bn.npz", env=env)
    assert r.returncode == 2 and not (tmp_path / "bn.npz").exists()
    assert one_error_line(r.stderr)[-1].endswith("--batch-size 1: batch normalization needs batches of 2 or more")


def test_serve_asks_for_a_python_multipart_new_enough_to_read_broken_uploads(monkeypatch):
    """With python-multipart before 0.0.13 (its module then named `multipart`) the server started, and answered
    a cut-short upload with a 500, for serve/inputs.py imports `python_multipart` (a review of the installed
    package). `digitnet serve` now names the package and the version it needs, and the extra asks for it."""
    import importlib.util

    from digitnet.cli import serve

    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "python_multipart" else real(name, *a))
    assert serve._missing_server_packages() == ["python-multipart (0.0.13 or later)"]
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert "python-multipart>=0.0.13" in extras["serve"]
