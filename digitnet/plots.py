"""Figures and figures-of-merit for a trained network: confusion matrix, per-class precision and recall,
misclassified digits, learning curves and the first layer's weights, written as PNG files.

The numbers (confusion_matrix, per_class_precision_recall, evaluation_report) need NumPy only.
The pictures use matplotlib's Agg renderer through Figure objects (no pyplot, no global backend
switch, safe in a server); matplotlib is imported only when a picture is drawn.
"""
from pathlib import Path

import numpy as np

from .functions import labels_of

__all__ = ["confusion_matrix", "per_class_precision_recall", "evaluation_report", "predict_labels",
           "plot_confusion_matrix", "plot_misclassified", "plot_learning_curves", "plot_first_layer_weights",
           "write_evaluation_pictures"]

DPI = 100


# ----------------------------------------------------------------------------------------- numbers

def confusion_matrix(y_true, y_pred, num_classes=None):
    """cm[i, j] = how many samples of true class i were predicted as class j (int64, rows: truth).

    y_true: labels or one-hot rows; y_pred: labels or per-class scores (argmax taken).
    num_classes: defaults to max(label) + 1, at least 10 (MNIST's digits).
    """
    t, y = labels_of(y_true).astype(np.int64).reshape(-1), labels_of(y_pred).astype(np.int64).reshape(-1)
    if t.shape != y.shape:
        raise ValueError(f"{t.size} true labels but {y.size} predictions")
    if t.size and min(t.min(), y.min()) < 0:
        raise ValueError("class labels must be non-negative")
    n = num_classes if num_classes is not None else max(10, int(max(t.max(initial=0), y.max(initial=0))) + 1)
    if t.size and max(t.max(), y.max()) >= n:
        raise ValueError(f"a label is >= num_classes ({n})")
    return np.bincount(t * n + y, minlength=n * n).reshape(n, n).astype(np.int64)


def per_class_precision_recall(cm):
    """(precision, recall, support) per class from a confusion matrix (rows: truth, columns: prediction).

    precision[c] = cm[c, c] / column c's sum (of the predictions of c, the right ones);
    recall[c] = cm[c, c] / row c's sum (of the true c's, the ones found); support[c] = row c's sum.
    A class never predicted has precision nan, a class never present recall nan (0 / 0).
    """
    cm = np.asarray(cm, dtype=np.float64)
    diag, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / predicted, np.nan)
        recall = np.where(actual > 0, diag / actual, np.nan)
    return precision, recall, actual.astype(np.int64)


def predict_labels(net, x, batch_size=1000):
    """The network's predicted class for each sample, computed in batches."""
    return np.concatenate([np.asarray(net.predict(x[i:i + batch_size])).argmax(axis=1)
                           for i in range(0, x.shape[0], batch_size)]) if x.shape[0] else np.zeros(0, np.int64)


def _none_for_nan(values):
    return [None if np.isnan(v) else float(v) for v in values]


def evaluation_report(net, x_test, t_test, batch_size=1000):
    """Accuracy, per-class precision / recall / support and the confusion matrix, as plain JSON-ready values.

    {"n", "accuracy", "errors", "confusion_matrix" (list of rows, rows: truth),
     "per_class": [{"class", "precision", "recall", "support"}, ...]}; an undefined (0 / 0)
    precision or recall is None.
    """
    t = labels_of(t_test).astype(np.int64)
    y = predict_labels(net, x_test, batch_size)
    cm = confusion_matrix(t, y)
    precision, recall, support = per_class_precision_recall(cm)
    correct = int(np.trace(cm))
    return {
        "n": int(t.size),
        "accuracy": correct / t.size if t.size else float("nan"),
        "errors": int(t.size - correct),
        "confusion_matrix": cm.tolist(),
        "per_class": [{"class": c, "precision": p, "recall": r, "support": int(s)}
                      for c, (p, r, s) in enumerate(zip(_none_for_nan(precision), _none_for_nan(recall), support))],
    }


# ---------------------------------------------------------------------------------------- pictures

def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


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


def _as_images(x):
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 784:
        return x.reshape(-1, 28, 28)
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    raise ValueError(f"images must be (N, 784), (N, 28, 28) or (N, 1, 28, 28), not {x.shape}")


def plot_misclassified(x, t, y, path, max_items=64):
    """A grid of the first max_items misclassified digits, each titled with its true and predicted class.

    x: images (N, 784), (N, 28, 28) or (N, 1, 28, 28); t: true labels or one-hot; y: predicted labels or scores.
    """
    images, t, y = _as_images(x), labels_of(t).reshape(-1), labels_of(y).reshape(-1)
    wrong = np.flatnonzero(t != y)
    shown = wrong[:max_items]
    cols = max(1, min(8, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    fig = _figure(max(3.2, 1.15 * cols + 0.3), 1.3 * rows + 0.7)
    if not len(shown):
        fig.text(0.5, 0.5, f"no misclassified digits among {len(t):,}", ha="center", va="center", fontsize=12)
        return _save(fig, path)
    for k, i in enumerate(shown):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=max(1.0, float(images[i].max())))
        ax.set_title(f"true {t[i]}, pred {y[i]}", fontsize=8, pad=3)
        ax.set_xticks([])
        ax.set_yticks([])
    more = f" (first {len(shown)})" if len(wrong) > len(shown) else ""
    fig.suptitle(f"{len(wrong):,} of {len(t):,} misclassified{more}", fontsize=11)
    fig.tight_layout(h_pad=0.6, w_pad=0.4)
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
    from matplotlib.ticker import MaxNLocator

    epochs = [r.get("epoch", k + 1) for k, r in enumerate(history)]
    fig = _figure(11, 4.2)
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


def plot_first_layer_weights(W1, path, max_units=100):
    """Each first-layer unit's weights as a picture: a column of W1 (784, H) as 28x28, or a convolution
    filter (FN, C, h, w) as h x w (first channel). Diverging colours: red positive, blue negative, white 0,
    each unit scaled to its own largest |weight|."""
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim == 2 and W1.shape[0] == 784:
        tiles = W1.T.reshape(-1, 28, 28)
    elif W1.ndim == 4:
        tiles = W1[:, 0]
    else:
        raise ValueError(f"first-layer weights must be (784, units) or (filters, channels, h, w), not {W1.shape}")
    total = len(tiles)
    tiles = tiles[:max_units]
    cols = min(10, len(tiles))
    rows = -(-len(tiles) // cols)
    fig = _figure(1.0 * cols + 0.4, 1.0 * rows + 0.8)
    for k, tile in enumerate(tiles):
        ax = fig.add_subplot(rows, cols, k + 1)
        lim = float(np.abs(tile).max()) or 1.0
        ax.imshow(tile, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
    shown = f" (first {len(tiles)} of {total})" if total > len(tiles) else f" ({total})"
    fig.suptitle(f"First-layer weights per unit{shown}: red positive, blue negative", fontsize=11)
    fig.tight_layout(h_pad=0.3, w_pad=0.3)
    return _save(fig, path)


def write_evaluation_pictures(net, x_test, t_test, history, out_dir):
    """Draw the evaluation pictures into out_dir and return their paths:
    confusion_matrix.png, misclassified.png, first_layer_weights.png (when the net's W1 is a picture),
    learning_curves.png (when a history is given: train's list or model.metrics.json's content)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = labels_of(t_test)
    y = predict_labels(net, x_test)
    paths = [plot_confusion_matrix(confusion_matrix(t, y), out_dir / "confusion_matrix.png"),
             plot_misclassified(x_test, t, y, out_dir / "misclassified.png")]
    W1 = net.params.get("W1") if hasattr(net, "params") else None
    if W1 is not None and (W1.ndim == 4 or (W1.ndim == 2 and W1.shape[0] == 784)):
        paths.append(plot_first_layer_weights(W1, out_dir / "first_layer_weights.png"))
    if history:
        epochs = history.get("epochs", []) if isinstance(history, dict) else history
        if epochs:
            paths.append(plot_learning_curves(epochs, out_dir / "learning_curves.png"))
    return paths
