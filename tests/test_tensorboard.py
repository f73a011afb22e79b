"""TensorBoard event files (digitnet.tensorboard_log), read back with TensorBoard's own EventAccumulator."""
import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import faultkit
import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="TensorBoard (the reader) is not installed")

from digitnet import SGD, train  # noqa: E402  (after the importorskip calls above)
from digitnet.data import load_sample  # noqa: E402  (after the importorskip calls above)
from digitnet.errors import DigitnetError  # noqa: E402  (after the importorskip calls above)
from digitnet.nets import MultiLayerNet, SimpleConvNet, TwoLayerNet  # noqa: E402  (after the importorskip calls above)
from digitnet.optimizers import StepLR  # noqa: E402  (after the importorskip calls above)
from digitnet.tensorboard_log import (  # noqa: E402  (after the importorskip calls above)
    HISTOGRAM_VALUES,
    PROBE_SIZE,
    TensorBoardLogger,
    first_layer_picture,
    misclassified_picture,
)
from digitnet.train import FunctionCallback, TrainingInterrupted, TrainingState  # noqa: E402  (after the importorskip calls above)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def read_events(logdir):
    """Everything TensorBoard would show for logdir: its EventAccumulator, keeping every event."""
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0, event_accumulator.IMAGES: 0})
    acc.Reload()
    return acc


def decode(image_event):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string)).convert("RGB"))


def train_logged(net, sample, logdir, *, n_train=600, batch_size=100, iters=12, schedule=None, seed=0, **kw):
    """Train on the first n_train sample digits with a logger hooked in; returns (history, per-step losses, lrs)."""
    rng = np.random.default_rng(seed)
    optimizer, losses, lrs = SGD(lr=0.1), [], []
    record = FunctionCallback(on_step=lambda loss: (losses.append(loss), lrs.append(optimizer.lr)))
    logger = TensorBoardLogger(logdir, net, (sample.x_test, sample.t_test), optimizer=optimizer) if logdir else None
    with logger or contextlib.nullcontext():
        history = train(net, sample.x_train[:n_train], sample.t_train[:n_train], sample.x_test, sample.t_test,
                        iters=iters, batch_size=batch_size, optimizer=optimizer, schedule=schedule, rng=rng,
                        callbacks=[record, logger] if logger else [record], **kw)
    return history, losses, lrs


def test_scalars_histograms_and_images_of_a_two_layer_net(sample, tmp_path):
    net = TwoLayerNet(784, 30, 10, rng=np.random.default_rng(1), dtype=np.float32)
    history, losses, lrs = train_logged(net, sample, tmp_path, iters=12, schedule=StepLR(0.1, 5, 0.5),
                                        x_val=sample.x_train[-300:], t_val=sample.t_train[-300:])
    events = read_events(tmp_path)
    tags = events.Tags()
    epoch_steps = [r["iteration"] for r in history]
    assert epoch_steps == [6, 12]  # 600 digits / batch 100

    # scalars: every step's loss and learning rate, each epoch's losses and accuracies
    loss = events.Scalars("loss/step")
    assert [e.step for e in loss] == list(range(1, 13))
    np.testing.assert_allclose([e.value for e in loss], losses, rtol=1e-6)  # stored as float32
    lr = events.Scalars("learning_rate")
    assert [e.step for e in lr] == list(range(1, 13))
    np.testing.assert_allclose([e.value for e in lr], [0.1 * 0.5 ** (s // 5) for s in range(12)], rtol=1e-6)
    assert [e.value for e in lr] == pytest.approx(lrs)
    for tag, key in (("accuracy/train", "train_acc"), ("accuracy/test", "test_acc"),
                     ("accuracy/validation", "val_acc"), ("loss/train", "train_loss"),
                     ("loss/test", "test_loss"), ("loss/validation", "val_loss")):
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == epoch_steps, tag
        np.testing.assert_allclose([e.value for e in scalars], [r[key] for r in history], rtol=1e-6, err_msg=tag)

    # histograms: each parameter and each layer's output on the first 500 test digits, once an epoch
    assert set(tags["histograms"]) == {"weights/W1", "weights/b1", "weights/W2", "weights/b2",
                                       "activations/01_Affine1", "activations/02_Relu1", "activations/03_Affine2"}
    for tag in tags["histograms"]:
        assert [e.step for e in events.Histograms(tag)] == epoch_steps, tag
    W1 = events.Histograms("weights/W1")[-1].histogram_value  # the last epoch's: the final weights
    assert W1.num == net.params["W1"].size
    assert (W1.min, W1.max) == pytest.approx((net.params["W1"].min(), net.params["W1"].max()))
    assert W1.sum == pytest.approx(float(net.params["W1"].sum(dtype=np.float64)), rel=1e-5, abs=1e-4)
    assert sum(W1.bucket) == W1.num
    # the hidden layer's activations, written out as the book's formula: relu(x W1 + b1)
    x = sample.x_test[:PROBE_SIZE].astype(np.float64)
    hidden = np.maximum(x @ net.params["W1"] + net.params["b1"], 0)
    relu = events.Histograms("activations/02_Relu1")[-1].histogram_value
    assert relu.num == hidden.size == PROBE_SIZE * 30
    assert relu.min == 0 and relu.max == pytest.approx(hidden.max(), rel=1e-5)
    assert relu.sum == pytest.approx(hidden.sum(), rel=1e-5)

    # images: the first layer's weights and the misclassified digits, once an epoch
    assert set(tags["images"]) == {"images/first_layer_weights", "images/misclassified"}
    filters = events.Images("images/first_layer_weights")
    assert [e.step for e in filters] == epoch_steps
    np.testing.assert_array_equal(decode(filters[-1]), first_layer_picture(net.params["W1"]))
    wrong = events.Images("images/misclassified")
    predicted = net.predict(sample.x_test[:PROBE_SIZE]).argmax(axis=1)
    expected = misclassified_picture(sample.x_test[:PROBE_SIZE], sample.t_test[:PROBE_SIZE], predicted)
    np.testing.assert_array_equal(decode(wrong[-1]), expected)


def test_a_conv_nets_filters_and_feature_maps(sample, tmp_path):
    net = SimpleConvNet(conv_param={"filter_num": 6}, hidden_size=20, weight_init_std="he",
                        rng=np.random.default_rng(2), dtype=np.float32)
    history, _, _ = train_logged(net, sample, tmp_path, n_train=100, batch_size=50, iters=4)
    events = read_events(tmp_path)
    tags = events.Tags()
    assert [f"activations/{i:02d}_{name}" for i, name in enumerate(net.layers, start=1)] \
        == sorted(tag for tag in tags["histograms"] if tag.startswith("activations/"))
    assert {f"weights/{key}" for key in net.params} == {tag for tag in tags["histograms"] if tag.startswith("weights/")}
    conv = events.Histograms("activations/01_Conv1")[-1].histogram_value
    values = PROBE_SIZE * 6 * 24 * 24  # 6 feature maps of 24 x 24 per digit
    assert values > HISTOGRAM_VALUES and conv.num == len(range(0, values, 2))  # so every second value
    pool = events.Histograms("activations/03_Pool1")[-1].histogram_value
    assert pool.num == PROBE_SIZE * 6 * 12 * 12 and pool.min >= 0
    assert [e.step for e in events.Scalars("accuracy/test")] == [2, 4]
    np.testing.assert_array_equal(decode(events.Images("images/first_layer_weights")[-1]),
                                  first_layer_picture(net.params["W1"]))


def test_logging_does_not_change_training(sample, tmp_path):
    """The probe's forward pass runs in inference mode: no dropout draw, no batch-norm statistics update."""
    def build():
        return MultiLayerNet(784, [40, 40], 10, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2,
                             rng=np.random.default_rng(3), dtype=np.float32)

    plain, logged = build(), build()
    plain_history, plain_losses, _ = train_logged(plain, sample, None, iters=12)
    logged_history, logged_losses, _ = train_logged(logged, sample, tmp_path, iters=12)
    assert plain_losses == logged_losses
    for key in plain.params:
        np.testing.assert_array_equal(plain.params[key], logged.params[key])
    for key, value in plain.buffers().items():
        np.testing.assert_array_equal(value, logged.buffers()[key])
    assert [r["test_acc"] for r in plain_history] == [r["test_acc"] for r in logged_history]
    histograms = read_events(tmp_path).Tags()["histograms"]
    assert {"activations/02_BatchNorm1", "activations/08_Dropout2", "weights/gamma1", "weights/beta2"} \
        <= set(histograms)


def test_first_layer_picture_colours_each_weight_by_its_sign():
    W1 = np.random.default_rng(4).standard_normal((784, 3))
    picture = first_layer_picture(W1)  # 28x28 tiles enlarged twice, 4 pixels apart
    tile = picture[4:4 + 56:2, 4 + 60:4 + 60 + 56:2]  # the second unit, one pixel per weight
    w = W1[:, 1].reshape(28, 28) / np.abs(W1[:, 1]).max()
    red, blue = tile[..., 0].astype(int), tile[..., 2].astype(int)
    assert np.all(red[w > 0] == 255) and np.all(blue[w < 0] == 255)
    np.testing.assert_allclose(blue[w > 0], 255 * (1 - w[w > 0]), atol=0.6)  # fades with the weight
    strongest = np.unravel_index(np.abs(w).argmax(), w.shape)
    assert tuple(tile[strongest]) in ((255, 0, 0), (0, 0, 255))
    assert first_layer_picture(np.zeros((99, 50))) is None  # not square pictures: nothing drawn
    assert first_layer_picture(np.ones((100, 2))).shape[:2] == (4 + 50 + 4, 2 * (50 + 4) + 4)  # 10x10, 5 times
    assert first_layer_picture(np.zeros((8, 3, 5, 5))).shape[:2] == (4 + 55 + 4, 8 * (55 + 4) + 4)


def test_misclassified_picture_shows_only_the_wrong_digits(sample):
    x, t = sample.x_test[:50], sample.t_test[:50]
    y = t.copy()
    y[[3, 17]] = (t[[3, 17]] + 1) % 10
    picture = misclassified_picture(x, t, y)
    assert picture.shape[:2] == (20 + 8 + 16 + 84 + 8, 2 * (84 + 8) + 8)  # one row of two tiles
    for k, i in enumerate((3, 17)):
        x0, y0 = 8 + k * 92, 20 + 8 + 16
        ink = picture[y0:y0 + 84:3, x0:x0 + 84:3, 1]  # one pixel per digit pixel, dark where the digit is
        np.testing.assert_allclose(ink, 255 * (1 - x[i].reshape(28, 28)), atol=0.6)
    assert misclassified_picture(x, t, t).shape[2] == 3  # none wrong: a blank tile, no error


def test_a_run_on_32x32_digits_logs_their_pictures_and_trains_to_its_end(tmp_path):
    """`train --data-dir` of 32x32 digits with --logdir: a traceback at the first epoch's end (the misclassified
    grid took every picture for 28x28), and the run lost. Other square sizes are drawn at their own size."""
    from click.testing import CliRunner
    from helpers import write_mnist_folder

    from digitnet.cli import main

    rng = np.random.default_rng(0)
    images = (255 * rng.random((600, 32, 32)) ** 3).astype(np.uint8)
    data = write_mnist_folder(tmp_path / "d32", images[:500], rng.integers(0, 10, 500), images[500:],
                              rng.integers(0, 10, 100))
    r = CliRunner().invoke(main, ["train", "--data-dir", str(data), "--iters", "10", "--batch-size", "50",
                                  "--logdir", str(tmp_path / "runs"), "--out", str(tmp_path / "m32.npz")])
    assert r.exit_code == 0 and (tmp_path / "m32.npz").is_file(), r.output
    grid = decode(read_events(tmp_path / "runs").Images("images/misclassified")[-1])
    assert grid.shape[1] == 8 * (96 + 8) + 8  # 32x32 tiles, 3 times enlarged, eight a row
    with pytest.raises(ValueError, match="rows of 1000 pixels are not square images"):
        misclassified_picture(np.zeros((3, 1000)), np.zeros(3, int), np.ones(3, int))


def test_a_log_that_cannot_be_written_is_said_once_and_training_goes_on(sample, tmp_path):
    """on_failure (how `digitnet train` uses it): said once, nothing more logged, the run trains to its end."""
    net, said = TwoLayerNet(784, 20, 10, rng=np.random.default_rng(5), dtype=np.float32), []
    logger = TensorBoardLogger(tmp_path / "runs", net, (sample.x_test, sample.t_test), on_failure=said.append)
    logger.error = OSError(28, "No space left on device")  # as the guarded writer keeps a failed write's error
    with logger:
        history = train(net, sample.x_train[:600], sample.t_train[:600], sample.x_test, sample.t_test, iters=12,
                        batch_size=100, rng=np.random.default_rng(0), callbacks=[logger])
    assert said == [f"cannot write TensorBoard logs to {tmp_path / 'runs'}: No space left on device"]
    assert history[-1]["iteration"] == 12
    plain = TensorBoardLogger(tmp_path / "plain", net, None)  # without on_failure: the next step raises
    plain.error = OSError(28, "No space left on device")
    with pytest.raises(DigitnetError, match="cannot write TensorBoard logs"):
        plain.on_step(TrainingState(step=1), 0.5)
    plain.error = None
    plain.close()


def test_interrupted_run_keeps_what_it_logged(sample, tmp_path):
    net = TwoLayerNet(784, 20, 10, rng=np.random.default_rng(5), dtype=np.float32)
    steps = []
    with pytest.raises(TrainingInterrupted) as stopped:
        with TensorBoardLogger(tmp_path, net, (sample.x_test, sample.t_test)) as logger:
            train(net, sample.x_train[:600], sample.t_train[:600], sample.x_test, sample.t_test, iters=30,
                  optimizer=SGD(0.1), rng=np.random.default_rng(5), callbacks=[logger], on_step=steps.append,
                  stop=lambda: len(steps) >= 9)
    done = stopped.value.state.step
    assert 9 <= done < 12  # stopped between two steps, well before the end
    events = read_events(tmp_path)
    assert [e.step for e in events.Scalars("loss/step")] == list(range(1, done + 1))
    assert [e.step for e in events.Scalars("accuracy/test")] == [6]


def test_a_resumed_run_hides_what_the_interrupted_one_logged_after_its_checkpoint(tmp_path):
    """purge_step: TensorBoard's reader drops the first run's steps >= it, so each step shows once, the new value."""
    net = TwoLayerNet(784, 5, 10)
    state = TrainingState()
    with TensorBoardLogger(tmp_path, net) as first:
        for state.step in range(1, 11):
            first.on_step(state, 1.0)
    with TensorBoardLogger(tmp_path, net, purge_step=7) as resumed:  # its checkpoint was at step 6
        for state.step in range(7, 13):
            resumed.on_step(state, 2.0)
    loss = read_events(tmp_path).Scalars("loss/step")
    assert [(e.step, e.value) for e in loss] == [(s, 1.0) for s in range(1, 7)] + [(s, 2.0) for s in range(7, 13)]


def test_a_missing_tensorboardx_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import tensorboardX now raises ImportError
    with pytest.raises(DigitnetError, match=r"pip install 'digitnet\[tensorboard\]'"):
        TensorBoardLogger(tmp_path, TwoLayerNet(784, 5, 10))
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------- digitnet train --logdir

def digitnet(*args, env, block_tensorboardx=None):
    pythonpath = [str(block_tensorboardx)] if block_tensorboardx else []
    env = {**env, "PYTHONPATH": os.pathsep.join([*pythonpath, str(REPO)])}
    return faultkit.start(*args, env=env)


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "PYTHONUNBUFFERED": "1", "DIGITNET_OFFLINE": "1", "DIGITNET_CACHE_DIR": str(tmp_path / "c")}


def test_train_logdir_survives_ctrl_c_and_resume(tmp_path, env):
    out, logdir = tmp_path / "m.npz", tmp_path / "runs" / "cosine"
    proc = digitnet("train", "--train-limit", 2000, "--calibration", 0, "--epochs", 5, "--schedule", "cosine",
                    "--seed", 8, "--out", out, "--logdir", logdir, env=env)
    for line in proc.stdout:  # 20 steps an epoch, 100 in all
        if line.startswith("epoch   1"):
            proc.send_signal(signal.SIGINT)  # training stops after the step in progress, saving a checkpoint
            break
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "checkpoint saved" in stderr and "Traceback" not in stderr, stderr
    resumed = digitnet("train", "--resume", "--out", out, env=env)  # the checkpoint's settings hold the logdir
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert f"writing TensorBoard logs to {logdir}" in stdout
    assert len(list(logdir.iterdir())) == 2  # one event file per process

    events = read_events(logdir)
    loss = events.Scalars("loss/step")
    assert [e.step for e in loss] == list(range(1, 101))  # every step once, across the interruption
    lr = [e.value for e in events.Scalars("learning_rate")]  # half a cosine from 0.1 to 0 over 100 steps
    np.testing.assert_allclose(lr, [0.05 * (1 + math.cos(math.pi * k / 99)) for k in range(100)], rtol=1e-5,
                               atol=1e-9)
    epochs = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    for tag, key in (("accuracy/test", "test_acc"), ("accuracy/train", "train_acc"), ("loss/train", "train_loss")):
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == [r["iteration"] for r in epochs] == list(range(20, 101, 20))
        np.testing.assert_allclose([e.value for e in scalars], [r[key] for r in epochs], rtol=1e-6, err_msg=tag)
    for tag in ("weights/W1", "weights/b2", "activations/01_Affine1", "activations/02_Relu1"):
        assert [e.step for e in events.Histograms(tag)] == list(range(20, 101, 20)), tag
    assert [e.step for e in events.Images("images/misclassified")] == list(range(20, 101, 20))


def test_train_logdir_without_tensorboardx_is_one_clear_line(tmp_path, env):
    blocker = tmp_path / "blocker" / "tensorboardX"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed, for this test')\n")
    proc = digitnet("train", "--iters", 5, "--out", tmp_path / "m.npz", "--logdir", tmp_path / "runs" / "x",
                    env=env, block_tensorboardx=blocker.parent)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "Error: --logdir needs tensorboardX: pip install 'digitnet[tensorboard]'"
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "runs").exists()


def test_training_without_logdir_never_imports_tensorboardx(env):
    code = ("import sys, digitnet, digitnet.cli, digitnet.run, digitnet.train; "
            "print(sorted(m for m in sys.modules if 'tensorboard' in m.lower()))")
    r = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(REPO)}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
