"""Drawing helpers the experiments share, on digitnet.plots' Agg figures (no pyplot, no window)."""
import numpy as np

from ..plots import _figure, _save

__all__ = ["figure", "save", "quick_note", "mosaic_axes", "loss_curves", "final_loss", "MARKERS"]

MARKERS = {"SGD": "o", "Momentum": "x", "AdaGrad": "s", "Adam": "D"}


def figure(width, height):
    return _figure(width, height)


def save(fig, path):
    return _save(fig, path)


def quick_note(fig, result):
    """A footnote naming the data, the seed, and whether this was the reduced --quick run."""
    text = f"data: {result['data']}   seed {result['seed']}"
    if result.get("quick"):
        text += "   --quick: REDUCED settings, not the book's"
    fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=7, color="0.35")


def mosaic_axes(ax, images, cols, cmap="gray", vmin=None, vmax=None, gap=1):
    """Draw images (N, h, w) as one tiled picture on ax, each scaled to its own range unless vmin/vmax."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    rows = -(-n // cols)
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i, img in enumerate(images):
        lo, hi = (img.min(), img.max()) if vmin is None else (vmin, vmax)
        r, c = divmod(i, cols)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = (img - lo) / ((hi - lo) or 1.0)
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()


def loss_curves(result, runs, path, title, markers=None, ylim=(0, 1)):
    """The book's loss figure: each run's per-step loss, smoothed (smooth_curve), y from 0 to 1."""
    from ..book import smooth_curve

    fig = figure(7, 4.5)
    ax = fig.add_subplot()
    for i, (name, losses) in enumerate(runs.items()):
        marker = (markers or {}).get(name, "osxD^v"[i % 6])
        ax.plot(np.arange(len(losses)), smooth_curve(losses), marker=marker, markevery=max(1, len(losses) // 20),
                label=name)
    ax.set(xlabel="iterations", ylabel="loss (smoothed)", title=title, ylim=ylim)
    ax.legend()
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    quick_note(fig, result)
    return save(fig, path)


def final_loss(losses, last=100):
    """The mean loss of the last `last` steps: one step's loss is too noisy to rank runs by."""
    return float(np.mean(losses[-last:]))
