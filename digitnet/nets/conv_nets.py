"""The book's convolutional networks: SimpleConvNet (ch. 7) and DeepConvNet (ch. 8).

Both take images as (N, C, H, W) or flattened rows, which predict reshapes to input_dim.
"""
from collections import OrderedDict

import numpy as np

from ..im2col import conv_output_size
from ..initializers import initial_weights
from ..layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from .base import LayeredNet


class ConvNet(LayeredNet):
    convolutional = True
    train_eval_size = 5000  # a full pass costs as much as an epoch of inference; 5,000 tell as much

    def add_param_layer(self, name, layer_cls, index, W, b, **kwargs):
        """params W<index> and b<index>, and the layer that holds them: layers[name] = layer_cls(W, b)."""
        self.params[f"W{index}"], self.params[f"b{index}"] = W, b
        self.layers[name] = layer_cls(W, b, **kwargs)


class SimpleConvNet(ConvNet):
    """conv (30 5x5 filters) - relu - 2x2 max pool - affine 100 - relu - affine 10 - softmax."""

    architecture = "simple-cnn"
    default_hidden, default_init = [100], 0.01
    options = frozenset({"init", "weight_decay"})

    def __init__(self, input_dim=(1, 28, 28), conv_param=None, hidden_size=100, output_size=10,
                 weight_init_std=0.01, weight_decay_lambda=0.0, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        self.input_dim = tuple(input_dim)
        self.config = {"input_dim": list(self.input_dim), "conv_param": conv_param, "hidden_size": hidden_size,
                       "output_size": output_size, "weight_init_std": weight_init_std,
                       "weight_decay_lambda": weight_decay_lambda}
        self.weight_decay_lambda = weight_decay_lambda
        fn, fs, pad, stride = (conv_param[k] for k in ("filter_num", "filter_size", "pad", "stride"))
        channels, size = self.input_dim[0], self.input_dim[1]
        pool_side = conv_output_size(conv_output_size(size, fs, stride, pad), 2, 2)  # conv, then the 2x2 pool
        pool_out = fn * pool_side * pool_side

        def weights(shape, fan_in):
            return initial_weights(weight_init_std, shape, fan_in, rng, dtype)

        self.params, self.layers = {}, OrderedDict()
        self.add_param_layer("Conv1", Convolution, 1, weights((fn, channels, fs, fs), channels * fs * fs),
                             np.zeros(fn, dtype), stride=stride, pad=pad)
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.add_param_layer("Affine1", Affine, 2, weights((pool_out, hidden_size), pool_out),
                             np.zeros(hidden_size, dtype))
        self.layers["Relu2"] = Relu()
        self.add_param_layer("Affine2", Affine, 3, weights((hidden_size, output_size), hidden_size),
                             np.zeros(output_size, dtype))
        self.lastLayer = SoftmaxWithLoss()


# The book's ch. 8 net: six 3x3 convolutions, paddings 1,1,1,2,1,1, a max pool after every second one.
DEEP_CONV_FILTERS = (16, 16, 32, 32, 64, 64)
DEEP_CONV_PADS = (1, 1, 1, 2, 1, 1)


class DeepConvNet(ConvNet):
    """conv-relu-conv-relu-pool x3 - affine 50 - relu - dropout 0.5 - affine 10 - dropout 0.5 - softmax (He init)."""

    architecture = "deep-cnn"
    default_hidden, default_dropout = [50], 0.5
    options = frozenset({"weight_decay", "dropout"})

    def __init__(self, input_dim=(1, 28, 28), hidden_size=50, output_size=10, dropout_ratio=0.5,
                 weight_decay_lambda=0.0, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        self.input_dim = tuple(input_dim)
        self.config = {"input_dim": list(self.input_dim), "hidden_size": hidden_size,
                       "output_size": output_size, "dropout_ratio": dropout_ratio,
                       "weight_decay_lambda": weight_decay_lambda}
        self.weight_decay_lambda = weight_decay_lambda
        self.params, self.layers = {}, OrderedDict()
        channels, size = self.input_dim[0], self.input_dim[1]
        for i, (filters, pad) in enumerate(zip(DEEP_CONV_FILTERS, DEEP_CONV_PADS), start=1):
            W = initial_weights("he", (filters, channels, 3, 3), channels * 9, rng, dtype)
            self.add_param_layer(f"Conv{i}", Convolution, i, W, np.zeros(filters, dtype), stride=1, pad=pad)
            self.layers[f"Relu{i}"] = Relu()
            channels, size = filters, conv_output_size(size, 3, 1, pad)
            if i % 2 == 0:
                self.layers[f"Pool{i // 2}"] = Pooling(pool_h=2, pool_w=2, stride=2)
                size = conv_output_size(size, 2, 2)
        flat = channels * size * size  # 64 * 4 * 4 for MNIST
        dropout_rng = rng if rng is not np.random else None
        W7 = initial_weights("he", (flat, hidden_size), flat, rng, dtype)
        self.add_param_layer("Affine1", Affine, 7, W7, np.zeros(hidden_size, dtype))
        self.layers["Relu7"] = Relu()
        self.layers["Dropout1"] = Dropout(dropout_ratio, rng=dropout_rng)
        W8 = initial_weights("he", (hidden_size, output_size), hidden_size, rng, dtype)
        self.add_param_layer("Affine2", Affine, 8, W8, np.zeros(output_size, dtype))
        self.layers["Dropout2"] = Dropout(dropout_ratio, rng=dropout_rng)
        self.lastLayer = SoftmaxWithLoss()
