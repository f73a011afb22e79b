"""ch. 6, optimizer_compare_naive.py: SGD, Momentum, AdaGrad and Adam on f(x, y) = x^2/20 + y^2.

The bowl is 20 times steeper along y than along x, so the gradient points mostly across the valley:
SGD zigzags in y while it crawls in x; Momentum rolls along x; AdaGrad damps the steep y at once;
Adam does both. 30 steps from (-7, 2), with the book's learning rates.
"""
import numpy as np

from ..optimizers import SGD, AdaGrad, Adam, Momentum
from .plotting import figure, quick_note, save

NAME = "gradient-descent-paths"
BOOK = "ch06/optimizer_compare_naive.py"
TITLE = "four optimizers' paths on f(x, y) = x^2/20 + y^2"

START = (-7.0, 2.0)
STEPS = 30
OPTIMIZERS = {"SGD": (SGD, 0.95), "Momentum": (Momentum, 0.1), "AdaGrad": (AdaGrad, 1.5), "Adam": (Adam, 0.3)}


def f(x, y):
    return x ** 2 / 20.0 + y ** 2


def df(x, y):
    return x / 10.0, 2.0 * y


def path(optimizer, steps=STEPS):
    params = {"x": np.array(START[0]), "y": np.array(START[1])}
    xs, ys = [], []
    for _ in range(steps):
        xs.append(float(params["x"]))
        ys.append(float(params["y"]))
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": np.asarray(gx), "y": np.asarray(gy)})
    return xs, ys


def run(ctx):
    paths = {}
    for name, (cls, lr) in OPTIMIZERS.items():
        xs, ys = path(cls(lr=lr))
        paths[name] = {"lr": lr, "x": xs, "y": ys, "final_f": f(xs[-1], ys[-1]),
                       "y_sign_changes": int(np.sum(np.diff(np.sign(ys)) != 0))}
    return {"settings": {"start": START, "steps": STEPS,
                         "note": "no data, no randomness: --quick and --seed change nothing"},
            "paths": paths}


def plot(result, path_png):
    fig = figure(8, 7)
    axes = fig.subplots(2, 2)
    gx, gy = np.meshgrid(np.arange(-10, 10, 0.05), np.arange(-5, 5, 0.05))
    z = f(gx, gy)
    z[z > 7] = 0  # as the book: no contours beyond 7
    for ax, (name, p) in zip(axes.flat, result["paths"].items()):
        ax.contour(gx, gy, z)
        ax.plot(p["x"], p["y"], "o-", color="red", markersize=3)
        ax.plot(0, 0, "+", color="black")
        ax.set(xlim=(-10, 10), ylim=(-10, 10), title=f"{name} (lr {p['lr']})", xlabel="x", ylabel="y")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    quick_note(fig, result)
    return save(fig, path_png)


def summary(result):
    lines = [f"{name:9} f after {STEPS - 1} steps {p['final_f']:.2e}; y changed sign {p['y_sign_changes']} times"
             for name, p in result["paths"].items()]
    best = min(result["paths"], key=lambda k: result["paths"][k]["final_f"])
    flips = result["paths"]["SGD"]["y_sign_changes"]
    return lines + [f"SGD zigzags: its y flips sign on {flips} of {STEPS - 1} steps while x crawls; "
                    f"{best} ends closest to the minimum (0, 0)."]
