"""Figures of merit for a trained network: the confusion matrix, per-class precision and recall, and the
evaluation report `digitnet evaluate` prints. NumPy only; plots.py draws them."""
import numpy as np

from .functions import labels_of
from .nets.base import infer

__all__ = ["confusion_matrix", "per_class_precision_recall", "evaluation_report", "predict_labels"]


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


def per_class_precision_recall(cm, y_pred=None):
    """(precision, recall, support) per class from a confusion matrix (rows: truth, columns: prediction),
    or from labels: per_class_precision_recall(y_true, y_pred).

    precision[c] = cm[c, c] / column c's sum (of the predictions of c, the right ones);
    recall[c] = cm[c, c] / row c's sum (of the true c's, the ones found); support[c] = row c's sum.
    A class never predicted has precision nan, a class never present recall nan (0 / 0).
    """
    if y_pred is not None:
        cm = confusion_matrix(cm, y_pred)
    cm = np.asarray(cm, dtype=np.float64)
    diag, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / predicted, np.nan)
        recall = np.where(actual > 0, diag / actual, np.nan)
    return precision, recall, actual.astype(np.int64)


def predict_labels(net, x, batch_size=250):
    """The network's predicted class for each sample, computed in batches."""
    return np.concatenate([np.asarray(infer(net, x[i:i + batch_size])).argmax(axis=1)
                           for i in range(0, x.shape[0], batch_size)]) if x.shape[0] else np.zeros(0, np.int64)


def _none_for_nan(values):
    return [None if np.isnan(v) else float(v) for v in values]


def evaluation_report(net, x_test, t_test, batch_size=250, y_pred=None):
    """Accuracy, per-class precision / recall / support and the confusion matrix, as plain JSON-ready values.

    {"n", "accuracy", "errors", "confusion_matrix" (list of rows, rows: truth),
     "per_class": [{"class", "precision", "recall", "support"}, ...]}; an undefined (0 / 0)
    precision or recall is None. y_pred: the predicted labels, when they are known already.
    """
    t = labels_of(t_test).astype(np.int64)
    y = predict_labels(net, x_test, batch_size) if y_pred is None else y_pred
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
