"""Look inside a network: what each layer makes of one image, and which pixels push it toward a digit.

layer_outputs(net, x) runs the layers forward one by one and keeps each block's output: a layer with
weights (Convolution, Affine) or a Pooling, together with the element-wise layers after it (ReLU,
batch norm, dropout, which is the identity at inference).

input_gradient(net, x, digit, score) is the book's backward pass run one layer further. Training
stops at the first layer's dW (LayeredNet.loss_and_gradient skips its dx: nothing needs the gradient
of the images); here the chain goes on through that layer's dx to the 28x28 pixels:
    d score / d x = first.backward(... last.backward(d score / d y))
The score is one class's logit y_k (the output before softmax, d y_k / d y = one-hot k) or its
log-probability log softmax(y)_k (d / d y = one-hot k - softmax(y)). A positive value at a pixel
means more ink there raises the score.

explain() gathers both for one image; explanation_png() draws the "why" picture (Pillow, imported
when called). This module itself needs only NumPy.
"""
import io

import numpy as np

from .data.images import SIDE
from .functions import softmax

SCORES = ("logit", "log-probability")
BLOCK_STARTS = {"Convolution": "conv", "Affine": "affine", "Pooling": "pool"}


def layer_outputs(net, x):
    """[{"name", "kind", "output"}] per block for one image x, in order; "output" drops the batch axis.

    kind is "conv" (output: C feature maps, H x W), "pool" (the smaller maps) or "affine" (a row of units).
    """
    h = net.as_input(x)[:1]
    blocks = []
    for name, out in net.forward_layers(h):
        layer = net.layers[name]
        kind = BLOCK_STARTS.get(type(layer).__name__)
        if kind is not None or not blocks:
            blocks.append({"name": name, "kind": kind or "other", "output": out[0]})
        else:  # an element-wise layer: the block's output is now after it
            if type(layer).__name__ != "Dropout":  # the identity at inference: not worth naming
                blocks[-1]["name"] += " + " + name
            blocks[-1]["output"] = out[0]
    return blocks


def score_gradient(scores, digit, score="logit"):
    """d score / d scores for each row of scores (N, classes): the seed of the backward pass."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    one_hot = np.zeros_like(scores)
    one_hot[:, digit] = 1
    return one_hot if score == "logit" else one_hot - softmax(scores)


def input_gradient(net, x, digit, score="logit"):
    """d score(digit) / d x, shaped like x: the backward pass through every layer, the first one's dx included.

    The net runs in inference mode (dropout off, batch norm on its running statistics), as when it reads
    a digit, so this is the gradient of what predict() computes.
    """
    shape = np.shape(x)
    h = net.predict(net.as_input(x))
    dout = score_gradient(h, digit, score)
    for layer in reversed(net.layers.values()):
        dout = layer.backward(dout)
    return dout.reshape(shape)


def explain(net, image, digit=None, score="logit"):
    """Everything the look-inside panel shows for one 28x28 image (floats 0..1, white ink on black).

    digit: the class whose score is differentiated (None: the one the network reads).
    Returns {"digit", "probabilities", "target", "score", "gradient" (28x28), "layers" (layer_outputs)}.
    """
    dtype = np.result_type(*net.params.values())
    x = np.asarray(image, dtype=dtype).reshape(1, -1)
    blocks = layer_outputs(net, x)
    probabilities = softmax(np.asarray(blocks[-1]["output"], dtype=np.float64).reshape(1, -1))[0]
    predicted = int(probabilities.argmax())
    target = predicted if digit is None else int(digit)
    if not 0 <= target < probabilities.size:
        raise ValueError(f"digit must be 0 to {probabilities.size - 1}, not {digit}")
    gradient = input_gradient(net, x, target, score).reshape(np.shape(image))
    return {"digit": predicted, "probabilities": probabilities, "target": target, "score": score,
            "gradient": gradient, "layers": blocks}


# ---------------------------------------------------------------------------------------- pictures
# The page (static/app.js) draws the same colours: keep the two in step.
RED, BLUE = np.array([214, 39, 40]), np.array([31, 90, 200])


def gradient_rgb(image, gradient):
    """(28, 28, 3) uint8: white tinted red where more ink would raise the score and blue where it would lower
    it, the tint growing as the square root of |gradient| / its largest; the input's ink darkens it by up to 55 %."""
    ink = np.clip(np.asarray(image, dtype=np.float64), 0, 1)[..., None]
    g = np.asarray(gradient, dtype=np.float64)
    peak = np.abs(g).max()
    strength = np.sqrt(np.abs(g) / peak)[..., None] if peak > 0 else np.zeros(g.shape + (1,))
    tint = 255 * (1 - strength) + np.where(g[..., None] > 0, RED, BLUE) * strength
    return np.round(tint * (1 - 0.55 * ink)).astype(np.uint8)


def tiles(maps, columns=None, pad=1):
    """C maps (C, H, W) laid out in a grid, pad pixels apart: (rows*(H+pad)-pad, cols*(W+pad)-pad), NaN between."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 1:
        return maps[None, :]
    c, h, w = maps.shape
    columns = columns or min(c, 8 if c <= 32 else 16)
    rows = -(-c // columns)
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), np.nan)
    for i in range(c):
        r, q = divmod(i, columns)
        grid[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = maps[i]
    return grid


def activation_rgb(grid):
    """A tiles() grid coloured: black-to-white for outputs >= 0 (after ReLU, pooling), blue-white-red for
    signed ones (an affine layer's raw scores); one scale per layer, so tiles compare; gaps light grey."""
    finite = grid[np.isfinite(grid)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    rgb = np.empty(grid.shape + (3,))
    v = np.nan_to_num(grid)
    if lo >= 0:
        rgb[:] = (255 * v / hi if hi > 0 else 0 * v)[..., None]
    else:
        t = (v / max(abs(lo), abs(hi)))[..., None]
        white = np.full(3, 255.0)
        rgb[:] = np.where(t > 0, white + t * (RED - white), white - t * (BLUE - white))
    rgb[~np.isfinite(grid)] = 220
    return np.round(rgb).astype(np.uint8)


def explanation_png(result, image, path, *, zoom=8):
    """Write the "why" picture of explain()'s result: the input and the gradient drawn over it, side by side,
    with a caption naming the digit read, the score differentiated and the colours."""
    from PIL import Image, ImageDraw

    side = SIDE * zoom
    left = np.round(255 - 255 * np.clip(np.asarray(image, dtype=np.float64), 0, 1)).astype(np.uint8)
    picture = Image.new("RGB", (2 * side + 30, side + 56), "white")
    picture.paste(Image.fromarray(left).convert("RGB").resize((side, side), Image.NEAREST), (10, 10))
    overlay = Image.fromarray(gradient_rgb(image, result["gradient"]))
    picture.paste(overlay.resize((side, side), Image.NEAREST), (side + 20, 10))
    p = result["probabilities"]
    k, read = result["target"], result["digit"]
    draw = ImageDraw.Draw(picture)
    draw.text((10, side + 16), f"left: the 28x28 the network saw; it reads {read} ({100 * p[read]:.1f}%). "
                               f"Right: why {k}, the gradient of the {result['score']} of {k}", fill="black")
    draw.text((10, side + 34), f"red: more ink here raises the {result['score']} of {k}; blue: lowers it",
              fill="black")
    from .model_io import save_png

    return save_png(picture, path)


def _png_data_url(rgb):
    from base64 import b64encode

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + b64encode(buffer.getvalue()).decode("ascii")


def explanation_json(result):
    """The look-inside part of an /api/explain answer: the input gradient and each layer's output as a picture."""
    gradient = np.asarray(result["gradient"], dtype=np.float64)
    layers = []
    for block in result["layers"]:
        out = np.asarray(block["output"], dtype=np.float64)
        entry = {"name": block["name"], "kind": block["kind"], "shape": list(out.shape),
                 "min": float(out.min()), "max": float(out.max()), "image": _png_data_url(activation_rgb(tiles(out)))}
        if out.ndim == 1:
            entry["values"] = [float(f"{v:.5g}") for v in out]
        layers.append(entry)
    return {"target": result["target"], "score": result["score"],
            "gradient": [float(f"{v:.5g}") for v in gradient.reshape(-1)],
            "gradient_max_abs": float(np.abs(gradient).max()), "layers": layers}
