"""Import the book's pickled weight files into digitnet networks, without letting the pickle run code.

sample_weight.pkl (ch. 3: 784-50-100-10 sigmoid net), params.pkl (ch. 7 SimpleConvNet) and
deep_convnet_params.pkl (ch. 8 DeepConvNet) are pickled dicts of NumPy arrays. Unpickling can call
any importable function, so the unpickler here admits only the few globals that rebuild an ndarray.
"""
import pickle
from pathlib import Path

import numpy as np

from ..errors import DigitnetError
from ..nets import DeepConvNet, MultiLayerNet, SimpleConvNet


class BookWeightsError(DigitnetError):
    """A book weight file is unsafe, unreadable, or does not fit the chosen network."""


# What pickle.dumps({"W1": ndarray}) refers to, under NumPy 1 and NumPy 2 names; nothing else.
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # protocol-2 pickles spell bytes this way
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise BookWeightsError(f"refused: the pickle asks for {module}.{name}, which a dict of NumPy arrays "
                                   "never needs (a pickle can run code)")
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core", 1) if hasattr(np, "_core") else module
        return super().find_class(module, name)


def read_book_pickle(path):
    """{name: float ndarray} from a book weight file, refusing anything but arrays."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = ArrayOnlyUnpickler(f).load()
    except BookWeightsError as e:
        raise BookWeightsError(f"{path}: {e}") from None
    except FileNotFoundError:
        raise BookWeightsError(f"{path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as e:
        said = " ".join(str(e).split())  # one line: some of pickle's messages run over two
        raise BookWeightsError(f"{path}: not a readable pickle ({type(e).__name__}: {said})") from None
    if not isinstance(data, dict) or not data:
        raise BookWeightsError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            raise BookWeightsError(f"{path}: entry {key!r} is not a numeric NumPy array")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(np.count_nonzero(~np.isfinite(value)))
            raise BookWeightsError(f"{path}: {key} holds {bad} NaN or infinite value{'s' * (bad > 1)}; "
                                   "a network with them predicts nothing")
    return {key: value.astype(np.float64) for key, value in data.items()}


def _require(path, weights, names, ndim=None):
    """BookWeightsError unless weights hold every name, and those in ndim ({name: dimensions}) are that shape."""
    missing = [n for n in names if n not in weights]
    if missing:
        raise BookWeightsError(f"{path}: missing {', '.join(missing)} (found {', '.join(sorted(weights))})")
    for name, dims in (ndim or {}).items():
        if weights[name].ndim != dims:
            raise BookWeightsError(f"{path}: {name} has shape {weights[name].shape}, not the {dims}-d array "
                                   f"the book's {'filters' if dims == 4 else 'weights'} are")


def _network(path, cls, **kwargs):
    """cls(**kwargs), or BookWeightsError where the weights' shapes make no such network (a filter too large)."""
    try:
        return cls(**kwargs)
    except ValueError as e:
        raise BookWeightsError(f"{path}: the weights' shapes make no {cls.__name__}: {e}") from None


def _fill(path, net, weights):
    if set(weights) != set(net.params):
        raise BookWeightsError(f"{path}: keys {sorted(weights)} do not match the network's {sorted(net.params)}")
    for key, value in weights.items():
        if value.shape != net.params[key].shape:
            raise BookWeightsError(f"{path}: {key} has shape {value.shape}, the network needs {net.params[key].shape}")
        net.params[key][...] = value
    return net


def import_mlp(path, weights):
    """ch. 3's sample_weight.pkl: sigmoid hidden layers, sizes read off the weight shapes."""
    layers = sorted(int(k[1:]) for k in weights if k[:1] == "W" and k[1:].isdigit())
    if not layers:
        raise BookWeightsError(f"{path}: no weight matrices W1, W2, ... (found {', '.join(sorted(weights))})")
    _require(path, weights, [f"{p}{i}" for i in layers for p in "Wb"], {f"W{i}": 2 for i in layers})
    sizes = [weights[f"W{i}"].shape for i in layers]
    net = _network(path, MultiLayerNet, input_size=sizes[0][0], hidden_size_list=[s[1] for s in sizes[:-1]],
                   output_size=sizes[-1][1], activation="sigmoid")
    return _fill(path, net, weights)


def import_simple_cnn(path, weights, image_size=28):
    """ch. 7's params.pkl: conv W1 (filters, channels, k, k), affine W2, W3."""
    _require(path, weights, ["W1", "b1", "W2", "b2", "W3", "b3"], {"W1": 4, "W2": 2, "W3": 2})
    filters, channels, k, _ = weights["W1"].shape
    net = _network(path, SimpleConvNet, input_dim=(channels, image_size, image_size),
                   conv_param={"filter_num": filters, "filter_size": k, "pad": 0, "stride": 1},
                   hidden_size=weights["W2"].shape[1], output_size=weights["W3"].shape[1])
    return _fill(path, net, weights)


def import_deep_cnn(path, weights, dropout_ratio=0.5):
    """ch. 8's deep_convnet_params.pkl.

    The book's Dropout multiplies by (1 - ratio) at inference; digitnet's scales in training instead
    and is the identity at inference. The book's scores are (1-r) * ((1-r) * h @ W8 + b8), so
    W8 takes (1-r)**2 and b8 takes (1-r): digitnet then predicts exactly what the book does.
    """
    _require(path, weights, [f"{p}{i}" for i in range(1, 9) for p in "Wb"], {"W1": 4, "W7": 2, "W8": 2})
    net = _network(path, DeepConvNet, input_dim=(weights["W1"].shape[1], 28, 28),
                   hidden_size=weights["W7"].shape[1], output_size=weights["W8"].shape[1], dropout_ratio=dropout_ratio)
    keep = 1.0 - dropout_ratio
    weights = dict(weights, W8=weights["W8"] * keep * keep, b8=weights["b8"] * keep)
    return _fill(path, net, weights)


IMPORTERS = {"mlp": import_mlp, "simple-cnn": import_simple_cnn, "deep-cnn": import_deep_cnn}


def import_book_weights(path, model):
    """A digitnet network holding the weights of the book's pickle at path; model: mlp, simple-cnn or deep-cnn."""
    if model not in IMPORTERS:
        raise BookWeightsError(f"unknown model {model!r}: use one of {', '.join(IMPORTERS)}")
    return IMPORTERS[model](Path(path), read_book_pickle(path))
