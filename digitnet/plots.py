"""Pictures of a trained network, written as PNG files: the confusion matrix, misclassified digits,
learning curves and the first layer's weights (the numbers behind them are in metrics.py).

The pictures use matplotlib's Agg renderer through Figure objects (no pyplot, no global backend
switch, safe in a server); matplotlib is imported only when a picture is drawn.
"""
import math
from pathlib import Path

import numpy as np

from .data.images import as_square_images
from .errors import DigitnetError
from .functions import labels_of
from .metrics import confusion_matrix, expected_calibration_error, predict_labels, predict_scores, reliability_bins

__all__ = ["plot_confusion_matrix", "plot_misclassified", "plot_learning_curves", "plot_first_layer_weights",
           "plot_reliability", "plot_score_histograms", "write_evaluation_pictures"]

DPI = 100


# ---------------------------------------------------------------------------------------- pictures

def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise DigitnetError("drawing pictures needs matplotlib, which is not installed "
                            "(pip install matplotlib)") from None

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)  # the Agg renderer, whatever backend pyplot may be using elsewhere
    return fig


def _save(fig, path):
    """Write the figure as a PNG, atomically (a disk that fills leaves the picture there before, not a broken
    one); an OSError names the picture."""
    from .model_io import atomic_write

    path = Path(path)
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None


def plot_confusion_matrix(cm, path, title="Confusion matrix"):
    """A heat map of the counts (colour: the share of each true class, so rows compare), numbers in every cell."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    size = max(6.0, 0.55 * n + 2.0)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of the true class")
    fontsize = 9 if n <= 10 else 7
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=fontsize,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(cm.sum())
    acc = f" (accuracy {100 * np.trace(cm) / total:.2f}% of {total:,})" if total else ""
    ax.set_title(title + acc)
    fig.tight_layout()
    return _save(fig, path)


def _mosaic(tiles, cols, gap, label_h=0):
    """Tiles laid out in a grid on one canvas (NaN between them), and each tile's top-left corner:
    one image for the whole grid draws far faster than a subplot per tile."""
    n, th, tw = tiles.shape
    rows = -(-n // cols)
    cell_h, cell_w = th + gap + label_h, tw + gap
    canvas = np.full((rows * cell_h + gap, cols * cell_w + gap), np.nan)
    corners = []
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        y0, x0 = r * cell_h + gap + label_h, c * cell_w + gap
        canvas[y0:y0 + th, x0:x0 + tw] = tile
        corners.append((y0, x0))
    return canvas, corners


def _colormap(name, bad):
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad=bad)


def plot_misclassified(x, t, y, path, max_items=64):
    """A grid of the first max_items misclassified digits, each titled with its true and predicted class.

    x: images (N, 784), (N, 28, 28) or (N, 1, 28, 28); t: true labels or one-hot; y: predicted labels or scores.
    """
    images, t, y = as_square_images(x), labels_of(t).reshape(-1), labels_of(y).reshape(-1)
    wrong = np.flatnonzero(t != y)
    shown = wrong[:max_items]
    if not len(shown):
        fig = _figure(4, 2)
        fig.text(0.5, 0.5, f"no misclassified digits among {len(t):,}", ha="center", va="center", fontsize=12)
        return _save(fig, path)
    cols = min(8, len(shown))
    tiles = np.stack([images[i] / max(1.0, float(images[i].max())) for i in shown])
    canvas, corners = _mosaic(tiles, cols, gap=4, label_h=10)
    inch = 1.2 / 32  # inches per tile pixel: a 28x28 digit about an inch wide
    width, height = max(3.2, canvas.shape[1] * inch), canvas.shape[0] * inch + 0.45
    fig = _figure(width, height)
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.45 / height - 0.01))
    ax.imshow(canvas, cmap=_colormap("gray_r", "#e6e6e6"), vmin=0, vmax=1, interpolation="nearest")
    for (y0, x0), i in zip(corners, shown):
        ax.text(x0 + images.shape[2] / 2, y0 - 1.5, f"true {t[i]}, pred {y[i]}", ha="center", va="bottom", fontsize=8)
    ax.set_axis_off()
    more = f" (first {len(shown)})" if len(wrong) > len(shown) else ""
    fig.suptitle(f"{len(wrong):,} of {len(t):,} misclassified{more}", fontsize=11, y=1 - 0.08 / height)
    return _save(fig, path)


def plot_learning_curves(history, path):
    """Loss and accuracy per epoch: train, plus test and validation where the history has them.

    history: the list of per-epoch dicts digitnet.train returns, or the content of a model.metrics.json
    ({"epochs": [...]}).
    """
    if isinstance(history, dict):
        history = history.get("epochs", [])
    history = list(history)
    if not history:
        raise ValueError("the history has no epochs to plot")
    epochs = [r.get("epoch", k + 1) for k, r in enumerate(history)]
    fig = _figure(11, 4.2)
    from matplotlib.ticker import MaxNLocator

    panels = (("loss", ("train_loss", "val_loss", "test_loss"), 1.0),
              ("accuracy (%)", ("train_acc", "val_acc", "test_acc"), 100.0))
    styles = {"train": dict(color="tab:blue", marker="o"), "val": dict(color="tab:green", marker="s"),
              "test": dict(color="tab:orange", marker="^")}
    for k, (label, keys, scale) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, k)
        for key in keys:
            pts = [(e, scale * r[key]) for e, r in zip(epochs, history) if r.get(key) is not None]
            if pts:
                split = key.split("_")[0]
                ax.plot(*zip(*pts), label={"val": "validation"}.get(split, split), markersize=3,
                        linewidth=1.5, **styles[split])
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.split(" ")[0].capitalize())
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    best = [e for e, r in zip(epochs, history) if r.get("best")]
    if best:
        for ax in fig.axes:
            ax.axvline(best[0], color="gray", linestyle="--", linewidth=1, label="weights kept (best validation)")
            ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def first_layer_tiles(W1):
    """The first layer's units as pictures (units, h, w): a dense W1 (pixels, units), its columns as square
    pictures (28x28 for MNIST, 20x20 or 32x32 for such data), or a conv net's filters (FN, C, h, w), first
    channel; None for any other W1."""
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim == 4:
        return W1[:, 0]
    side = math.isqrt(W1.shape[0]) if W1.ndim == 2 else 0
    return W1.T.reshape(-1, side, side) if side and side * side == W1.shape[0] else None


def plot_first_layer_weights(W1, path, max_units=100):
    """Each first-layer unit's weights as a picture: a column of W1 (784, H) as 28x28, or a convolution
    filter (FN, C, h, w) as h x w (first channel). Diverging colours: red positive, blue negative, white 0,
    each unit scaled to its own largest |weight|."""
    tiles = first_layer_tiles(W1)
    if tiles is None:
        raise ValueError(f"first-layer weights must be (pixels of a square picture, units) or (filters, channels, "
                         f"h, w), not {np.shape(W1)}")
    total = len(tiles)
    tiles = tiles[:max_units]
    scale = np.abs(tiles).reshape(len(tiles), -1).max(axis=1)
    tiles = tiles / np.where(scale > 0, scale, 1.0)[:, None, None]
    cols = min(10, len(tiles))
    side = tiles.shape[1]
    canvas, _ = _mosaic(tiles, cols, gap=max(1, side // 10))
    inch = 0.9 / side  # about 0.9 inch per unit
    width, height = max(4.0, canvas.shape[1] * inch), canvas.shape[0] * inch + 0.5
    fig = _figure(width, height)
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.5 / height - 0.01))
    ax.imshow(canvas, cmap=_colormap("RdBu_r", "white"), vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    shown = f" (first {len(tiles)} of {total})" if total > len(tiles) else f" ({total})"
    fig.suptitle(f"First-layer weights per unit{shown}\nred positive, blue negative, each unit to its own scale",
                 fontsize=10, y=1 - 0.05 / height)
    return _save(fig, path)


def plot_reliability(labels, curves, path, title="Reliability diagram"):
    """Accuracy against confidence in metrics.ECE_BINS bins, one line per set of probabilities.
    curves: [(name, (N, classes) probabilities)], e.g. before and after temperature scaling; the diagonal is
    perfect calibration, and each line's ECE is in the legend. Below: how many predictions each bin holds."""
    fig = _figure(6.4, 6.4)
    ax, counts = fig.add_axes([0.12, 0.33, 0.83, 0.6]), fig.add_axes([0.12, 0.08, 0.83, 0.17])
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    for k, (name, probs) in enumerate(curves):
        r = reliability_bins(probs, labels)
        used = r["count"] > 0
        ece = expected_calibration_error(probs, labels)
        ax.plot(r["confidence"][used], r["accuracy"][used], marker="o", markersize=4,
                label=f"{name}: ECE {100 * ece:.2f}%")
        centres = (r["edges"][:-1] + r["edges"][1:]) / 2
        width = 1 / len(centres) / (len(curves) + 1)
        counts.bar(centres + (k - (len(curves) - 1) / 2) * width, r["count"], width=width, label=name)
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=9)
    counts.set_xlim(0, 1)
    counts.set_yscale("log")
    counts.set_xlabel("confidence (largest probability), 15 bins")
    counts.set_ylabel("predictions")
    return _save(fig, path)


def plot_score_histograms(sets, threshold, path, xlabel="rejection score", title="Rejection scores"):
    """Histograms of a rejection score, one per set ([(name, scores)]), and the threshold as a line:
    what falls left of it is answered "not a digit"."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    every = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in sets])
    bins = np.linspace(every.min(), every.max(), 41)
    for name, values in sets:
        values = np.asarray(values, dtype=np.float64)
        ax.hist(values, bins=bins, weights=np.full(values.size, 1 / max(values.size, 1)), histtype="step",
                linewidth=1.5, label=f"{name} ({values.size:,})")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of the set")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def write_evaluation_pictures(net, x_test, t_test, history, out_dir, logits=None):
    """Draw the evaluation pictures into out_dir and return their paths:
    confusion_matrix.png, misclassified.png, reliability.png (the probabilities before and after the model's
    temperature; the plain softmax alone for a net not calibrated), first_layer_weights.png (when the net's W1 is
    a picture), learning_curves.png (when a history is given: train's list or model.metrics.json's content).
    logits: the net's scores for x_test when the caller has them (evaluate), else computed here."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from .calibration import confidence_of
    from .functions import softmax

    t = labels_of(t_test)
    logits = predict_scores(net, x_test) if logits is None else np.asarray(logits)
    y = logits.argmax(axis=1) if logits.shape[0] else predict_labels(net, x_test)
    paths = [plot_confusion_matrix(confusion_matrix(t, y), out_dir / "confusion_matrix.png"),
             plot_misclassified(x_test, t, y, out_dir / "misclassified.png")]
    if logits.shape[0]:
        calibrated = getattr(net, "confidence", None) is not None  # else one curve, said: not two the same
        curves = [("plain softmax" if calibrated else "plain softmax (the model is not calibrated)", softmax(logits))]
        if calibrated:
            curves.append(("calibrated", confidence_of(net).probabilities(logits)))
        paths.append(plot_reliability(t, curves, out_dir / "reliability.png"))
    W1 = net.params.get("W1") if hasattr(net, "params") else None
    if W1 is not None and first_layer_tiles(W1) is not None:
        paths.append(plot_first_layer_weights(W1, out_dir / "first_layer_weights.png"))
    if history:
        epochs = history.get("epochs", []) if isinstance(history, dict) else history
        if epochs:
            paths.append(plot_learning_curves(epochs, out_dir / "learning_curves.png"))
    return paths
