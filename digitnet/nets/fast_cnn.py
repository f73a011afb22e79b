"""FastConvNet (`--model fast-cnn`): a small net and the training recipe that takes it past 99 % in seconds.

Three stages of conv 3x3 (padding 1) - batch norm over channels - relu - 2x2 max pool take a 28x28 digit to
14, 7 and 3 pixels a side; one affine layer makes the ten scores. The layers pool before the relu: max commutes
with the ReLU, float for float in both passes (ties too), and so the relu runs on a quarter of the pixels.
Batch norm lets the net train at a high learning rate from the first steps, and since it subtracts any
constant again, the convolutions have no bias (their b is a zero array outside params: no parameter, no
update). The recipe it trains with unless told
otherwise (schedule, label smoothing, augmentation, epochs) is declared on the class as `recipe`; the
measurements behind each choice are in docs/performance.md.
"""
from collections import OrderedDict

import numpy as np

from ..im2col import conv_output_size
from ..initializers import initial_weights
from ..layers import Affine, ChannelBatchNorm, Convolution, Pooling, Relu, SoftmaxWithLoss
from .conv_nets import ConvNet, square_images

FAST_CONV_CHANNELS = (16, 32, 64)


class FastConvNet(ConvNet):
    """(conv 3x3 - channel batch norm - relu - 2x2 max pool) per width in channels - affine - softmax.

    channels: each stage's number of filters (--hidden on the command line: 16,32,64 unless given);
    label_smoothing: the loss layer's (see SoftmaxWithLoss)."""

    architecture = "fast-cnn"
    default_hidden = list(FAST_CONV_CHANNELS)
    hidden_layers = None  # any number of stages, each a width
    default_init = "pytorch"
    options = frozenset({"init", "weight_decay", "label_smoothing"})
    train_eval_size = 1000  # its run is short: an epoch's evaluation would cost a third of it with 5,000
    # what `digitnet train --model fast-cnn` trains with unless told otherwise (RunSettings.resolved)
    recipe = {"epochs": 8, "batch_size": 100, "optimizer": "nesterov", "lr": 0.1, "weight_decay": 5e-4,
              "schedule": "one-cycle", "augment": True, "sampling": "shuffle", "label_smoothing": 0.0}

    def __init__(self, input_dim=(1, 28, 28), channels=FAST_CONV_CHANNELS, output_size=10, weight_init_std="pytorch",
                 weight_decay_lambda=0.0, label_smoothing=0.0, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        self.input_dim = square_images(input_dim)  # (1, 8, 6) was built, and could never run
        self.config = {"input_dim": list(self.input_dim), "channels": [int(c) for c in channels],
                       "output_size": output_size, "weight_init_std": weight_init_std,
                       "weight_decay_lambda": weight_decay_lambda, "label_smoothing": label_smoothing}
        self.weight_decay_lambda = weight_decay_lambda
        self.params, self.layers = {}, OrderedDict()
        in_channels, size = self.input_dim[0], self.input_dim[1]
        for i, filters in enumerate(self.config["channels"], start=1):
            if size < 2:
                raise ValueError(f"{len(self.config['channels'])} stages pool a {self.input_dim[1]}-pixel image "
                                 "to nothing")
            W = initial_weights(weight_init_std, (filters, in_channels, 3, 3), in_channels * 9, rng, dtype)
            self.params[f"W{i}"], self.params[f"gamma{i}"] = W, np.ones(filters, dtype)
            self.params[f"beta{i}"] = np.zeros(filters, dtype)
            self.layers[f"Conv{i}"] = Convolution(W, np.zeros(filters, dtype), stride=1, pad=1)
            self.layers[f"BatchNorm{i}"] = ChannelBatchNorm(self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                                            running_mean=np.zeros(filters, dtype),
                                                            running_var=np.ones(filters, dtype))
            self.layers[f"Pool{i}"] = Pooling(pool_h=2, pool_w=2, stride=2)
            self.layers[f"Relu{i}"] = Relu()
            in_channels, size = filters, conv_output_size(size, 2, 2)
        flat = in_channels * size * size  # 64 * 3 * 3 for MNIST
        n = len(self.config["channels"]) + 1
        self.params[f"W{n}"] = initial_weights(weight_init_std, (flat, output_size), flat, rng, dtype)
        self.params[f"b{n}"] = np.zeros(output_size, dtype)
        self.layers["Affine1"] = Affine(self.params[f"W{n}"], self.params[f"b{n}"])
        self.lastLayer = SoftmaxWithLoss(label_smoothing)
