"""The book's convolutional networks: SimpleConvNet (ch. 7) and DeepConvNet (ch. 8).

Both take images as (N, C, H, W) or flattened rows, which predict reshapes to input_dim.
"""
from collections import OrderedDict

import numpy as np

from ..im2col import conv_output_size
from ..initializers import initial_weights
from ..layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from .base import LayeredNet

CONV_DEFAULTS = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}  # SimpleConvNet's, the book's


def square_images(input_dim):
    """input_dim as a (channels, height, width) tuple; ValueError unless the images are square (the layers after
    the convolutions are sized from the height alone: a net of 28x20 images was built, and could never run)."""
    input_dim = tuple(input_dim)
    if len(input_dim) != 3 or input_dim[1] != input_dim[2]:
        raise ValueError(f"input_dim must be (channels, height, width) of square images, not {input_dim}")
    return input_dim


class ConvNet(LayeredNet):
    convolutional = True
    train_eval_size = 5000  # a full pass costs as much as an epoch of inference; 5,000 tell as much

    def add_param_layer(self, name, layer_cls, index, W, b, **kwargs):
        """params W<index> and b<index>, and the layer that holds them: layers[name] = layer_cls(W, b)."""
        self.params[f"W{index}"], self.params[f"b{index}"] = W, b
        self.layers[name] = layer_cls(W, b, **kwargs)


class SimpleConvNet(ConvNet):
    """The book's convolutional network (ch. 7): conv - relu - pool - affine - relu - affine - softmax.

    Convolution (30 filters of 5x5 by default) -> Relu -> 2x2 max Pooling -> Affine (hidden_size) -> Relu ->
    Affine (output_size) -> SoftmaxWithLoss. Takes images as (N, C, H, W), or flattened rows, which `predict`
    reshapes to input_dim.

    Args:
        input_dim: one image's shape, (channels, height, width).
        conv_param: the convolution's {"filter_num", "filter_size", "pad", "stride"}; missing keys take the
            book's 30, 5, 0, 1.
        hidden_size: units in the hidden affine layer.
        output_size: classes.
        weight_init_std: the initial weights' standard deviation (the book's 0.01), or "xavier" or "he".
        weight_decay_lambda: L2 weight decay (0: none).
        rng: a NumPy Generator for the initial weights; None uses np.random.
        dtype: the parameters' dtype.

    Examples:
        >>> import numpy as np
        >>> from digitnet import SimpleConvNet
        >>> net = SimpleConvNet(rng=np.random.default_rng(0), dtype=np.float32)
        >>> " -> ".join(net.layers)
        'Conv1 -> Relu1 -> Pool1 -> Affine1 -> Relu2 -> Affine2'
        >>> net.params["W1"].shape, net.predict(np.zeros((2, 784), np.float32)).shape
        ((30, 1, 5, 5), (2, 10))
    """

    architecture = "simple-cnn"
    default_hidden, default_init = [100], 0.01
    options = frozenset({"init", "weight_decay"})

    def __init__(self, input_dim=(1, 28, 28), conv_param=None, hidden_size=100, output_size=10,
                 weight_init_std=0.01, weight_decay_lambda=0.0, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        unknown = sorted(set(conv_param or {}) - set(CONV_DEFAULTS))
        if unknown:  # before: a misspelt key was left out without a word
            raise ValueError(f"conv_param takes {', '.join(CONV_DEFAULTS)}, not {', '.join(map(repr, unknown))}")
        conv_param = {**CONV_DEFAULTS, **(conv_param or {})}
        self.input_dim = square_images(input_dim)
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
    """The book's deep network (ch. 8), about 99.3 % on MNIST: six 3x3 convolutions, three poolings, two affines.

    conv-relu-conv-relu-pool three times (16, 16, 32, 32, 64, 64 filters) -> Affine (hidden_size) -> Relu ->
    Dropout -> Affine (output_size) -> Dropout -> SoftmaxWithLoss, with He initial weights. The bundled model
    `digitnet.pretrained("deep-cnn")` is one, trained.

    Args:
        input_dim: one image's shape, (channels, height, width).
        hidden_size: units in the hidden affine layer.
        output_size: classes.
        dropout_ratio: both Dropout layers' ratio.
        weight_decay_lambda: L2 weight decay (0: none).
        rng: a NumPy Generator for the initial weights and the dropout masks; None: np.random for the weights,
            an unseeded generator for the masks.
        dtype: the parameters' dtype.

    Examples:
        >>> import numpy as np
        >>> from digitnet import DeepConvNet
        >>> net = DeepConvNet(rng=np.random.default_rng(0), dtype=np.float32)
        >>> [k for k in net.layers if k.startswith(("Conv", "Pool"))]
        ['Conv1', 'Conv2', 'Pool1', 'Conv3', 'Conv4', 'Pool2', 'Conv5', 'Conv6', 'Pool3']
        >>> net.predict(np.zeros((1, 1, 28, 28), np.float32)).shape
        (1, 10)
    """

    architecture = "deep-cnn"
    default_hidden, default_dropout = [50], 0.5
    options = frozenset({"weight_decay", "dropout"})

    def __init__(self, input_dim=(1, 28, 28), hidden_size=50, output_size=10, dropout_ratio=0.5,
                 weight_decay_lambda=0.0, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        self.input_dim = square_images(input_dim)
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
