"""ch. 6, optimizer_compare_mnist.py: SGD, Momentum, AdaGrad and Adam training the same 5-layer net on MNIST.

784-100-100-100-100-10 ReLU nets with He initial weights, batch 128, 2,000 steps, the book's default
learning rates; every net sees the same batches. The book: all but SGD learn fast, AdaGrad a little fastest.
"""
import numpy as np

from ..nets import MultiLayerNet
from ..optimizers import SGD, AdaGrad, Adam, Momentum
from .plotting import MARKERS, final_loss, loss_curves
from .runner import train_losses

NAME = "optimizers-mnist"
BOOK = "ch06/optimizer_compare_mnist.py"
TITLE = "SGD, Momentum, AdaGrad and Adam on MNIST: loss curves"

OPTIMIZERS = {"SGD": SGD, "Momentum": Momentum, "AdaGrad": AdaGrad, "Adam": Adam}  # the book's default lr each
BATCH = 128


def run(ctx):
    ds = ctx.dataset()
    iters, n_train = ctx.pick((2000, None), (200, 3000))
    x, t = ds.x_train[:n_train], ds.t_train[:n_train]
    losses = {}
    for name, cls in OPTIMIZERS.items():
        net = MultiLayerNet(784, [100] * 4, 10, weight_init_std="he", rng=ctx.rng("weights"), dtype=np.float32)
        losses[name] = train_losses(net, x, t, optimizer=cls(), iters=iters, batch_size=BATCH, rng=ctx.rng("batches"))
    return {"settings": {"hidden": [100] * 4, "batch_size": BATCH, "iterations": iters, "train_digits": len(x),
                         "lr": {name: cls().lr for name, cls in OPTIMIZERS.items()}, "dtype": "float32"},
            "final_loss": {name: final_loss(v) for name, v in losses.items()},
            "losses": losses}


def plot(result, path):
    return loss_curves(result, result["losses"], path, "optimizers on MNIST (5-layer net, batch 128)", MARKERS)


def summary(result):
    final = result["final_loss"]
    order = sorted(final, key=final.get)
    return ["mean loss over the last 100 steps: " + ", ".join(f"{k} {final[k]:.3f}" for k in order),
            f"fastest {order[0]}, slowest {order[-1]} "
            "(the book: SGD slowest, AdaGrad a little ahead of Adam and Momentum)"]
