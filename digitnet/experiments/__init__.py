"""The book's experiments (ch. 4-8), one module each, run by `digitnet experiment NAME`.

Every module has NAME, BOOK (the book's script it reproduces), TITLE, run(ctx) -> dict of numbers,
plot(result, path) and summary(result) -> lines of text. runner.py runs one: it seeds it, gives it the
data, writes NAME.json and NAME.png and prints the summary.
"""
import importlib

MODULES = {
    "backprop-vs-numerical": "backprop_vs_numerical",
    "gradient-descent-paths": "gradient_descent_paths",
    "optimizers-mnist": "optimizers_mnist",
    "activation-histograms": "activation_histograms",
    "weight-init-mnist": "weight_init_mnist",
    "batch-norm": "batch_norm",
    "overfitting": "overfitting",
    "hyperparameter-search": "hyperparameter_search",
    "filters": "filters",
    "misclassified": "misclassified",
    "half-float": "half_float",
}
NAMES = tuple(MODULES)


def get(name):
    """The module of experiment `name`."""
    if name not in MODULES:
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{MODULES[name]}")


from .runner import Context, run_experiment  # noqa: E402  (re-exported after the registry; runner.py imports get from here)

__all__ = ["NAMES", "get", "Context", "run_experiment"]
