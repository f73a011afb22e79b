"""ch. 6, weight_init_activation_histogram.py: the activations of 5 layers of 100 units, by initial weights.

1,000 random inputs (standard normal, 100 features) through five 100-unit layers with no training.
The book: sigmoid with std 1 piles the activations at 0 and 1 (gradients vanish); with std 0.01 at 0.5
(every unit says the same); Xavier keeps them spread. ReLU needs He to keep its spread layer after layer;
tanh, like sigmoid, wants Xavier.
"""
import numpy as np

from ..functions import relu, sigmoid
from ..initializers import init_scale
from .plotting import figure, quick_note, save

NAME = "activation-histograms"
BOOK = "ch06/weight_init_activation_histogram.py"
TITLE = "activation histograms of 5 layers: sigmoid, ReLU, tanh x std 1, std 0.01, Xavier, He"

ACTIVATIONS = {"sigmoid": (sigmoid, (0.0, 1.0)), "relu": (relu, (0.0, 1.0)), "tanh": (np.tanh, (-1.0, 1.0))}
INITS = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": "xavier", "He": "he"}
LAYERS, UNITS, BINS = 5, 100, 30


def activations(act, init, x, rng):
    outs = []
    for _ in range(LAYERS):
        w = init_scale(init, UNITS) * rng.standard_normal((UNITS, UNITS))
        x = act(x @ w)
        outs.append(x)
    return outs


def run(ctx):
    n = ctx.pick(1000, 1000)  # cheap enough to be the same under --quick
    x = ctx.rng("inputs").standard_normal((n, UNITS))
    runs = {}
    for act_name, (act, value_range) in ACTIVATIONS.items():
        for init_name, init in INITS.items():
            layers = []
            for a in activations(act, init, x, ctx.rng("weights", act_name, init_name)):
                # ReLU zeroes about half its inputs: a bar that tall would flatten the rest, so zeros are left out.
                counts, _ = np.histogram(a[a != 0] if act_name == "relu" else a, BINS, range=value_range)
                layers.append({"counts": counts, "mean": float(a.mean()), "std": float(a.std()),
                               "near_0": float(np.mean(np.abs(a) < 0.1)),
                               "near_1": float(np.mean(np.abs(a) > 0.9)),
                               "near_half": float(np.mean(np.abs(a - 0.5) < 0.1))})
            runs[f"{act_name} {init_name}"] = {"activation": act_name, "init": init_name, "range": value_range,
                                               "layers": layers}
    return {"settings": {"inputs": n, "layers": LAYERS, "units": UNITS, "bins": BINS,
                         "note": "no data; --quick changes nothing here"}, "runs": runs}


def plot(result, path):
    runs = result["runs"]
    fig = figure(11, 1.25 * len(runs) + 0.6)
    axes = fig.subplots(len(runs), LAYERS, squeeze=False)
    for row, (name, r) in zip(axes, runs.items()):
        lo, hi = r["range"]
        edges = np.linspace(lo, hi, BINS + 1)
        for i, (ax, layer) in enumerate(zip(row, r["layers"])):
            ax.stairs(layer["counts"], edges, fill=True)  # one artist, not 30 bars: 60 histograms draw fast
            ax.set_yticks([])
            ax.text(0.98, 0.95, f"std {layer['std']:.2g}", transform=ax.transAxes, ha="right", va="top", fontsize=6)
            ax.tick_params(labelsize=6)
            ax.set_title(f"{i + 1}-layer" if name == next(iter(runs)) else "", fontsize=8)
        label = name.replace("relu", "ReLU") + ("\n(zeros left out)" if r["activation"] == "relu" else "")
        row[0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.12, right=0.99, bottom=0.03, top=0.97, hspace=0.45, wspace=0.08)
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    runs = result["runs"]

    def last(name):
        return runs[name]["layers"][-1]

    return [f"sigmoid std=1: {last('sigmoid std=1')['near_0'] + last('sigmoid std=1')['near_1']:.0%} of layer-5 "
            f"activations within 0.1 of 0 or 1; std=0.01: {last('sigmoid std=0.01')['near_half']:.0%} within 0.1 of "
            f"0.5; Xavier: spread (std {last('sigmoid Xavier')['std']:.2f})",
            f"ReLU layer-5 std: std=0.01 {last('relu std=0.01')['std']:.1e}, Xavier {last('relu Xavier')['std']:.3f}, "
            f"He {last('relu He')['std']:.3f} "
            f"(He keeps the spread of layer 1: {runs['relu He']['layers'][0]['std']:.3f})"]
