"""Numerical gradients by central difference, and the gradient check that compares them with backprop."""
import numpy as np


def numerical_gradient(f, x, h=1e-4):
    """d f() / d x by central difference, for an array x of any shape.

    f is called with no arguments that matter (the book passes x and ignores it): it reads x, which
    is perturbed in place one element at a time and restored exactly afterwards.
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


def relative_error(backprop, numerical):
    """Largest element difference relative to the gradient's scale: O(1) for a wrong backward pass,
    tiny for a right one, and unaffected by elements that are zero in both."""
    backprop = np.asarray(backprop, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    scale = max(np.abs(backprop).max(), np.abs(numerical).max(), 1e-12)
    return float(np.abs(backprop - numerical).max() / scale)


# Central differences with h = 1e-4 on a float64 net err by about 1e-8 of the gradient's scale;
# a backward-pass bug (a dropped 1/N, a transpose, a wrong sign) errs by 1e-1 or more.
DEFAULT_TOLERANCE = 1e-5


def gradient_check(net, x, t, tolerance=DEFAULT_TOLERANCE, loss=None):
    """Compare net.gradient (backprop) with the numerical gradient of the loss on (x, t).

    loss(x, t) is the function differentiated numerically; None means net.loss. Returns
    {param name: {"mean_abs_diff", "max_rel_error", "ok"}}, mean_abs_diff being the figure the book prints.
    """
    backprop = net.gradient(x, t)
    if loss is None:
        numerical = net.numerical_gradient(x, t)
    else:
        numerical = {key: numerical_gradient(lambda _: loss(x, t), net.params[key]) for key in net.params}
    report = {}
    for key in net.params:
        rel = relative_error(backprop[key], numerical[key])
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
