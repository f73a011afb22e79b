"""ch. 8, half_float_network.py: the trained DeepConvNet's test accuracy with its weights and inputs in
float64, float32 and float16.

The book casts weights and inputs to float16 and computes on (NumPy promotes the products back to
float64): a network needs far fewer bits to store its weights than float64's. Here "float16" is the same:
every weight and input rounded to float16, the arithmetic done in float32 (NumPy has no fast float16
matrix product; float32 holds every float16 value exactly).
"""
import numpy as np

from ..metrics import predict_labels
from ..nets import DeepConvNet
from .deep_model import deep_convnet, test_subset
from .plotting import figure, quick_note, save

NAME = "half-float"
BOOK = "ch08/half_float_network.py"
TITLE = "the DeepConvNet's test accuracy in float64, float32 and float16"

# (weights and inputs stored as, computed in)
PRECISIONS = {"float64": (np.float64, np.float64), "float32": (np.float32, np.float32),
              "float16": (np.float16, np.float32)}


def cast(net, stored, compute):
    """A copy of net whose weights are rounded to `stored` and held as `compute`."""
    copy = DeepConvNet(net.input_dim, net.config["hidden_size"], net.config["output_size"],
                       net.config["dropout_ratio"], rng=np.random.default_rng(0), dtype=compute)
    for key, value in net.params.items():
        copy.params[key][...] = value.astype(stored).astype(compute)
    return copy


def run(ctx):
    net, source = deep_convnet(ctx)
    x, t = test_subset(ctx)
    reference = None
    results = {}
    for name, (stored, compute) in PRECISIONS.items():
        y = predict_labels(cast(net, stored, compute), x.astype(stored).astype(compute))
        reference = y if reference is None else reference
        results[name] = {"accuracy": float(np.mean(y == t)),
                         "same_prediction_as_float64": float(np.mean(y == reference)),
                         "bytes_per_weight": np.dtype(stored).itemsize}
    return {"settings": {"model": source, "test_digits": len(t),
                         "float16": "weights and inputs rounded to float16, arithmetic in float32"},
            "precisions": results,
            "float16_minus_float64": results["float16"]["accuracy"] - results["float64"]["accuracy"]}


def plot(result, path):
    fig = figure(6, 4)
    ax = fig.add_subplot()
    names = list(result["precisions"])
    accs = [result["precisions"][n]["accuracy"] for n in names]
    bars = ax.bar(names, accs, color=["tab:blue", "tab:green", "tab:orange"])
    for bar, n, a in zip(bars, names, accs):
        ax.text(bar.get_x() + bar.get_width() / 2, a,
                f"{a:.4f}\n({result['precisions'][n]['bytes_per_weight']} bytes/weight)",
                ha="center", va="bottom", fontsize=9)
    low = min(accs)
    ax.set(ylim=(max(0.0, low - 0.05), min(1.0, max(accs) + 0.03)), ylabel="test accuracy",
           title=f"DeepConvNet on {result['settings']['test_digits']:,} test digits")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    p = result["precisions"]
    return [f"model: {result['settings']['model']}",
            ", ".join(f"{n} {v['accuracy']:.4f}" for n, v in p.items()) +
            f"; float16 - float64 = {result['float16_minus_float64']:+.4f}; float16 predicts the same digit as "
            f"float64 for {p['float16']['same_prediction_as_float64']:.2%} of the test set"]
