"""The book's MultiLayerNetExtend (ch. 6): any number of hidden layers, relu or sigmoid, optional
batch normalisation and dropout, L2 weight decay."""
from collections import OrderedDict

import numpy as np

from ..initializers import initial_weights
from ..layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .base import LayeredNet

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid}


class MultiLayerNet(LayeredNet):
    architecture = "mlp"
    default_hidden, default_init, default_optimizer = [100, 100], "he", "sgd"
    hidden_layers = None  # any number
    options = frozenset({"init", "activation", "weight_decay", "dropout", "batch_norm"})

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0.0, use_dropout=False, dropout_ratio=0.5, use_batchnorm=False,
                 *, rng=None, dtype=np.float64):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        rng = np.random if rng is None else rng
        hidden_size_list = list(hidden_size_list)
        self.config = {"input_size": input_size, "hidden_size_list": hidden_size_list, "output_size": output_size,
                       "activation": activation, "weight_init_std": weight_init_std,
                       "weight_decay_lambda": weight_decay_lambda, "use_dropout": use_dropout,
                       "dropout_ratio": dropout_ratio, "use_batchnorm": use_batchnorm}
        self.weight_decay_lambda = weight_decay_lambda
        self.input_dim = (input_size,)
        sizes = [input_size, *hidden_size_list, output_size]
        self.params, self.layers = {}, OrderedDict()
        for i in range(1, len(sizes)):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            self.params[f"W{i}"] = initial_weights(weight_init_std, (fan_in, fan_out), fan_in, rng, dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i == len(sizes) - 1:
                break
            if use_batchnorm:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=dtype)
                self.layers[f"BatchNorm{i}"] = BatchNormalization(
                    self.params[f"gamma{i}"], self.params[f"beta{i}"],
                    running_mean=np.zeros(fan_out, dtype=dtype), running_var=np.ones(fan_out, dtype=dtype))
            self.layers[f"Activation_function{i}"] = ACTIVATIONS[activation]()
            if use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(dropout_ratio, rng=rng if rng is not np.random else None)
        self.lastLayer = SoftmaxWithLoss()
