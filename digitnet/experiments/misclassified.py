"""ch. 8, misclassified_mnist.py: the digits the trained DeepConvNet gets wrong, with their labels.

The book: about 0.7 % of the test set is misclassified, and many of those digits are hard for a person too.
"""
import numpy as np

from ..metrics import predict_labels
from ..plots import plot_misclassified
from .deep_model import deep_convnet, test_subset

NAME = "misclassified"
BOOK = "ch08/misclassified_mnist.py"
TITLE = "the DeepConvNet's mistakes on the test set"
SHOWN = 20  # the book's max_view


def run(ctx):
    net, source = deep_convnet(ctx)
    x, t = test_subset(ctx)
    y = predict_labels(net, x)
    wrong = np.flatnonzero(y != t)
    pairs, counts = np.unique(np.stack([t[wrong], y[wrong]], axis=1), axis=0, return_counts=True)
    common = sorted(zip(counts.tolist(), pairs.tolist()), key=lambda c: (-c[0], c[1]))[:5]
    return {"settings": {"model": source, "test_digits": len(t), "shown": SHOWN},
            "test_accuracy": float(np.mean(y == t)), "misclassified": len(wrong),
            "first": [{"index": int(i), "label": int(t[i]), "predicted": int(y[i])} for i in wrong[:SHOWN]],
            "most_common": [{"label": p[0], "predicted": p[1], "count": c} for c, p in common],
            "_images": x, "_labels": t, "_predicted": y}


def plot(result, path):
    return plot_misclassified(result["_images"], result["_labels"], result["_predicted"], path, max_items=SHOWN)


def summary(result):
    return [f"model: {result['settings']['model']}",
            f"test accuracy {result['test_accuracy']:.4f}: {result['misclassified']} of "
            f"{result['settings']['test_digits']:,} misclassified; the first {len(result['first'])} are drawn",
            "most common mistakes (label -> predicted): " +
            ", ".join(f"{m['label']}->{m['predicted']} x{m['count']}" for m in result["most_common"])]
