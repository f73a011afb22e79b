"""ch. 7, visualize_filter.py and apply_filter.py: SimpleConvNet's 30 first-layer filters before and after
training, and two of them applied to a digit.

SimpleConvNet (30 5x5 filters, std 0.01) trained as ch07/train_convnet.py: 20 epochs, Adam lr 0.001,
batch 100. The book: the random filters are noise; the trained ones have structure (blobs, edges), and
applied to an image they respond to edges of one orientation.
"""
import numpy as np

from ..layers import Convolution
from ..nets import SimpleConvNet
from ..optimizers import Adam
from ..train import train
from .plotting import figure, mosaic_axes, quick_note, save

NAME = "filters"
BOOK = "ch07/visualize_filter.py, ch07/apply_filter.py"
TITLE = "SimpleConvNet's first-layer filters before and after training, two applied to a digit"

EPOCHS, BATCH, LR = 20, 100, 0.001


def smoothness(filters):
    """Mean correlation of each filter's neighbouring weights, across and down: ~0 for noise, high for structure."""
    f = filters[:, 0] - filters[:, 0].mean(axis=(1, 2), keepdims=True)
    pairs = [(f[:, :, :-1], f[:, :, 1:]), (f[:, :-1, :], f[:, 1:, :])]
    corr = [np.sum(a * b, axis=(1, 2)) / np.sqrt(np.sum(a * a, axis=(1, 2)) * np.sum(b * b, axis=(1, 2)))
            for a, b in pairs]
    return float(np.mean(corr))


def edge_score(filters, axis):
    """|correlation| of each filter with a ramp across (axis 1: left to right, a vertical-edge detector) or
    down (axis 0: a horizontal-edge detector) its 5x5 window."""
    f = filters[:, 0] - filters[:, 0].mean(axis=(1, 2), keepdims=True)
    ramp = np.arange(f.shape[1 + axis], dtype=np.float64) - (f.shape[1 + axis] - 1) / 2
    ramp = np.broadcast_to(ramp[None, :] if axis == 1 else ramp[:, None], f.shape[1:])
    return np.abs(np.sum(f * ramp, axis=(1, 2))) / (np.sqrt(np.sum(f * f, axis=(1, 2)) * np.sum(ramp * ramp)) + 1e-12)


def run(ctx):
    ds = ctx.dataset(flatten=False)
    epochs, iters, n_train, n_test = ctx.pick((EPOCHS, None, None, None), (None, 40, 2000, 500))
    net = SimpleConvNet(rng=ctx.rng("weights"), dtype=np.float32)
    before = net.params["W1"].copy()
    train(net, ds.x_train[:n_train], ds.t_train[:n_train], epochs=epochs, iters=iters, batch_size=BATCH,
          optimizer=Adam(lr=LR), rng=ctx.rng("batches"), train_eval_size=ctx.pick(1000, 100))
    after = net.params["W1"].copy()
    vertical, horizontal = edge_score(after, axis=1), edge_score(after, axis=0)
    chosen = {"vertical edges": int(np.argmax(vertical)), "horizontal edges": int(np.argmax(horizontal))}
    digit = ds.x_test[:1]
    responses = {name: Convolution(after[i:i + 1], np.zeros(1, np.float32)).forward(digit)[0, 0]
                 for name, i in chosen.items()}
    return {"settings": {"epochs": epochs, "iterations": iters, "train_digits": len(ds.x_train[:n_train]),
                         "batch_size": BATCH, "lr": LR, "dtype": "float32"},
            "test_accuracy": net.accuracy(ds.x_test[:n_test], ds.t_test[:n_test]),
            "test_digits": len(ds.x_test[:n_test]),
            "smoothness_before": smoothness(before), "smoothness_after": smoothness(after),
            "chosen_filters": chosen, "edge_scores": {name: float([vertical, horizontal][k][i])
                                                     for k, (name, i) in enumerate(chosen.items())},
            "_before": before, "_after": after, "_digit": digit[0, 0], "_responses": responses}


def plot(result, path):
    fig = figure(10, 6.2)
    grid = fig.add_gridspec(3, 5, height_ratios=[0.8, 0.8, 1.1])
    for row, key, title in ((0, "_before", "before training (random, std 0.01)"), (1, "_after", "after training")):
        ax = fig.add_subplot(grid[row, :])
        mosaic_axes(ax, result[key][:, 0], cols=15, cmap="gray_r")
        ax.set_title(f"{title}: neighbouring weights correlate {result['smoothness' + key]:.2f}", fontsize=10)
    ax = fig.add_subplot(grid[2, 0])
    ax.imshow(result["_digit"], cmap="gray_r")
    ax.set_title("a test digit", fontsize=9)
    ax.set_axis_off()
    for k, (name, i) in enumerate(result["chosen_filters"].items()):
        ax = fig.add_subplot(grid[2, 1 + 2 * k])
        ax.imshow(result["_after"][i, 0], cmap="gray_r", interpolation="nearest")
        ax.set_title(f"filter {i + 1} ({name})", fontsize=9)
        ax.set_axis_off()
        ax = fig.add_subplot(grid[2, 2 + 2 * k])
        ax.imshow(result["_responses"][name], cmap="gray_r")
        ax.set_title("its output", fontsize=9)
        ax.set_axis_off()
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    return [f"test accuracy after training {result['test_accuracy']:.4f} ({result['test_digits']:,} test digits)",
            f"neighbouring filter weights correlate {result['smoothness_before']:.2f} before training (noise) and "
            f"{result['smoothness_after']:.2f} after (structure)",
            "applied to a digit: " + ", ".join(f"filter {i + 1} picks out {name}" for name, i in
                                               result["chosen_filters"].items())]
