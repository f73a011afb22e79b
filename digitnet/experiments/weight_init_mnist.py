"""ch. 6, weight_init_compare.py: initial weights of std 0.01, Xavier and He, on MNIST.

The same 5-layer ReLU net (784-100x4-10), SGD lr 0.01, batch 128, 2,000 steps; only the initial weights
differ. The book: with std 0.01 the signal dies out layer by layer and nothing is learned; He learns
fastest, Xavier a little behind.
"""
import numpy as np

from ..nets import MultiLayerNet
from ..optimizers import SGD
from .plotting import final_loss, loss_curves
from .runner import train_losses

NAME = "weight-init-mnist"
BOOK = "ch06/weight_init_compare.py"
TITLE = "initial weights std 0.01, Xavier and He on MNIST: loss curves"

INITS = {"std=0.01": 0.01, "Xavier": "xavier", "He": "he"}
BATCH, LR = 128, 0.01


def run(ctx):
    ds = ctx.dataset()
    iters, n_train = ctx.pick((2000, None), (200, 3000))
    x, t = ds.x_train[:n_train], ds.t_train[:n_train]
    losses = {}
    for name, init in INITS.items():
        net = MultiLayerNet(784, [100] * 4, 10, weight_init_std=init, rng=ctx.rng("weights", name), dtype=np.float32)
        losses[name] = train_losses(net, x, t, optimizer=SGD(lr=LR), iters=iters, batch_size=BATCH,
                                    rng=ctx.rng("batches"))
    return {"settings": {"hidden": [100] * 4, "activation": "relu", "batch_size": BATCH, "iterations": iters,
                         "lr": LR, "train_digits": len(x), "dtype": "float32"},
            "final_loss": {name: final_loss(v) for name, v in losses.items()},
            "losses": losses}


def plot(result, path):
    return loss_curves(result, result["losses"], path, "initial weights on MNIST (5-layer ReLU net)",
                       {"std=0.01": "o", "Xavier": "s", "He": "D"}, ylim=(0, 2.5))  # the book's y range


def summary(result):
    final = result["final_loss"]
    return ["mean loss over the last 100 steps: " + ", ".join(f"{k} {v:.3f}" for k, v in final.items()),
            f"std=0.01 stays near ln 10 = {np.log(10):.2f} (the activations vanish, nothing is learned); "
            "Xavier and He learn, He fastest in the book"]
