"""ch. 4 -> 5, train_neuralnet.py both ways: the two differ only in how the gradient is computed.

The 784-50-10 TwoLayerNet's gradient by central differences (two forward passes per weight, ~40,000
weights) against backprop (one forward and one backward pass). Both take the same few SGD steps from the
same weights on the same batches; their losses agree. Then: how long the book's ch. 4 run (10,000 steps)
would take by numerical gradient.
"""
import time

import numpy as np

from ..nets import TwoLayerNet
from ..optimizers import SGD
from .plotting import figure, quick_note, save

NAME = "backprop-vs-numerical"
BOOK = "ch04/train_neuralnet.py, ch05/train_neuralnet.py"
TITLE = "the gradient by numerical differentiation against backprop: time and agreement"

BOOK_ITERS, LR = 10000, 0.1


def run(ctx):
    ds = ctx.dataset(dtype=np.float64)
    hidden, batch, steps = ctx.pick((50, 100, 3), (10, 20, 2))
    rng = ctx.rng("net")
    nets = {way: TwoLayerNet(784, hidden, 10, rng=ctx.rng("net"), dtype=np.float64)
            for way in ("numerical", "backprop")}
    opts = {way: SGD(lr=LR) for way in nets}
    losses = {way: [] for way in nets}
    seconds = {way: [] for way in nets}
    for _ in range(steps):
        idx = rng.integers(0, ds.n_train, batch)
        x, t = ds.x_train[idx], ds.t_train[idx]
        for way, net in nets.items():
            losses[way].append(float(net.loss(x, t)))
            start = time.perf_counter()
            grads = net.numerical_gradient(x, t) if way == "numerical" else net.gradient(x, t)
            seconds[way].append(time.perf_counter() - start)
            opts[way].update(net.params, grads)
    repeats = 50  # one backprop gradient is too short to time alone
    start = time.perf_counter()
    for _ in range(repeats):
        nets["backprop"].gradient(x, t)
    t_back = (time.perf_counter() - start) / repeats
    t_num = float(np.mean(seconds["numerical"]))
    n_params = sum(p.size for p in nets["backprop"].params.values())
    return {
        "settings": {"hidden": hidden, "batch_size": batch, "steps": steps, "lr": LR, "params": n_params,
                     "dtype": "float64"},
        "losses": losses,
        "max_loss_difference": max(abs(a - b) for a, b in zip(losses["numerical"], losses["backprop"])),
        "max_weight_difference": max(float(np.abs(nets["numerical"].params[k] - nets["backprop"].params[k]).max())
                                     for k in nets["backprop"].params),
        "timings": {"numerical_s_per_gradient": t_num, "backprop_s_per_gradient": t_back, "ratio": t_num / t_back,
                    "book_ch4_run_by_numerical_hours": BOOK_ITERS * t_num / 3600,
                    "book_ch4_run_by_backprop_s": BOOK_ITERS * t_back},
    }


def plot(result, path):
    timings = result["timings"]
    fig = figure(9, 3.8)
    ax1, ax2 = fig.subplots(1, 2)
    ways = ["numerical", "backprop"]
    secs = [timings["numerical_s_per_gradient"], timings["backprop_s_per_gradient"]]
    ax1.bar(ways, secs, color=["tab:red", "tab:blue"])
    ax1.set_yscale("log")
    ax1.set(ylabel="seconds per gradient (log)", title=f"one gradient: numerical is {timings['ratio']:,.0f}x slower")
    for i, s in enumerate(secs):
        ax1.text(i, s, f"{s:.3g} s", ha="center", va="bottom")
    steps = np.arange(1, len(result["losses"]["backprop"]) + 1)
    ax2.plot(steps, result["losses"]["numerical"], "o-", color="tab:red", label="numerical gradient", markersize=9)
    ax2.plot(steps, result["losses"]["backprop"], "x--", color="tab:blue", label="backprop", markersize=9)
    ax2.set(xlabel="SGD step", ylabel="loss on the batch", xticks=steps,
            title=f"same steps: losses differ by {result['max_loss_difference']:.1e}")
    ax2.legend()
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    s, t = result["settings"], result["timings"]
    run = (f"{BOOK_ITERS:,} steps of this reduced net" if result.get("quick")  # the book's net: far longer
           else f"the book's ch. 4 run ({BOOK_ITERS:,} steps)")
    return [f"TwoLayerNet 784-{s['hidden']}-10 ({s['params']:,} weights), batch {s['batch_size']}, "
            f"{s['steps']} SGD steps each way: losses differ by at most {result['max_loss_difference']:.1e}, "
            f"weights by {result['max_weight_difference']:.1e}",
            f"one gradient: numerical {t['numerical_s_per_gradient']:.3g} s, "
            f"backprop {t['backprop_s_per_gradient'] * 1e3:.3g} ms: "
            f"{t['ratio']:,.0f}x; {run} would take "
            f"{t['book_ch4_run_by_numerical_hours']:,.1f} h by numerical gradient, "
            f"{t['book_ch4_run_by_backprop_s']:.0f} s by backprop"]
