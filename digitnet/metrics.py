"""Figures of merit for a trained network: the confusion matrix, per-class precision and recall, the
evaluation report `digitnet evaluate` prints, calibration (reliability bins, expected calibration error)
and how well a score tells two sets apart (AUROC). NumPy only; plots.py draws them."""
import numpy as np

from .functions import labels_of
from .nets.base import infer

__all__ = ["confusion_matrix", "per_class_precision_recall", "evaluation_report", "predict_labels", "predict_scores",
           "reliability_bins", "expected_calibration_error", "auroc", "rate_below", "ECE_BINS"]

ECE_BINS = 15  # Guo et al. (2017)'s choice, and the issue's


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
    return predict_scores(net, x, batch_size).argmax(axis=1) if x.shape[0] else np.zeros(0, np.int64)


def predict_scores(net, x, batch_size=250):
    """The network's (N, classes) logits (float64), computed in batches so memory stays flat."""
    if not x.shape[0]:
        return np.zeros((0, 10))
    return np.concatenate([np.asarray(infer(net, x[i:i + batch_size]), dtype=np.float64)
                           for i in range(0, x.shape[0], batch_size)])


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


# The numbers of a metrics file's epoch record that a plot reads (any may be absent).
RECORD_NUMBERS = ("epoch", "iteration", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def read_history(path):
    """The epochs of a model's .metrics.json (run.save_outputs writes it), each record checked; ValueError,
    in one line, for a file that is damaged, truncated or not one digitnet wrote."""
    import json

    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{path} is unreadable ({type(e).__name__})") from None
    epochs = content.get("epochs") if isinstance(content, dict) else None
    if not isinstance(epochs, list) or not all(isinstance(r, dict) for r in epochs):
        raise ValueError(f"{path} holds no list of epoch records")
    for record in epochs:
        for key in RECORD_NUMBERS:
            value = record.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{path}: an epoch's {key} is {type(value).__name__}, not a number")
    return {**content, "epochs": epochs}


# ------------------------------------------------------------------------------------------ calibration

def reliability_bins(probabilities, labels, bins=ECE_BINS):
    """Per confidence bin: how many predictions fall in it, their mean confidence and their accuracy.

    The confidence of a prediction is its largest probability; bin b holds the confidences in
    (b / bins, (b + 1) / bins] (a confidence of exactly 0 goes in the first). Returns
    {"edges": (bins + 1,), "count": (bins,) int, "confidence": (bins,), "accuracy": (bins,)}; an empty
    bin's confidence and accuracy are nan."""
    p = np.asarray(probabilities, dtype=np.float64)
    t = labels_of(labels).astype(np.int64).reshape(-1)
    if p.ndim != 2 or p.shape[0] != t.shape[0]:
        raise ValueError(f"need (N, classes) probabilities and N labels, not {p.shape} and {t.shape}")
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == t).astype(np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return {"edges": np.linspace(0, 1, bins + 1), "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probabilities, labels, bins=ECE_BINS):
    """ECE: the bins' |accuracy - mean confidence|, weighted by the share of predictions in each
    (Naeini et al., 2015; Guo et al., 2017). 0 is perfectly calibrated; a fraction, not a percentage."""
    r = reliability_bins(probabilities, labels, bins)
    n = r["count"].sum()
    used = r["count"] > 0
    return float((r["count"][used] / n * np.abs(r["accuracy"][used] - r["confidence"][used])).sum()) if n else 0.0


# ---------------------------------------------------------------------------------------- separation

def auroc(positive, negative):
    """The area under the ROC curve of a score meant to be higher for `positive` than for `negative`:
    the chance that a random positive scores above a random negative, ties counting a half
    (the Mann-Whitney U statistic over the product of the counts). 1 separates perfectly, 0.5 is chance."""
    pos = np.asarray(positive, dtype=np.float64).reshape(-1)
    neg = np.asarray(negative, dtype=np.float64).reshape(-1)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("AUROC needs at least one score on each side")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    # average rank (1-based) within each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(run_rank, ends - starts)
    u = ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


def rate_below(scores, threshold):
    """The share of scores strictly below threshold (what a rejection threshold rejects)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    return float(np.mean(s < threshold)) if s.size else float("nan")
