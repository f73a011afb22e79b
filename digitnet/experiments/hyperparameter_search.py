"""ch. 6, hyperparameter_optimization.py: random search over learning rate and weight decay.

100 trials, lr = 10^U(-6, -2) and weight decay = 10^U(-8, -4), each training a 784-100x6-10 ReLU net for
50 epochs (SGD, batch 100) on 400 of the first 500 training digits and scoring it on the other 100
(a 20 % validation split: the test set is never looked at). The book: the good trials have lr around
1e-3 to 1e-2 and weight decay around 1e-8 to 1e-6; narrow the ranges there and search again.

The trials are independent, so they run on --workers processes. Each trial draws its hyperparameters,
initial weights and batches from its own seed (the run's seed and its number), so the result is the same
for any number of workers.
"""
import zlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..nets import MultiLayerNet
from ..optimizers import SGD
from ..train import train
from .plotting import figure, quick_note, save

NAME = "hyperparameter-search"
BOOK = "ch06/hyperparameter_optimization.py"
TITLE = "random search over learning rate and weight decay: the best 20 trials and where they lie"

N_DIGITS, VALIDATION_RATE, BATCH, SHOWN = 500, 0.2, 100, 20
_data = None  # each worker's copy of (x_train, t_train, x_val, t_val), set once by _start_worker


def _start_worker(data):
    global _data
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread per process: the processes are the parallelism
    _data = data


def trial(job):
    """One trial: (seed, index, epochs) -> its hyperparameters and accuracy curves."""
    seed, index, epochs = job
    rng = np.random.default_rng([seed, zlib.crc32(b"trial"), index])
    weight_decay = 10 ** rng.uniform(-8, -4)  # drawn in the book's order
    lr = 10 ** rng.uniform(-6, -2)
    x, t, x_val, t_val = _data
    net = MultiLayerNet(784, [100] * 6, 10, weight_init_std="he", weight_decay_lambda=weight_decay, rng=rng,
                        dtype=np.float32)
    history = train(net, x, t, x_val=x_val, t_val=t_val, epochs=epochs, batch_size=BATCH, optimizer=SGD(lr=lr), rng=rng)
    return {"trial": index, "lr": lr, "weight_decay": weight_decay,
            "val_acc": [h["val_acc"] for h in history], "train_acc": [h["train_acc"] for h in history]}


def run_trials(data, jobs, workers):
    if workers == 1:
        _start_worker(data)
        return [trial(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(data,)) as pool:
        return list(pool.map(trial, jobs))


def run(ctx):
    ds = ctx.dataset()
    trials, epochs = ctx.pick((100, 50), (12, 8))
    x, t = ds.x_train[:N_DIGITS], ds.t_train[:N_DIGITS]
    order = ctx.rng("split").permutation(len(x))  # the book's shuffle_dataset, then the first 20 % validate
    n_val = int(len(x) * VALIDATION_RATE)
    val, tr = order[:n_val], order[n_val:]
    data = (x[tr], t[tr], x[val], t[val])
    results = run_trials(data, [(ctx.seed, i, epochs) for i in range(trials)], ctx.workers)
    ranked = sorted(results, key=lambda r: (-r["val_acc"][-1], r["trial"]))
    top = ranked[:max(3, trials // 10)]
    return {"settings": {"trials": trials, "epochs": epochs, "train_digits": len(tr), "validation_digits": n_val,
                         "hidden": [100] * 6, "batch_size": BATCH, "lr_range": [1e-6, 1e-2],
                         "weight_decay_range": [1e-8, 1e-4], "dtype": "float32"},
            "best_region": {"lr": [min(r["lr"] for r in top), max(r["lr"] for r in top)],
                            "weight_decay": [min(r["weight_decay"] for r in top), max(r["weight_decay"] for r in top)],
                            "best_val_acc": top[0]["val_acc"][-1], "of_top": len(top)},
            "trials": ranked}


def plot(result, path):
    ranked = result["trials"]
    fig = figure(14, 5.2)
    grid = fig.add_gridspec(4, 9)
    for i, r in enumerate(ranked[:SHOWN]):
        ax = fig.add_subplot(grid[i // 5, i % 5])
        epochs = np.arange(len(r["val_acc"]))
        ax.plot(epochs, r["val_acc"])
        ax.plot(epochs, r["train_acc"], "--")
        ax.set_ylim(0, 1.0)
        ax.set_xticks([])
        if i % 5:
            ax.set_yticks([])
        ax.set_title(f"Best-{i + 1}", fontsize=8)
    ax = fig.add_subplot(grid[:, 6:])
    lr = np.array([r["lr"] for r in ranked])
    wd = np.array([r["weight_decay"] for r in ranked])
    acc = np.array([r["val_acc"][-1] for r in ranked])
    dots = ax.scatter(lr, wd, c=acc, cmap="viridis", vmin=0, vmax=1, s=25)
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
           title="validation accuracy of every trial")
    fig.colorbar(dots, ax=ax, label="validation accuracy")
    fig.suptitle("best trials: validation (solid) and training (dashed) accuracy per epoch", x=0.33, fontsize=10)
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.13, top=0.9, hspace=0.35, wspace=0.25)
    quick_note(fig, result)
    return save(fig, path)


def summary(result):
    region, ranked = result["best_region"], result["trials"]
    lines = [f"Best-{i + 1} (val acc {r['val_acc'][-1]:.2f}) | lr {r['lr']:.2e}, weight decay {r['weight_decay']:.2e}"
             for i, r in enumerate(ranked[:5])]
    return lines + [f"best region (top {region['of_top']} of {len(ranked)}): lr {region['lr'][0]:.1e} to "
                    f"{region['lr'][1]:.1e}, weight decay {region['weight_decay'][0]:.1e} to "
                    f"{region['weight_decay'][1]:.1e} (the book: lr 1e-3 to 1e-2, weight decay 1e-8 to 1e-6)",
                    f"{result['timings']['wall_s']:.1f} s with {result['timings']['workers']} worker(s)"]
