# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Training techniques
#
# Chapter 6 of *Deep Learning from Scratch*: how to make a network learn faster and generalise better.
# Optimizers other than plain gradient descent, the scale of the initial weights, batch normalisation, and
# the fight against overfitting (weight decay, dropout). Each section runs one of the book's experiments
# on digitnet's own nets and optimizers (`digitnet.experiments`, the same code as
# `digitnet experiment NAME`), shows its figure and says what it found; a few cells use the library
# directly so you can change a number and run again.
#
# **Data.** `DIGITNET_DATA_DIR` (a folder with the four MNIST files) if set, else full MNIST from
# digitnet's cache, else the bundled sample (8,000 training / 2,000 test digits). The experiments print
# which.
#
# **Quick mode.** `DIGITNET_QUICK=1` (CI sets it) runs every experiment with its reduced `--quick` settings
# (fewer steps, digits and epochs: seconds instead of minutes); each figure's footnote then says
# "REDUCED". Without it, the book's settings: a few minutes in all on a laptop.

# %%
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from digitnet.experiments import Context, run_experiment

QUICK = os.environ.get("DIGITNET_QUICK", "") == "1"
DATA_DIR = os.environ.get("DIGITNET_DATA_DIR") or None
OUT = tempfile.mkdtemp(prefix="digitnet-experiments-")  # each experiment's NAME.png and NAME.json
ctx = Context(out=OUT, seed=0, quick=QUICK, data_dir=DATA_DIR)
print("quick mode: the experiments' reduced settings" if QUICK else "full mode: the book's settings")


def experiment(name):
    """Run one of the book's experiments, show its figure and summary, and return its numbers."""
    result, files, summary, wall = run_experiment(name, ctx)
    display(Image(filename=str(files[0])))
    print("\n".join(summary))
    print(f"({wall:.1f} s; numbers in {files[1]})")
    return result


# %% [markdown]
# ## 1. Optimizers
#
# Plain gradient descent (SGD) steps against the gradient: `W -= lr * dW`. On a bowl much steeper in one
# direction than the other, the gradient points mostly across the valley, so SGD zigzags. The book's
# other optimizers each fix part of that:
#
# - **Momentum** keeps a velocity, `v = 0.9 v - lr dW; W += v`, so steps that agree add up and steps that
#   alternate cancel;
# - **AdaGrad** divides each weight's step by the root of its summed squared gradients, so steep directions
#   slow down;
# - **Adam** combines the two (a running mean of the gradient, scaled by a running mean of its square).
#
# Every digitnet optimizer has the book's interface, `update(params, grads)`, on dicts of arrays. Here they
# are on f(x, y) = x²/20 + y², 29 steps from (-7, 2) (the book's 30 points), with the book's learning rates:

# %%
from digitnet.experiments.gradient_descent_paths import OPTIMIZERS, f, path

xs, ys = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-5, 5, 200))
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
for ax, (name, (cls, lr)) in zip(axes, OPTIMIZERS.items()):
    px, py = path(cls(lr=lr))
    ax.contour(xs, ys, f(xs, ys), levels=np.geomspace(0.05, 30, 12), colors="0.75", linewidths=0.7)
    ax.plot(px, py, "o-", color="tab:red", ms=3)
    ax.plot(0, 0, "+", color="k", ms=12)
    ax.set(title=f"{name} (lr {lr})", xlim=(-10, 10), ylim=(-5, 5), xlabel="x")
    print(f"{name:9} after 29 steps: f = {f(px[-1], py[-1]):.2e}")
axes[0].set_ylabel("y")
plt.show()

# %% [markdown]
# The same four on MNIST: a 5-layer network (784-100-100-100-100-10, ReLU, He initial weights), the same
# batches for each, the loss of every step (smoothed). The book: every one beats SGD, AdaGrad a little
# ahead.

# %%
optimizers_result = experiment("optimizers-mnist")

# %% [markdown]
# The numbers behind the figure come back as a dict, so you can draw them your own way, e.g. the loss
# curves on a log scale:

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, losses in optimizers_result["losses"].items():
    ax.plot(np.convolve(losses, np.ones(20) / 20, mode="valid"), label=name)
ax.set(yscale="log", xlabel="step", ylabel="loss (20-step mean)", title="optimizers on MNIST, log scale")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. The initial weights
#
# All weights equal would make every unit of a layer compute the same thing forever, so they start random;
# the question is how large. The book's experiment sends 1,000 random inputs through 5 layers of 100 units
# and draws each layer's activations. With sigmoids, a standard deviation of 1 pushes them to 0 and 1
# (where the gradient vanishes), 0.01 squeezes them all to 0.5 (every unit alike); **Xavier**'s
# 1/sqrt(n) keeps them spread. For ReLU the right scale is **He**'s sqrt(2/n).

# %%
activations = experiment("activation-histograms")

# %% [markdown]
# On MNIST, with a 5-layer ReLU net: std 0.01 learns nothing (the loss stays at ln 10 = 2.30, a uniform
# guess among 10 digits), Xavier learns, He learns fastest.

# %%
init_result = experiment("weight-init-mnist")

# %% [markdown]
# ## 3. Batch normalisation
#
# A `BatchNormalization` layer rescales each unit's output over the mini-batch to mean 0 and variance 1
# and then lets the network learn its own scale (gamma) and shift (beta). In training it uses the batch's
# own statistics; at inference, running averages of them.

# %%
from digitnet import BatchNormalization

rng = np.random.default_rng(0)
x = rng.normal(loc=5.0, scale=3.0, size=(100, 4))  # a batch of 100, 4 units, far from mean 0 / std 1
bn = BatchNormalization(gamma=np.ones(4), beta=np.zeros(4))
y = bn.forward(x, train_flg=True)
print("before: mean", x.mean(axis=0), " std", x.std(axis=0))
print("after:  mean", y.mean(axis=0), " std", y.std(axis=0))

# %% [markdown]
# The book's experiment trains the same deep net with and without batch norm from initial weights of many
# scales: with batch norm it learns at almost any scale, without it only near the right one.

# %%
batch_norm_result = experiment("batch-norm")

# %% [markdown]
# ## 4. Overfitting and regularisation
#
# Give a large network few examples and it learns them by heart: training accuracy near 100 %, test
# accuracy far below. The book's experiment trains a 7-layer net on 300 digits. **Weight decay** adds
# λ/2·‖W‖² to the loss (so λ·W to each gradient), keeping weights small; **dropout** switches off a random
# share of units at each training step, so no unit can rely on another. digitnet's dropout is the
# "inverted" kind (it scales the kept units up in training, so inference needs no change); the
# experiment runs the book's kind too, to show the difference.

# %%
from digitnet import Dropout

drop = Dropout(dropout_ratio=0.5, rng=np.random.default_rng(0))
ones = np.ones((1, 10))
print("training: ", drop.forward(ones, train_flg=True))
print("inference:", drop.forward(ones, train_flg=False))

# %%
overfitting_result = experiment("overfitting")

# %% [markdown]
# ## 5. Your own run
#
# The experiments are made of the library's pieces; here is one you can change: a 784-100-100-10 network
# on 1,000 training digits, trained by `digitnet.train` with and without weight decay and dropout, the
# training and test accuracy of every epoch drawn together.

# %%
from digitnet import SGD, MultiLayerNet, train
from digitnet.data import resolve_dataset

dataset, notice = resolve_dataset(DATA_DIR)
if notice:
    print(notice)
x_train, t_train = dataset.x_train[:1000], dataset.t_train[:1000]
x_test, t_test = dataset.x_test[:2000], dataset.t_test[:2000]
epochs = 20 if QUICK else 100

settings = {"plain": {}, "weight decay 0.1": {"weight_decay_lambda": 0.1},
            "dropout 0.3": {"use_dropout": True, "dropout_ratio": 0.3}}
fig, axes = plt.subplots(1, len(settings), figsize=(14, 3.5), sharey=True)
for ax, (label, options) in zip(axes, settings.items()):
    net = MultiLayerNet(784, [100, 100], 10, weight_init_std="he", rng=np.random.default_rng(0),
                        dtype=np.float32, **options)
    start = time.perf_counter()
    history = train(net, x_train, t_train, x_test, t_test, epochs=epochs, batch_size=100,
                    optimizer=SGD(lr=0.1), rng=np.random.default_rng(1))
    train_acc = [h["train_acc"] for h in history]
    test_acc = [h["test_acc"] for h in history]
    ax.plot(train_acc, label="train")
    ax.plot(test_acc, label="test", ls="--")
    ax.set(title=label, xlabel="epoch", ylim=(0, 1.02))
    print(f"{label:17} train {train_acc[-1]:.3f}  test {test_acc[-1]:.3f}  gap {train_acc[-1] - test_acc[-1]:.3f}"
          f"  ({time.perf_counter() - start:.1f} s)")
axes[0].set_ylabel("accuracy")
axes[0].legend()
plt.show()

# %% [markdown]
# ## Things to try
#
# - Give the optimizers other learning rates: `from digitnet import SGD, Adam`, then `path(SGD(lr=0.1))`,
#   `path(Adam(lr=1.0))`. Which one is most forgiving?
# - In "your own run", change `weight_decay_lambda` to 0.01 or 1.0, or the dropout ratio to 0.5, or the
#   number of training digits to 10,000. When does regularisation stop paying?
# - Add `use_batchnorm=True` to the `MultiLayerNet` options and compare.
# - The learning rate schedules: `from digitnet.optimizers import CosineLR, StepLR`, then
#   `train(..., schedule=CosineLR(0.1, total_steps))`.
# - The remaining experiments from the command line: `digitnet experiment --list`, e.g.
#   `digitnet experiment hyperparameter-search --workers 2` (the book's random search for the learning rate
#   and weight decay); the gallery and timings: the experiments page (`docs/experiments.md`).
