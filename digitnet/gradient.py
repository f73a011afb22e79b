"""Numerical gradients by central difference, and the gradient check that compares them with backprop."""
import numpy as np


def numerical_gradient(f, x, h=1e-4):
    """The gradient of f at x by central differences: (f(x + h) - f(x - h)) / 2h, one element at a time.

    Slow (two calls of f per element) but obviously right, which is what the gradient check needs. x is
    perturbed in place and every element is restored exactly afterwards.

    Args:
        f: a function of no arguments that matter (the book passes x and ignores it) returning a number;
            it must read x, which is changed under it.
        x: a NumPy float array of any shape.
        h: the step.

    Returns:
        A float64 array shaped like x.

    Examples:
        >>> import numpy as np
        >>> from digitnet import numerical_gradient
        >>> x = np.array([3.0, 4.0])
        >>> numerical_gradient(lambda _: np.sum(x ** 2), x).round(6)
        array([6., 8.])
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        original = x[idx].copy()
        x[idx] = original + h
        f_plus = float(f(x))
        x[idx] = original - h
        f_minus = float(f(x))
        x[idx] = original  # the saved value, not (value + h) - h, which rounds
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def relative_error(backprop, numerical, floor=1e-12):
    """Largest element difference relative to the gradient's scale: O(1) for a wrong backward pass,
    tiny for a right one, and unaffected by elements that are zero in both. floor: the smallest scale, so that
    a gradient that is rightly zero (rounding noise both ways) is not judged relative to its own noise."""
    backprop = np.asarray(backprop, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    scale = max(np.abs(backprop).max(), np.abs(numerical).max(), floor)
    return float(np.abs(backprop - numerical).max() / scale)


# Central differences with h = 1e-4 on a float64 net err by about 1e-8 of the gradient's scale;
# a backward-pass bug (a dropped 1/N, a transpose, a wrong sign) errs by 1e-1 or more.
DEFAULT_TOLERANCE = 1e-5
# Each parameter's error is measured against its own gradient's scale, but never against less than this
# fraction of the whole net's: a gradient that is rightly zero (a bias before batch norm) comes out as rounding
# noise, 1e-16 by backprop and 1e-12 numerically, and noise against noise is no error. A wrong gradient as
# small as 1e-8 of the net's scale still errs by more than the tolerance.
SCALE_FLOOR = 1e-3


def gradient_check(net, x, t, tolerance=DEFAULT_TOLERANCE, loss=None):
    """Compare a network's backprop gradient with the numerical gradient of its loss on (x, t).

    The book's gradient_check.py, with a verdict: for each parameter, the mean absolute difference (the figure
    the book prints) and the largest difference relative to the gradient's scale, which is tiny (1e-8) for a
    right backward pass and 0.1 or more for a wrong one. A parameter whose gradient is far smaller than the
    rest of the net's (or rightly zero, as a bias before batch norm) is measured against SCALE_FLOOR times the
    net's largest gradient instead. Use float64 networks and a few samples.

    Args:
        net: a network with `params`, `gradient(x, t)` and `numerical_gradient(x, t)` (every digitnet net).
        x: a few inputs.
        t: their targets (labels or one-hot).
        tolerance: the largest max relative error that counts as ok.
        loss: a function loss(x, t) to differentiate numerically instead of net.loss (e.g. the book's loss).

    Returns:
        {param name: {"mean_abs_diff", "max_rel_error", "ok"}}.

    Examples:
        >>> import numpy as np
        >>> from digitnet import TwoLayerNet, gradient_check
        >>> rng = np.random.default_rng(0)
        >>> net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=rng)
        >>> report = gradient_check(net, rng.standard_normal((2, 4)), np.array([0, 2]))
        >>> sorted(report), all(r["ok"] for r in report.values())
        (['W1', 'W2', 'b1', 'b2'], True)
    """
    backprop = net.gradient(x, t)
    if loss is None:
        numerical = net.numerical_gradient(x, t)
    else:
        numerical = {key: numerical_gradient(lambda _: loss(x, t), net.params[key]) for key in net.params}
    net_scale = max(max(np.abs(backprop[key]).max(), np.abs(numerical[key]).max()) for key in net.params)
    report = {}
    for key in net.params:
        rel = relative_error(backprop[key], numerical[key], floor=max(SCALE_FLOOR * net_scale, 1e-12))
        report[key] = {
            "mean_abs_diff": float(np.mean(np.abs(backprop[key] - numerical[key]))),
            "max_rel_error": rel,
            "ok": rel <= tolerance,
        }
    return report


def report_table(report, digits=3):
    """gradient_check's report as printable lines: a header, then one row per parameter with the book's
    figure (mean |backprop - numerical|), the max relative error, and ok or FAIL."""
    lines = [f"{'param':6} {'mean |backprop - numerical|':>28} {'max relative error':>19}"]
    for key, r in report.items():
        lines.append(f"{key:6} {r['mean_abs_diff']:28.{digits}e} {r['max_rel_error']:19.{digits}e}  "
                     f"{'ok' if r['ok'] else 'FAIL'}")
    return lines
