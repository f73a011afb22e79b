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
# # Reading your own handwriting
#
# MNIST's digits were scanned, cropped, scaled into 20x20 and centred in 28x28; a photo of a digit on
# paper is none of those things. This notebook follows a picture from the file to the answer: how digitnet
# makes it look like an MNIST digit, what the bundled networks read, how a whole number is read, what
# happens with something that is not a digit at all, and whether the network's confidence can be believed
# (calibration).
#
# The pictures are the 60 hand-drawn test images in `tests/fixtures/handwriting/` (photos, scans and
# drawings, 6 per digit, in PNG, JPEG, BMP, GIF, WebP and TIFF). Put your own in a folder and point
# `FOLDER` at it.
#
# **Data.** Section 5 trains the book's two-layer network on `DIGITNET_DATA_DIR`, full MNIST from
# digitnet's cache, or the bundled sample, as the other notebooks do.
#
# **Quick mode.** `DIGITNET_QUICK=1` (CI sets it) trains that network for 2,000 steps instead of the
# book's 10,000; the rest is the same.
#
# **Newer functions.** `digitnet.read` (whole numbers, with "not a digit" rejection) and
# `digitnet.calibration` are recent additions. Their cells check that the function is there first and
# say so if your digitnet is older.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageOps

import digitnet

QUICK = os.environ.get("DIGITNET_QUICK", "") == "1"
DATA_DIR = os.environ.get("DIGITNET_DATA_DIR") or None
FOLDER = Path("../tests/fixtures/handwriting")  # relative to this notebook's folder, notebooks/
files = sorted(p for p in FOLDER.iterdir() if p.suffix.lower() in {".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"})
print(f"{len(files)} pictures in {FOLDER}")
print("quick mode: 2,000 training steps in section 5" if QUICK else "full mode: 10,000 training steps in section 5")

# %% [markdown]
# ## 1. From a picture to an MNIST digit
#
# `digitnet.preprocess.to_mnist` finds the paper and the ink (dark on light or light on dark, any colour,
# transparency included), crops to the ink, thickens thin strokes, fits the digit into 20x20 and centres it
# by its centre of mass in 28x28: white ink on black, as MNIST's digits are.

# %%
from digitnet.preprocess import to_mnist

examples = [f for f in files if f.stem.endswith("_1")][::2][:6]
fig, axes = plt.subplots(2, len(examples), figsize=(2.2 * len(examples), 4.4))
for k, f in enumerate(examples):
    axes[0, k].imshow(Image.open(f).convert("RGBA"))
    axes[0, k].set_title(f.name, fontsize=7)
    axes[1, k].imshow(to_mnist(f), cmap="gray")
    axes[1, k].set_title("what the network sees", fontsize=7)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. Predict
#
# `digitnet.predict.predict_images(net, images)` preprocesses each picture and returns its digit and the
# ten probabilities. `digitnet.pretrained()` is the best bundled model (`digitnet models` lists them); the
# file name of each fixture starts with the digit drawn, so we can score it.

# %%
from digitnet.predict import predict_images, top_k

net = digitnet.pretrained()  # the best bundled model
best_name = type(net).architecture
results = predict_images(net, files, keep_images=True)
truth = [int(f.name[0]) for f in files]
right = sum(r["digit"] == t for r, t in zip(results, truth))
print(f"{best_name} reads {right} of {len(files)} right")
for r, t in zip(results, truth):
    if r["digit"] != t:
        best = ", ".join(f"{d}: {p:.1%}" for d, p in top_k(r["probabilities"]))
        print(f"  wrong: {Path(r['file']).name} (a {t}) read as {r['digit']} ({best})")

fig, axes = plt.subplots(5, 12, figsize=(12, 5.6))
for ax, r, t in zip(axes.flat, results, truth):
    ax.imshow(r["image"], cmap="gray")
    p = max(r["probabilities"])
    ax.set_title(f"{r['digit']} {p:.0%}", fontsize=8, color="black" if r["digit"] == t else "tab:red")
    ax.axis("off")
fig.suptitle(f"{best_name} on the 60 fixtures: the digit read and its probability (red: wrong)")
plt.show()

# %% [markdown]
# The smaller bundled network, the book's 784-50-10, on the same pictures:

# %%
small = digitnet.pretrained("two-layer")
small_results = predict_images(small, files)
print(f"two-layer reads {sum(r['digit'] == t for r, t in zip(small_results, truth))} of {len(files)} right")

# %% [markdown]
# ## 3. Whole numbers
#
# A picture with several digits in a row is cut into one piece per digit, and each is read as above.
# `digitnet.read(image, net=None)` returns the number as text and, for each digit, its value, confidence,
# box in the picture and whether it was rejected. Here is a number made from four of the fixtures, cropped
# to their ink and pasted side by side:

# %%
def crop_to_ink(path):
    grey = ImageOps.grayscale(Image.open(path).convert("RGB"))
    box = ImageOps.invert(grey).point(lambda v: 255 if v > 60 else 0).getbbox()
    return grey.crop(box)


pieces = [crop_to_ink(FOLDER / f"{d}_thin_offcentre_{n}.png") for d, n in [(2, 1), (0, 2), (2, 3), (6, 1)]]
height = max(p.height for p in pieces)
number = Image.new("L", (sum(p.width for p in pieces) + 40 * (len(pieces) + 1), height + 80), 255)
x = 40
for p in pieces:
    number.paste(p, (x, 40 + (height - p.height) // 2))
    x += p.width + 40
plt.figure(figsize=(6, 2))
plt.imshow(number, cmap="gray")
plt.axis("off")
plt.show()

# %%
reading = digitnet.read(number)
print("read:", reading.text)
fig, ax = plt.subplots(figsize=(6, 2))
ax.imshow(number, cmap="gray")
for d in reading.digits:
    print(f"  {d['value']}  confidence {d['confidence']:.2f}  box {d['box']}  rejected {d['rejected']}")
    x0, y0, x1, y1 = d["box"]
    colour = "tab:red" if d["rejected"] else "tab:green"
    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=colour))
    ax.text(x0, y0 - 5, "?" if d["rejected"] else str(d["value"]), color="tab:blue")
ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. Not a digit
#
# Softmax always shares out 100 % among the ten digits, so a network trained only on digits gives a
# scribble, a letter or a smiley a digit, often with a confident-looking probability. digitnet's models
# carry a rejection threshold, fitted when they were trained (see docs/rejection.md): below it,
# `predict_images` answers `rejected: True`, "not a digit", as `digitnet predict` does. Each title shows
# the digit the softmax favours and the model's verdict.

# %%
def drawing(draw_fn, size=(200, 200)):
    img = Image.new("L", size, 255)
    draw_fn(ImageDraw.Draw(img))
    return img


def cross(d):
    d.line((40, 40, 160, 160), width=12)
    d.line((160, 40, 40, 160), width=12)


def smiley(d):
    d.ellipse((30, 30, 170, 170), outline=0, width=10)
    d.ellipse((70, 70, 85, 85), fill=0)
    d.ellipse((115, 70, 130, 85), fill=0)
    d.arc((65, 80, 135, 145), 20, 160, fill=0, width=10)


def letter_a(d):
    d.line((100, 25, 40, 175), width=12)
    d.line((100, 25, 160, 175), width=12)
    d.line((65, 115, 135, 115), width=12)


not_digits = {"a cross": drawing(cross), "a smiley": drawing(smiley), "a letter A": drawing(letter_a),
              "a filled square": drawing(lambda d: d.rectangle((50, 50, 150, 150), fill=0))}
answers = predict_images(net, list(not_digits.values()), keep_images=True)
fig, axes = plt.subplots(1, len(not_digits), figsize=(2.6 * len(not_digits), 3))
for ax, (name, img), r in zip(axes, not_digits.items(), answers):
    ax.imshow(img, cmap="gray")
    verdict = "not a digit" if r["rejected"] else "a digit"
    ax.set_title(f"{name}: {r['digit']} ({max(r['probabilities']):.0%}), {verdict}", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# `digitnet.read` is made for numbers, and judges each piece it cuts, not the whole picture: it cuts a
# drawing into strokes, and a stroke of a letter or a shape is a good 1, so it often reads one as digits
# (docs/reading.md, "Where it fails"). Its `rejected` marks the pieces it doubts (`?` in the text). For a
# picture that should hold one symbol, ask `predict`, as above.

# %%
for name, img in not_digits.items():
    reading = digitnet.read(img)
    flags = ", ".join(f"{d['value']} (confidence {d['confidence']:.2f}, rejected {d['rejected']})"
                      for d in reading.digits)
    print(f"{name:16} text {reading.text!r}: {flags}")

# %% [markdown]
# ## 5. Can the confidence be believed? Calibration
#
# A network is *calibrated* when, of all the answers it gives with 90 % probability, about 90 % are right.
# To measure it honestly we need digits the network never saw, so we train the book's two-layer network
# here on the training digits, with no calibration, and look at the test digits it never saw (a bundled
# model has been calibrated already, so it would show the cure, not the problem). The reliability diagram sorts the test
# answers into bins by their top probability and compares each bin's mean probability with its accuracy.

# %%
from digitnet import SGD, TwoLayerNet, train
from digitnet.data import resolve_dataset
from digitnet.functions import softmax

dataset, notice = resolve_dataset(DATA_DIR)
if notice:
    print(notice)
print(dataset.describe())
model = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0), dtype=np.float32)
iters = 2_000 if QUICK else 10_000
train(model, dataset.x_train, dataset.t_train, iters=iters, batch_size=100, optimizer=SGD(lr=0.1),
      rng=np.random.default_rng(1))
probs = softmax(np.asarray(model.predict(dataset.x_test), dtype=np.float64))
confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
correct = predicted == dataset.t_test
print(f"{iters:,} steps: test accuracy {correct.mean():.2%}, mean top probability {confidence.mean():.2%}")


def reliability(confidence, correct, bins=10):
    """Per bin of top probability: (mean probability, accuracy, count); and the expected calibration error."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    rows = [(confidence[which == b].mean(), correct[which == b].mean(), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]
    ece = sum(n * abs(p - a) for p, a, n in rows) / len(confidence)
    return rows, ece


rows, ece = reliability(confidence, correct)
print(f"expected calibration error: {ece:.3f} (0 is perfect)")
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot([0, 1], [0, 1], ls=":", color="0.5", label="perfectly calibrated")
ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="two-layer net")
ax.set(xlabel="top probability (mean in bin)", ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1),
       title="reliability diagram")
ax.legend()
plt.show()

# %% [markdown]
# Points below the diagonal are answers more confident than they deserve. A model file can carry its own
# calibration: `digitnet.calibration.confidence_of(net)` gives the `Confidence` a loaded model carries (a
# temperature T, so that probabilities are softmax(logits / T), and a rejection threshold), or the plain
# softmax (T = 1, rejecting nothing) for a model without one. The bundled models also carry `per_picture`:
# each picture gets its own temperature, scale * spread ** power, where spread is how widely its logits
# differ (docs/rejection.md says why one T is not enough for them). Here is the calibration of two bundled
# models and of ours, then the temperature that would suit ours:

# %%
try:
    from digitnet.calibration import confidence_of
except ImportError:
    confidence_of = None
    print("this digitnet has no digitnet.calibration yet (it arrives with rejection and calibration)")
if confidence_of is not None:
    for name, m in [(best_name, net), ("two-layer", small), ("the network trained above", model)]:
        print(f"{name:26} {confidence_of(m)}")
    # The temperature that fits our network best, found the simple way: try a range, keep the lowest error.
    logits = np.asarray(model.predict(dataset.x_test), dtype=np.float64)
    temperatures = np.linspace(0.5, 3.0, 26)
    errors = [reliability(softmax(logits / T).max(axis=1), correct)[1] for T in temperatures]
    best = float(temperatures[int(np.argmin(errors))])
    print(f"on these test digits, T = {best:.1f} gives the lowest calibration error, {min(errors):.3f} "
          f"(T = 1: {ece:.3f}); a temperature is chosen on held-out digits, never on the test set")
# %% [markdown]
# ## Things to try
#
# - Photograph a digit you wrote, save it next to this notebook and run `predict_images(net, ["mine.jpg"],
#   keep_images=True)`. Does the 28x28 version look like an MNIST digit?
# - Write a number on paper and give the photo to `digitnet.read`. How close together can the digits be?
# - Draw more things that are not digits (a letter B, a star, a blot) and see which ones fool the network.
# - Compare the reliability diagram of a network trained for 500 steps with one trained for 10,000.
# - From the command line: `digitnet predict tests/fixtures/handwriting` reads the whole folder;
#   `digitnet serve` opens a page to draw on and watch the probabilities change.
