"""The book's MultiLayerNetExtend (ch. 6): any number of hidden layers, relu or sigmoid, optional
batch normalisation and dropout, L2 weight decay."""
from collections import OrderedDict

import numpy as np

from ..initializers import initial_weights
from ..layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .base import LayeredNet

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid}


class MultiLayerNet(LayeredNet):
    """The book's MultiLayerNetExtend (ch. 6): any number of hidden layers, with the chapter's techniques.

    Affine -> activation (-> BatchNormalization before it, -> Dropout after it) for each hidden layer, then
    Affine -> SoftmaxWithLoss. Parameters are W1, b1, ... (and gamma1, beta1, ... with batch norm); with weight
    decay, the loss adds lambda / 2 * sum(W ** 2) over the weight matrices and each gradient lambda * W.

    Args:
        input_size: inputs per sample (784 for MNIST).
        hidden_size_list: the hidden layers' sizes, e.g. [100, 100, 100].
        output_size: classes (10).
        activation: "relu" or "sigmoid".
        weight_init_std: a standard deviation, "relu"/"he" (sqrt(2 / n)) or "sigmoid"/"xavier" (sqrt(1 / n)).
        weight_decay_lambda: the L2 weight decay's lambda (0: none).
        use_dropout: add a Dropout after each hidden activation.
        dropout_ratio: its ratio.
        use_batchnorm: add a BatchNormalization before each hidden activation.
        rng: a NumPy Generator for the initial weights (and the dropout masks); None: np.random for the weights,
            an unseeded generator for the masks.
        dtype: the parameters' dtype.

    Examples:
        >>> import numpy as np
        >>> from digitnet import MultiLayerNet
        >>> net = MultiLayerNet(784, [100, 100], 10, use_batchnorm=True, rng=np.random.default_rng(0))
        >>> list(net.layers)
        ['Affine1', 'BatchNorm1', 'Activation_function1', 'Affine2', 'BatchNorm2', 'Activation_function2', 'Affine3']
        >>> sorted(net.params)
        ['W1', 'W2', 'W3', 'b1', 'b2', 'b3', 'beta1', 'beta2', 'gamma1', 'gamma2']
    """
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
