"""ch. 6, batch_norm_test.py: training accuracy with and without batch normalisation, for 16 initial scales.

784-100x5-10 ReLU nets on 1,000 training digits, SGD lr 0.01, batch 100, 20 epochs, initial weights of
std 1 down to 1e-4 (logspace); each pair sees the same weights and batches. The book: batch norm learns
faster almost everywhere, and still learns where the plain net is stuck (too small or too large weights).
"""
import numpy as np

from ..nets import MultiLayerNet
from ..optimizers import SGD
from ..train import train
from .plotting import figure, quick_note, save

NAME = "batch-norm"
BOOK = "ch06/batch_norm_test.py"
TITLE = "with and without batch norm, 16 initial weight scales: training accuracy"

LR, BATCH, N_TRAIN = 0.01, 100, 1000


def train_accuracy(x, t, scale, batchnorm, epochs, ctx):
    net = MultiLayerNet(784, [100] * 5, 10, weight_init_std=scale, use_batchnorm=batchnorm,
                        rng=ctx.rng("weights", scale), dtype=np.float32)
    accs = []
    try:
        train(net, x, t, epochs=epochs, batch_size=BATCH, optimizer=SGD(lr=LR), rng=ctx.rng("batches", scale),
              on_epoch=lambda record: accs.append(record["train_acc"]))
    except FloatingPointError:
        # The loss overflowed (std 1 without batch norm). The book's loop goes on with nan weights, which
        # predict class 0 for every digit (argmax of nan): its curve sits at the share of zeros. So does this one.
        accs += [float(np.mean(t == 0))] * (epochs - len(accs))
    return accs


def run(ctx):
    ds = ctx.dataset()
    epochs, n_scales = ctx.pick((20, 16), (6, 4))
    scales = np.logspace(0, -4, num=16)[::16 // n_scales]
    x, t = ds.x_train[:N_TRAIN], ds.t_train[:N_TRAIN]
    runs = [{"scale": float(w), "batchnorm": train_accuracy(x, t, w, True, epochs, ctx),
             "plain": train_accuracy(x, t, w, False, epochs, ctx)} for w in scales]
    return {"settings": {"hidden": [100] * 5, "train_digits": len(x), "epochs": epochs, "batch_size": BATCH,
                         "lr": LR, "scales": [float(w) for w in scales], "dtype": "float32"},
            "runs": runs}


def plot(result, path):
    runs = result["runs"]
    cols = 4
    rows = -(-len(runs) // cols)
    fig = figure(10, 2.2 * rows + 0.5)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, (ax, r) in enumerate(zip(axes.flat, runs)):
        epochs = np.arange(1, len(r["plain"]) + 1)
        ax.plot(epochs, r["batchnorm"], label="Batch Normalization")
        ax.plot(epochs, r["plain"], "--", label="Normal (without BatchNorm)")
        ax.set_title(f"W: {r['scale']:.3g}", fontsize=9)
        ax.set_ylim(0, 1.0)
        if i % cols == 0:
            ax.set_ylabel("accuracy")
        if i >= len(runs) - cols:
            ax.set_xlabel("epochs")
    axes.flat[len(runs) - 1].legend(loc="lower right", fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.07, top=0.95, hspace=0.3, wspace=0.08)
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    runs = result["runs"]
    ahead = sum(np.mean(r["batchnorm"]) > np.mean(r["plain"]) for r in runs)
    small = [r for r in runs if r["scale"] <= 0.02]
    return [f"batch norm's mean training accuracy is higher at {ahead} of {len(runs)} scales",
            "at scales <= 0.02: final accuracy with batch norm " +
            ", ".join(f"{r['batchnorm'][-1]:.2f}" for r in small) + "; without " +
            ", ".join(f"{r['plain'][-1]:.2f}" for r in small)]
