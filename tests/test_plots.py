"""plots: confusion matrix and per-class figures checked by hand; every picture a real, readable PNG."""
import json
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
from PIL import Image

import digitnet
from digitnet.data import load_sample
from digitnet.metrics import confusion_matrix, evaluation_report, per_class_precision_recall
from digitnet.plots import (
    plot_confusion_matrix,
    plot_first_layer_weights,
    plot_learning_curves,
    plot_misclassified,
    write_evaluation_pictures,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A hand-worked example, 3 classes, 8 samples:
#   true 0: predicted 0, 0, 1        -> row 0: [2, 1, 0]
#   true 1: predicted 1, 2           -> row 1: [0, 1, 1]
#   true 2: predicted 2, 2, 0        -> row 2: [1, 0, 2]
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 2, 0]
CM = [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
# precision = diagonal / column sum = 2/3, 1/2, 2/3; recall = diagonal / row sum = 2/3, 1/2, 2/3


def assert_png(path, min_side=150, max_side=3000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        assert min_side <= w <= max_side and min_side <= h <= max_side, (path, im.size)
        grey = np.asarray(im.convert("L"), dtype=np.float32)
    assert grey.std() > 5, f"{path} looks blank"  # something is drawn


class FixedNet:
    """A stand-in network whose predictions are given: predict returns one-hot scores."""

    def __init__(self, predictions):
        self.predictions = np.asarray(predictions)
        self.params = {}

    def predict(self, x):
        idx = np.asarray(x)[:, 0].astype(int)  # each sample carries its own index
        return np.eye(10)[self.predictions[idx]]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    assert cm.tolist() == CM and cm.dtype == np.int64
    assert confusion_matrix(Y_TRUE, Y_PRED).shape == (10, 10)  # MNIST's ten classes by default
    assert confusion_matrix(np.eye(3)[Y_TRUE], np.eye(3)[Y_PRED] * 5.0, num_classes=3).tolist() == CM  # one-hot, scores
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0])


def test_precision_and_recall_by_hand():
    # true 0: 0 0 0 0 (4)   true 1: 1 0 (2)   true 2: 2 (1)   class 3: never present, predicted once
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 3, 1, 0, 2, 1]
    cm = confusion_matrix(y_true, y_pred, num_classes=4)
    assert cm.tolist() == [[3, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    precision, recall, support = per_class_precision_recall(cm)
    # precision: of those predicted c, how many were c: 0 -> 3/4, 1 -> 1/2, 2 -> 1/1, 3 -> 0/1
    assert precision == pytest.approx([3 / 4, 1 / 2, 1.0, 0.0])
    # recall: of the true c, how many were found: 0 -> 3/4, 1 -> 1/2, 2 -> 1/2, 3 -> undefined (none present)
    assert recall[:3] == pytest.approx([3 / 4, 1 / 2, 1 / 2]) and np.isnan(recall[3])
    assert support.tolist() == [4, 2, 2, 0]
    from_labels = per_class_precision_recall(y_true, y_pred)  # the same from the labels, over ten classes
    assert np.allclose(from_labels[0][:4], precision, equal_nan=True) and from_labels[2][:4].tolist() == [4, 2, 2, 0]
    precision, _, _ = per_class_precision_recall([[1, 0], [1, 0]])  # class 1 never predicted
    assert np.isnan(precision[1])


def test_evaluation_report_by_hand():
    x = np.arange(8, dtype=np.float64)[:, None] * np.ones((1, 784))
    report = evaluation_report(FixedNet(Y_PRED), x, np.array(Y_TRUE), batch_size=3)
    assert report["n"] == 8 and report["errors"] == 3 and report["accuracy"] == pytest.approx(5 / 8)
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm[:3, :3].tolist() == CM and cm.sum() == 8
    per = report["per_class"]
    assert [p["support"] for p in per[:3]] == [3, 2, 3]
    assert per[0]["precision"] == pytest.approx(2 / 3) and per[0]["recall"] == pytest.approx(2 / 3)
    assert per[1]["precision"] == pytest.approx(1 / 2) and per[1]["recall"] == pytest.approx(1 / 2)
    assert per[2]["precision"] == pytest.approx(2 / 3) and per[2]["recall"] == pytest.approx(2 / 3)
    assert per[5] == {"class": 5, "precision": None, "recall": None, "support": 0}
    json.dumps(report)  # ready for a JSON file as it is


@pytest.fixture(scope="module")
def trained():
    sample = load_sample()
    rng = np.random.default_rng(0)
    net = digitnet.TwoLayerNet(784, 30, 10, rng=rng, dtype=np.float32)
    history = digitnet.train(net, sample.x_train[:4000], sample.t_train[:4000],
                             sample.x_test[:500], sample.t_test[:500],
                             iters=200, train_eval_size=500, rng=rng)  # 5 short epochs
    return net, history, sample


def test_plot_confusion_matrix(tmp_path):
    cm = confusion_matrix(np.repeat(np.arange(10), 30), (np.repeat(np.arange(10), 30) + (np.arange(300) % 7 == 0)) % 10)
    assert_png(plot_confusion_matrix(cm, tmp_path / "deep" / "cm.png"))


def test_plot_misclassified(tmp_path, trained):
    net, _, sample = trained
    y = net.predict(sample.x_test[:300]).argmax(axis=1)
    assert (y != sample.t_test[:300]).sum() > 0
    assert_png(plot_misclassified(sample.x_test[:300], sample.t_test[:300], y, tmp_path / "wrong.png", max_items=20))
    # images as (N, 1, 28, 28), scores instead of labels, nothing wrong at all
    x4 = sample.x_test[:5].reshape(5, 1, 28, 28)
    assert_png(plot_misclassified(x4, sample.t_test[:5], np.eye(10)[sample.t_test[:5]], tmp_path / "none.png"),
               min_side=100)


def test_plot_learning_curves(tmp_path, trained):
    _, history, _ = trained
    assert {"train_loss", "train_acc", "test_acc", "test_loss"} <= set(history[0])
    assert_png(plot_learning_curves(history, tmp_path / "curves.png"))
    with_val = [dict(r, val_acc=r["test_acc"] - 0.01, best=r["epoch"] == 2) for r in history]
    metrics = json.loads(json.dumps({"dataset": "x", "epochs": with_val}))  # as model.metrics.json holds it
    assert_png(plot_learning_curves(metrics, tmp_path / "curves_val.png"))
    with pytest.raises(ValueError):
        plot_learning_curves([], tmp_path / "empty.png")


def test_plot_first_layer_weights(tmp_path, trained):
    net, _, _ = trained
    assert_png(plot_first_layer_weights(net.params["W1"], tmp_path / "w1.png"))
    filters = np.random.default_rng(0).normal(size=(30, 1, 5, 5))  # a convolution's first layer
    assert_png(plot_first_layer_weights(filters, tmp_path / "filters.png"))
    with pytest.raises(ValueError):
        plot_first_layer_weights(np.zeros((99, 5)), tmp_path / "bad.png")  # 99 pixels: no square picture


def test_write_evaluation_pictures(tmp_path, trained):
    net, history, sample = trained
    paths = write_evaluation_pictures(net, sample.x_test[:500], sample.t_test[:500], history, tmp_path / "eval")
    assert sorted(p.name for p in paths) == ["confusion_matrix.png", "first_layer_weights.png",
                                             "learning_curves.png", "misclassified.png", "reliability.png"]
    for p in paths:
        assert_png(p)
    without = write_evaluation_pictures(net, sample.x_test[:100], sample.t_test[:100], None, tmp_path / "eval2")
    assert "learning_curves.png" not in [p.name for p in without] and len(without) == 4


def test_without_matplotlib_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(digitnet.DigitnetError, match="needs matplotlib"):
        plot_confusion_matrix(np.eye(10, dtype=int), tmp_path / "cm.png")


def test_a_picture_whose_write_fails_is_named_and_leaves_the_earlier_one_and_the_run_finished(tmp_path, monkeypatch):
    """The disk fills while `evaluate --plots` or `train --plot` writes a PNG: before, the earlier picture was cut
    to 8 bytes and the error named no file; and the finished run's checkpoint stayed (removed only after --plot), so
    the next run with that --out was refused as 'an interrupted run'."""
    from click.testing import CliRunner

    from digitnet.cli import main

    model, plots = tmp_path / "m.npz", tmp_path / "plots"
    assert CliRunner().invoke(main, ["train", "--offline", "--iters", "20", "--out", str(model)]).exit_code == 0
    assert CliRunner().invoke(main, ["evaluate", str(model), "--offline", "--plots", str(plots)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in plots.iterdir()}

    def disk_full(picture, fp, filename):  # Pillow's PNG writer, as matplotlib uses it: 8 bytes, then no room
        fp.write(b"\x89PNG\r\n\x1a\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(Image.SAVE, "PNG", disk_full)
    r = CliRunner().invoke(main, ["evaluate", str(model), "--offline", "--plots", str(plots)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip().splitlines()[-1].startswith(f"Error: {plots}") and "No space left" in r.stderr
    assert {p.name: p.read_bytes() for p in plots.iterdir()} == before
    run = tmp_path / "t" / "m.npz"
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "40", "--checkpoint-every", "20", "--plot",
                                  "--out", str(run)])
    assert r.exit_code == 1 and run.exists() and not run.with_suffix(".ckpt.npz").exists(), r.output
    monkeypatch.undo()
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "40", "--plot", "--out", str(run)])
    assert r.exit_code == 0, r.output  # before: refused, "holds an interrupted run"


def small_digits_folder(folder, side):
    """The sample's first 1,200 digits shrunk to side x side, as an MNIST-format folder."""
    from helpers import write_mnist_folder

    sample = load_sample()
    images = np.stack([np.asarray(Image.fromarray((255 * d.reshape(28, 28)).astype(np.uint8)).resize((side, side)))
                       for d in sample.x_train[:1200]])
    return write_mnist_folder(folder, images[:1000], sample.t_train[:1000], images[1000:], sample.t_train[1000:1200])


def test_evaluate_plots_digits_of_another_square_size(tmp_path):
    """evaluate --plots of a model of 20x20 digits: a traceback after the table, one picture of five written (the
    misclassified grid took every picture for 28x28; the first layer was left out without a word; a review)."""
    from click.testing import CliRunner

    from digitnet.cli import main

    data, model = small_digits_folder(tmp_path / "d20", 20), tmp_path / "m20.npz"
    r = CliRunner().invoke(main, ["train", "--data-dir", str(data), "--iters", "40", "--out", str(model)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["evaluate", str(model), "--data-dir", str(data), "--plots", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "confusion_matrix.png", "first_layer_weights.png", "learning_curves.png", "misclassified.png",
        "reliability.png"]
    for p in (tmp_path / "p").iterdir():
        assert_png(p)


def test_evaluate_a_float16_model_and_one_not_calibrated(tmp_path, monkeypatch):
    """A float16 model gave a traceback before anything was printed (the data was asked for in float16); an
    uncalibrated model's reliability diagram drew the plain softmax twice, once called "calibrated" (a review)."""
    from click.testing import CliRunner

    import digitnet.plots as plots
    from digitnet.cli import main

    two = digitnet.pretrained("two-layer")
    half = digitnet.TwoLayerNet(784, 50, 10, dtype=np.float16)
    for k in half.params:
        half.params[k][...] = two.params[k]
    digitnet.save_model(tmp_path / "f16.npz", half)  # a net of new weights: saved without a calibration
    curves, draw = [], plots.plot_reliability

    def plot_reliability(labels, given, path, **kw):  # which curves are drawn
        curves.append([name for name, _ in given])
        return draw(labels, given, path, **kw)
    monkeypatch.setattr(plots, "plot_reliability", plot_reliability)
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "f16.npz"), "--offline", "--plots", str(tmp_path / "p")])
    assert r.exit_code == 0 and "test accuracy 9" in r.output and "not calibrated" in r.output, r.output
    assert curves == [["plain softmax (the model is not calibrated)"]]
    assert_png(tmp_path / "p" / "reliability.png")


def test_evaluate_draws_only_this_model_s_learning_curves(tmp_path, monkeypatch):
    """`evaluate two-layer --plots` drew ./two-layer.metrics.json, a local run's curves, for the bundled model; a
    model written over by import-book-weights got its predecessor's curves (a review)."""
    from click.testing import CliRunner

    from digitnet.cli import main

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "20", "--out", "two-layer.npz"])
    assert r.exit_code == 0 and (tmp_path / "two-layer.metrics.json").is_file(), r.output
    r = CliRunner().invoke(main, ["evaluate", "two-layer", "--offline", "--plots", "p"])
    assert r.exit_code == 0 and "two-layer is a bundled model" in r.output, r.output
    assert not (tmp_path / "p" / "learning_curves.png").exists()
    digitnet.save_model("two-layer.npz", digitnet.TwoLayerNet(784, 50, 10))  # other weights, the same name
    r = CliRunner().invoke(main, ["evaluate", "two-layer.npz", "--offline", "--plots", "q"])
    assert r.exit_code == 0 and "is another model's training history" in r.output, r.output
    assert not (tmp_path / "q" / "learning_curves.png").exists()
