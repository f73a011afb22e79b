"""ch. 6, overfit_weight_decay.py and overfit_dropout.py: a 7-layer net on 300 digits, and two cures.

784-100x6-10 ReLU nets (He initial weights) trained on the first 300 training digits, SGD lr 0.01,
batch 100, 201 epochs: with no regularisation, with weight decay (lambda 0.1), and with dropout (ratio 0.2),
the last both as digitnet does it (inverted dropout) and as the book does it. Training and test accuracy
after every epoch. The book: unregularised, training accuracy reaches 100 % while test accuracy stops
far below; weight decay and dropout narrow the gap.

(The book's overfit_dropout.py runs 301 epochs; all runs here take the 201 of overfit_weight_decay.py,
so that the curves share an axis.)
"""
import numpy as np

from ..layers import Dropout
from ..nets import MultiLayerNet
from ..optimizers import SGD
from ..train import train
from .plotting import figure, quick_note, save

NAME = "overfitting"
BOOK = "ch06/overfit_weight_decay.py, ch06/overfit_dropout.py"
TITLE = "overfitting 300 digits: none, weight decay 0.1, dropout 0.2 (digitnet's and the book's)"

N_TRAIN, LR, BATCH, DECAY, RATIO = 300, 0.01, 100, 0.1, 0.2
RUNS = {"none": {}, "weight decay 0.1": {"weight_decay_lambda": DECAY},
        "dropout 0.2": {"use_dropout": True, "dropout_ratio": RATIO},
        "dropout 0.2, book's": {"use_dropout": True, "dropout_ratio": RATIO, "book_dropout": True}}


class BookDropout(Dropout):
    """The book's dropout: in training keep units unscaled, at inference multiply by (1 - ratio).

    digitnet's (inverted) dropout scales kept units by 1/(1 - ratio) in training instead; both give the
    next layer the same expected input, so the two nets differ only by a factor in the weights that follow
    a dropout layer, and hence in their effective SGD step size."""

    def forward(self, x, train_flg=True):
        keep = 1.0 - self.dropout_ratio
        out = super().forward(x, train_flg) * x.dtype.type(keep)
        if train_flg:
            self.mask = self.mask * x.dtype.type(keep)  # backward multiplies by the same 0/1 mask
        return out


def build(options, rng):
    options = dict(options)
    book = options.pop("book_dropout", False)
    net = MultiLayerNet(784, [100] * 6, 10, weight_init_std="he", rng=rng, dtype=np.float32, **options)
    if book:
        for name, layer in net.layers.items():
            if isinstance(layer, Dropout):
                net.layers[name] = BookDropout(layer.dropout_ratio, rng=layer.rng)
    return net


def run(ctx):
    ds = ctx.dataset()
    epochs, n_test = ctx.pick((201, None), (50, 500))
    x, t = ds.x_train[:N_TRAIN], ds.t_train[:N_TRAIN]
    x_test, t_test = ds.x_test[:n_test], ds.t_test[:n_test]
    runs = {}
    for name, options in RUNS.items():
        # Every run starts from the same weights, draws the same batches and (the two dropouts) the same masks.
        net = build(options, ctx.rng("weights"))
        history = train(net, x, t, x_test, t_test, epochs=epochs, batch_size=BATCH, optimizer=SGD(lr=LR),
                        rng=ctx.rng("batches"))
        runs[name] = {"train_acc": [h["train_acc"] for h in history], "test_acc": [h["test_acc"] for h in history]}
        runs[name]["gap"] = runs[name]["train_acc"][-1] - runs[name]["test_acc"][-1]
    both = [runs["dropout 0.2"], runs["dropout 0.2, book's"]]
    return {"settings": {"hidden": [100] * 6, "train_digits": len(x), "test_digits": len(x_test), "epochs": epochs,
                         "batch_size": BATCH, "lr": LR, "weight_decay": DECAY, "dropout_ratio": RATIO,
                         "dtype": "float32"},
            "runs": runs,
            "dropout_kinds_max_test_acc_difference": max(abs(a - b)
                                                         for a, b in zip(both[0]["test_acc"], both[1]["test_acc"])),
            "dropout_kinds_final_test_acc_difference": both[0]["test_acc"][-1] - both[1]["test_acc"][-1]}


def plot(result, path):
    runs = result["runs"]
    fig = figure(12, 3.6)
    axes = fig.subplots(1, len(runs), sharey=True)
    for ax, (name, r) in zip(axes, runs.items()):
        epochs = np.arange(1, len(r["train_acc"]) + 1)
        every = max(1, len(epochs) // 20)
        ax.plot(epochs, r["train_acc"], marker="o", markevery=every, markersize=4, label="train")
        ax.plot(epochs, r["test_acc"], marker="s", markevery=every, markersize=4, label="test")
        ax.set(title=f"{name}: gap {r['gap']:.2f}", xlabel="epochs", ylim=(0, 1.0))
        ax.legend(loc="lower right")
    axes[0].set_ylabel("accuracy")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    runs = result["runs"]
    lines = [f"{name:20} final train {r['train_acc'][-1]:.3f}, test {r['test_acc'][-1]:.3f}, gap {r['gap']:.3f}"
             for name, r in runs.items()]
    diff = result["dropout_kinds_final_test_acc_difference"]
    verdict = ("the figure keeps its shape" if abs(diff) < 0.03 else
               "the book's dropout learns more slowly: from the same initial weights its unscaled training pass "
               "shrinks the signal by 0.8 per layer, and its steps act like a smaller learning rate")
    return lines + [
        "digitnet's inverted dropout against the book's (the same predictions for the same trained weights): "
        f"final test accuracy {diff:+.3f} (largest difference over the run "
        f"{result['dropout_kinds_max_test_acc_difference']:.3f}); {verdict}"]
