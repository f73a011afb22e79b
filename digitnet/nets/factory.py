"""Build a network by name with the command line's options, each model getting the book's defaults."""
import numpy as np

from .conv_nets import DeepConvNet, SimpleConvNet
from .multi_layer_net import MultiLayerNet
from .two_layer_net import TwoLayerNet

MODELS = ("two-layer", "mlp", "simple-cnn", "deep-cnn")
DEFAULT_HIDDEN = {"two-layer": [50], "mlp": [100, 100], "simple-cnn": [100], "deep-cnn": [50]}
DEFAULT_INIT = {"two-layer": 0.01, "mlp": "he", "simple-cnn": 0.01, "deep-cnn": "he"}
# The book trains its conv nets with Adam (lr 0.001): with SGD 0.1 they stay at chance for an epoch or more.
DEFAULT_OPTIMIZER = {"two-layer": "sgd", "mlp": "sgd", "simple-cnn": "adam", "deep-cnn": "adam"}


def build_net(model, *, input_size=784, output_size=10, hidden=None, init=None, activation="relu",
              weight_decay=0.0, dropout=0.0, batch_norm=False, rng=None, dtype=np.float32):
    """hidden: a list of hidden sizes (one for every model but mlp); init: a std, 'xavier' or 'he'."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
    hidden = list(hidden or DEFAULT_HIDDEN[model])
    init = DEFAULT_INIT[model] if init is None else init
    if model != "mlp":
        if len(hidden) != 1:
            raise ValueError(f"{model} has one hidden layer: give one size, not {hidden}")
        unsupported = {"weight decay": weight_decay and model == "two-layer", "batch norm": batch_norm,
                       "activation": activation != "relu", "dropout": dropout and model != "deep-cnn",
                       "init": model == "deep-cnn" and init != "he"}
        named = [name for name, used in unsupported.items() if used]
        if named:
            raise ValueError(f"{model} does not take {', '.join(named)} (mlp takes them all)")
    if model in ("simple-cnn", "deep-cnn"):
        side = int(round(np.sqrt(input_size)))
        if side * side != input_size:
            raise ValueError(f"{model} needs square images; {input_size} inputs are not")
        input_dim = (1, side, side)
    if model == "two-layer":
        return TwoLayerNet(input_size, hidden[0], output_size, init, rng=rng, dtype=dtype)
    if model == "mlp":
        return MultiLayerNet(input_size, hidden, output_size, activation=activation, weight_init_std=init,
                             weight_decay_lambda=weight_decay, use_dropout=dropout > 0, dropout_ratio=dropout or 0.5,
                             use_batchnorm=batch_norm, rng=rng, dtype=dtype)
    if model == "simple-cnn":
        return SimpleConvNet(input_dim, hidden_size=hidden[0], output_size=output_size, weight_init_std=init,
                             weight_decay_lambda=weight_decay, rng=rng, dtype=dtype)
    return DeepConvNet(input_dim, hidden_size=hidden[0], output_size=output_size, dropout_ratio=dropout or 0.5,
                       weight_decay_lambda=weight_decay, rng=rng, dtype=dtype)
