"""Build a network by name with the command line's options, each model getting its class's defaults.

What a model takes and its defaults are declared on its class (LayeredNet's family attributes); this
module only maps the names to the classes and refuses options a model does not take.
"""
import numpy as np

from . import ARCHITECTURES
from .conv_nets import DeepConvNet, SimpleConvNet
from .fast_cnn import FastConvNet
from .multi_layer_net import MultiLayerNet
from .two_layer_net import TwoLayerNet

MODELS = tuple(ARCHITECTURES)
OPTION_NAMES = {"init": "init", "activation": "activation", "weight_decay": "weight decay", "dropout": "dropout",
                "batch_norm": "batch norm", "label_smoothing": "label smoothing"}


def net_class(model):
    """The class --model names; ValueError naming the choices for any other name."""
    try:
        return ARCHITECTURES[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODELS)}") from None


def _refuse_unsupported(cls, hidden, given):
    if cls.hidden_layers is not None and len(hidden) != cls.hidden_layers:
        raise ValueError(f"{cls.architecture} has one hidden layer: give one size, not {hidden}")
    refused = [k for k, used in given.items() if used and k not in cls.options]
    if refused:
        def takers(key):
            return " and ".join(sorted(m for m, c in ARCHITECTURES.items() if key in c.options)) or "no model"
        raise ValueError(f"{cls.architecture} does not take {', '.join(OPTION_NAMES[k] for k in refused)} ("
                         + "; ".join(f"{OPTION_NAMES[k]}: {takers(k)}" for k in refused) + ")")


def build_net(model, *, input_size=784, output_size=10, hidden=None, init=None, activation="relu",
              weight_decay=0.0, dropout=None, batch_norm=False, label_smoothing=0.0, rng=None, dtype=np.float32):
    """hidden: a list of hidden sizes (one for every model but mlp and fast-cnn, whose sizes are its stages'
    widths); init: a std, 'xavier' or 'he'; dropout: a ratio, or None for the model's default (0.5 for
    deep-cnn, off for the others); label_smoothing: the loss's (fast-cnn only)."""
    cls = net_class(model)
    hidden = list(cls.default_hidden if hidden is None else hidden)  # [] is no hidden layer, not the default
    given = {"init": init is not None and init != cls.default_init, "activation": activation != "relu",
             "weight_decay": bool(weight_decay), "dropout": bool(dropout) and dropout != cls.default_dropout,
             "batch_norm": batch_norm, "label_smoothing": bool(label_smoothing)}
    _refuse_unsupported(cls, hidden, given)
    init = cls.default_init if init is None else init
    dropout = cls.default_dropout if dropout is None else dropout
    if cls.convolutional:
        side = int(round(np.sqrt(input_size)))
        if side * side != input_size:
            raise ValueError(f"{model} needs square images; {input_size} inputs are not")
        input_dim = (1, side, side)
    if cls is TwoLayerNet:
        return TwoLayerNet(input_size, hidden[0], output_size, init, rng=rng, dtype=dtype)
    if cls is MultiLayerNet:
        return MultiLayerNet(input_size, hidden, output_size, activation=activation, weight_init_std=init,
                             weight_decay_lambda=weight_decay, use_dropout=dropout > 0, dropout_ratio=dropout or 0.5,
                             use_batchnorm=batch_norm, rng=rng, dtype=dtype)
    if cls is SimpleConvNet:
        return SimpleConvNet(input_dim, hidden_size=hidden[0], output_size=output_size, weight_init_std=init,
                             weight_decay_lambda=weight_decay, rng=rng, dtype=dtype)
    if cls is FastConvNet:
        return FastConvNet(input_dim, channels=hidden, output_size=output_size, weight_init_std=init,
                           weight_decay_lambda=weight_decay, label_smoothing=label_smoothing, rng=rng, dtype=dtype)
    return DeepConvNet(input_dim, hidden_size=hidden[0], output_size=output_size, dropout_ratio=dropout,
                       weight_decay_lambda=weight_decay, rng=rng, dtype=dtype)
