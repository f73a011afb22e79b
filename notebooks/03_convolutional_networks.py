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
# # Convolutional networks
#
# Chapters 7 and 8 of *Deep Learning from Scratch*: a convolution slides small filters over the image
# and keeps its 2-D shape, so a network can learn strokes and edges wherever they are. This notebook
# applies filters by hand, trains the book's `SimpleConvNet` and looks at the filters it learns and the
# digits it gets wrong, then opens up the bundled `deep-cnn` (the book's chapter 8 `DeepConvNet`,
# 99.05 % on the official MNIST test set): its feature maps, and the gradient that shows which pixels
# made it read what it read.
#
# **Data.** `DIGITNET_DATA_DIR` (a folder with the four MNIST files) if set, else full MNIST from
# digitnet's cache, else the bundled sample (8,000 training / 2,000 test digits).
#
# **Quick mode.** `DIGITNET_QUICK=1` (CI sets it) trains the SimpleConvNet for 1 epoch instead of 4
# (about 92 % instead of 96 % on the sample); the rest is the same.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import digitnet
from digitnet.data import resolve_dataset

QUICK = os.environ.get("DIGITNET_QUICK", "") == "1"
DATA_DIR = os.environ.get("DIGITNET_DATA_DIR") or None
dataset, notice = resolve_dataset(DATA_DIR, flatten=False)  # images as (N, 1, 28, 28): channels, height, width
if notice:
    print(notice)
print(dataset.describe())
x_train, t_train, x_test, t_test = dataset.x_train, dataset.t_train, dataset.x_test, dataset.t_test
print("quick mode: 1 epoch of SimpleConvNet" if QUICK else "full mode: 4 epochs of SimpleConvNet")


def show_maps(maps, title, cols=8, cmap="gray", size=1.3):
    """Draw C maps (C, H, W) in a grid, each on its own scale."""
    maps = np.asarray(maps)
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m in zip(axes.flat, maps):
        ax.imshow(m, cmap=cmap, interpolation="nearest")
    fig.suptitle(title)
    plt.show()


# %% [markdown]
# ## 1. A convolution by hand
#
# A `Convolution` layer takes a batch of images (N, C, H, W) and filters (FN, C, FH, FW); each output
# pixel is the sum of a filter times the patch of image under it. Two hand-made 3x3 filters: one that
# answers to ink getting darker from left to right (a vertical edge), one for top to bottom (a horizontal
# edge). Red is a positive response, blue a negative one.

# %%
from digitnet import Convolution, Pooling

vertical = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)  # Sobel filters
horizontal = vertical.T.copy()
W = np.stack([vertical, horizontal])[:, None]  # (2 filters, 1 channel, 3, 3)
conv = Convolution(W, np.zeros(2, dtype=np.float32), stride=1, pad=1)
digit = x_test[:1]  # (1, 1, 28, 28)
maps = conv.forward(digit)
print("input", digit.shape, "filters", W.shape, "output", maps.shape)

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(digit[0, 0], cmap="gray")
axes[0].set_title(f"the digit ({int(t_test[0])})")
for ax, m, name in zip(axes[1:], maps[0], ["vertical edges", "horizontal edges"]):
    lim = np.abs(m).max()
    ax.imshow(m, cmap="bwr", vmin=-lim, vmax=lim)
    ax.set_title(name)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# Under the hood the layer does not loop over positions: `im2col` unrolls every 3x3 patch into a row, so
# the whole convolution is one matrix product (28 × 28 = 784 patches of 9 pixels). A 2x2 max `Pooling`
# then keeps the largest value of each 2x2 block, halving the height and width.

# %%
from digitnet.im2col import im2col

cols = im2col(digit, 3, 3, stride=1, pad=1)
print("im2col:", digit.shape, "->", cols.shape, "(one row per output pixel, one column per filter weight)")
pool = Pooling(pool_h=2, pool_w=2, stride=2)
pooled = pool.forward(maps)
print("pooling:", maps.shape, "->", pooled.shape)

# %% [markdown]
# ## 2. Training the book's SimpleConvNet
#
# Convolution (30 filters of 5x5) → ReLU → 2x2 pooling → Affine (100) → ReLU → Affine (10), trained with
# Adam (learning rate 0.001, the book's) on mini-batches of 100; He initial weights, so one epoch already
# gets far.

# %%
from digitnet import Adam, SimpleConvNet, train

net = SimpleConvNet(weight_init_std="he", rng=np.random.default_rng(0), dtype=np.float32)
print(" -> ".join(net.layers), "->", type(net.lastLayer).__name__)
filters_before = net.params["W1"].copy()
epochs = 1 if QUICK else 4
start = time.perf_counter()


def report(record):
    print(f"epoch {record['epoch']}: train acc {record['train_acc']:.4f}, test acc {record['test_acc']:.4f}")


history = train(net, x_train, t_train, x_test, t_test, epochs=epochs, batch_size=100, optimizer=Adam(lr=0.001),
                rng=np.random.default_rng(1), train_eval_size=2000, on_epoch=report)
print(f"{epochs} epoch(s) in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# The first layer's 30 filters before training (random noise) and after: even after a few epochs, many
# have become smooth blobs and edge detectors of one orientation (the book's figure 7-24).

# %%
show_maps(filters_before[:, 0], "first-layer filters before training", cols=15, size=0.8)
show_maps(net.params["W1"][:, 0], "first-layer filters after training", cols=15, size=0.8)

# %% [markdown]
# What the trained filters make of a digit: the first layer's 30 feature maps (after ReLU).

# %%
from digitnet.explain import layer_outputs

blocks = layer_outputs(net, x_test[:1])
for b in blocks:
    print(f"{b['name']:20} {b['kind']:7} output {b['output'].shape}")
show_maps(blocks[0]["output"], f"SimpleConvNet's feature maps for a {int(t_test[0])}", cols=10, size=1.0)

# %% [markdown]
# ## 3. The digits it gets wrong
#
# `digitnet.metrics.predict_labels` reads the whole test set in batches; the mistakes, with the true label and
# the network's answer:

# %%
from digitnet.metrics import predict_labels


def show_mistakes(net, x, t, title, count=24):
    y = predict_labels(net, x)
    wrong = np.flatnonzero(y != t)
    print(f"{title}: {len(wrong)} of {len(t):,} wrong ({np.mean(y == t):.2%} right)")
    shown = wrong[:count]
    if len(shown) == 0:
        return y
    cols = 12
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0, rows * 1.25), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, shown):
        ax.imshow(x[i, 0], cmap="gray")
        ax.set_title(f"{t[i]}→{y[i]}", fontsize=9, color="tab:red")
    fig.suptitle(f"{title}: true → read")
    plt.show()
    return y


y_simple = show_mistakes(net, x_test, t_test, "SimpleConvNet")

# %% [markdown]
# ## 4. The bundled deep network
#
# `digitnet.pretrained("deep-cnn")` loads the book's chapter 8 `DeepConvNet` that ships inside the package
# (its file's SHA-256 is checked against the manifest first): six 3x3 convolutions with 16, 16, 32, 32,
# 64, 64 filters, a pooling after every second one, Affine 50 with dropout, Affine 10. It was trained on
# the first 8,000 MNIST training digits, the bundled sample's training digits; the sample's other 2,000,
# its test digits, were held out (only to calibrate its confidence, which changes no answer), so its
# mistakes below are on digits it never learned from. On the official test set (`DIGITNET_DATA_DIR` or
# downloaded MNIST) it makes 95 mistakes in 10,000.

# %%
from digitnet.pretrained import bundled_models

deep = digitnet.pretrained("deep-cnn")
info = bundled_models()["deep-cnn"]
print(info["architecture"])
print("trained on:", info["training_data"], "| official test accuracy:", f"{info['test_accuracy']:.2%}")
for name, layer in deep.layers.items():
    w = getattr(layer, "W", None)
    print(f"  {name:9} {type(layer).__name__:12} {'' if w is None else 'weights ' + str(w.shape)}")

# %%
y_deep = show_mistakes(deep, x_test, t_test, "deep-cnn")

# %% [markdown]
# ## 5. Feature maps of the deep network
#
# `digitnet.explain.explain(net, image)` runs one 28x28 image through the network and keeps every block's
# output (a convolution with its ReLU, a pooling, an affine layer): the data the web page's **Look inside**
# panel draws. The early maps still look like the digit; the later ones are coarse, abstract detectors.

# %%
from digitnet.explain import explain

image = x_test[0, 0]
result = explain(deep, image)
print("reads", result["digit"], "with probability", f"{result['probabilities'][result['digit']]:.4f}")
for block in result["layers"]:
    print(f"{block['name']:22} {block['kind']:7} {block['output'].shape}")
for block in result["layers"]:
    if block["kind"] == "conv" and block["name"].startswith(("Conv1", "Conv4", "Conv6")):
        show_maps(block["output"], block["name"], cols=16, size=0.7)

# %% [markdown]
# ## 6. Why: the gradient with respect to the input
#
# Training runs the backward pass down to each layer's weights. Run it one layer further, through the first
# layer's input, and you get d score / d pixel for all 784 pixels: where more ink would raise the score of a
# digit (red) and where it would lower it (blue). `explain(net, image, digit)` does this for any digit's
# score; `gradient_rgb` colours it the way the web page does.

# %%
from digitnet.explain import gradient_rgb

label = int(t_test[0])
other = (label + 1) % 10
fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
axes[0].imshow(image, cmap="gray")
axes[0].set_title(f"input (label {label})")
for ax, d in zip(axes[1:], [label, other]):
    g = explain(deep, image, digit=d)["gradient"]
    ax.imshow(gradient_rgb(image, g))
    ax.set_title(f"what pushes it toward {d}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# The same for a few of the SimpleConvNet's mistakes, read by the deep network: the gradient for the true
# digit shows what ink the digit lacks to look like it.

# %%
wrong = np.flatnonzero(y_simple != t_test)[:4]
if len(wrong):
    fig, axes = plt.subplots(2, len(wrong), figsize=(2.4 * len(wrong), 5), squeeze=False)
    for k, i in enumerate(wrong):
        img = x_test[i, 0]
        r = explain(deep, img, digit=int(t_test[i]))
        axes[0, k].imshow(img, cmap="gray")
        axes[0, k].set_title(f"label {t_test[i]}, simple read {y_simple[i]}", fontsize=8)
        axes[1, k].imshow(gradient_rgb(img, r["gradient"]))
        axes[1, k].set_title(f"deep reads {r['digit']}; toward {t_test[i]}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    plt.show()

# %% [markdown]
# ## Things to try
#
# - Make your own filter (a diagonal edge, a blur `np.ones((3, 3)) / 9`) and apply it in section 1.
# - Train the SimpleConvNet longer (`epochs = 10`) or with the book's initial weights
#   (`weight_init_std=0.01`): how do accuracy and the learned filters change?
# - Pass `score="log-probability"` to `explain` and compare the gradients with the logit's.
# - Pick a misclassified digit and edit it: add ink where the gradient for the true digit is red and see
#   whether `deep.predict(img.reshape(1, 1, 28, 28)).argmax()` changes its mind.
# - Try the experiments for these chapters: `digitnet experiment filters` and
#   `digitnet experiment misclassified`; the web page (`digitnet serve`) shows the same look-inside panel
#   live as you draw.
