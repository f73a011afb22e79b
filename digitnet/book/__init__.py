"""The book's modules in one place: every name that "Deep Learning from Scratch" ch. 4-8 scripts import.

A script written against the book's repository runs after its import lines change, e.g.

    from common.multi_layer_net_extend import MultiLayerNetExtend   ->   from digitnet.book import MultiLayerNetExtend
    from common.layers import *                                      ->   from digitnet.book import *

The names keep the book's signatures and behaviour, and are digitnet's own classes underneath:
  common.functions   identity_function, step_function, sigmoid, sigmoid_grad, relu, relu_grad, softmax,
                     sum_squared_error, cross_entropy_error, softmax_loss
  common.gradient    numerical_gradient
  common.layers      Relu, Sigmoid, Affine, SoftmaxWithLoss, Dropout, BatchNormalization, Convolution, Pooling
  common.optimizer   SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam
  common.util        smooth_curve, shuffle_dataset, conv_output_size, im2col, col2im
  common.trainer     Trainer
  common.multi_layer_net(_extend)   MultiLayerNet, MultiLayerNetExtend (dropout_ration, as the book spells it)
  dataset.mnist      load_mnist(normalize, flatten, one_hot_label)
  two_layer_net, simple_convnet, deep_convnet, layer_naive   TwoLayerNet, SimpleConvNet, DeepConvNet, MulLayer, AddLayer

Differences a reader may notice:
  - Randomness comes from np.random, as in the book (np.random.seed(...) makes a script repeatable),
    including the dropout masks.
  - Dropout is digitnet's inverted dropout (scaled in training, the identity at inference); the book scales
    by (1 - ratio) at inference. Predictions differ only by a constant factor per layer, so accuracies match.
    DeepConvNet.save_params writes, and load_params reads, the book's convention, so pickles go both ways.
  - load_params reads pickles through an unpickler that admits only NumPy arrays (book_weights).
  - load_mnist never downloads into a script's folder: it reads $DIGITNET_DATA_DIR if set, else the
    full MNIST from digitnet's cache, else the bundled offline sample; it says which on stderr.
  - Trainer evaluates at the end of each epoch (the book: after each epoch's first step); the loss it
    records for a step is the batch's loss before the update (the book's: after).
"""
import os
import pickle
import sys

import numpy as np

from .. import nets as _nets
from ..functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_cross_entropy,
    step_function,
)
from ..gradient import numerical_gradient
from ..im2col import col2im, conv_output_size, im2col
from ..layer_naive import AddLayer, MulLayer
from ..layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from ..nets.conv_nets import DEEP_CONV_FILTERS, DEEP_CONV_PADS
from ..optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .weights import _fill, read_book_pickle

__all__ = [
    "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad", "softmax",
    "sum_squared_error", "cross_entropy_error", "softmax_loss", "numerical_gradient",
    "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization", "Convolution", "Pooling",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    "smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im", "Trainer",
    "MultiLayerNet", "MultiLayerNetExtend", "TwoLayerNet", "SimpleConvNet", "DeepConvNet",
    "MulLayer", "AddLayer", "load_mnist",
    "np",  # the book's modules import numpy as np, and some scripts use np from their star import alone
]


# ------------------------------------------------------------------------------------- common.functions

def sum_squared_error(y, t):
    return 0.5 * np.sum((y - t) ** 2)


def softmax_loss(X, t):
    return softmax_cross_entropy(np.atleast_2d(X), t)


# ------------------------------------------------------------------------------------------ common.util

def smooth_curve(x):
    """The book's loss smoother: a Kaiser window (length 11, beta 2), the ends mirrored so the length stays."""
    window_len = 11
    x = np.asarray(x, dtype=np.float64)
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x, t):
    """x and t in the same random order (np.random's)."""
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


# ----------------------------------------------------------------------------------------- dataset.mnist

def load_mnist(normalize=True, flatten=True, one_hot_label=False):
    """((x_train, t_train), (x_test, t_test)) as the book's dataset/mnist.py: float32 pixels / 255 when
    normalize (else uint8), rows of 784 when flatten (else (N, 1, 28, 28)), one-hot labels when asked."""
    from ..data import resolve_dataset

    dataset, notice = resolve_dataset(os.environ.get("DIGITNET_DATA_DIR") or None, normalize=normalize,
                                      flatten=flatten, one_hot_label=one_hot_label,
                                      dtype=np.float32 if normalize else None)
    print(notice or f"digitnet.book.load_mnist: {dataset.name} ({dataset.n_train:,} train / "
                    f"{dataset.n_test:,} test) from {dataset.source}", file=sys.stderr)
    return (dataset.x_train, dataset.t_train), (dataset.x_test, dataset.t_test)


# ------------------------------------------------------------------------------------------------ nets

class BookNet:
    """What the book's networks do that digitnet's do differently: np.random drives dropout too, and
    labels may come as a column (the book's ch07/gradient_check.py passes T of shape (1, 1))."""

    def _use_global_random(self):
        for layer in self.layers.values():
            if isinstance(layer, Dropout):
                layer.rng = np.random  # np.random.random(shape), as the book's np.random.rand(*shape)
        return self

    def loss(self, x, t, train_flg=False):
        t = np.asarray(t)
        if t.ndim == 2 and t.shape[1] == 1:
            t = t.reshape(-1)
        return super().loss(x, t, train_flg)

    def book_params(self):
        return dict(self.params)

    def save_params(self, file_name="params.pkl"):
        """A pickled dict of the parameters, which the book's own load_params can read too."""
        with open(file_name, "wb") as f:
            pickle.dump({key: np.array(val) for key, val in self.book_params().items()}, f)

    def load_params(self, file_name="params.pkl"):
        """The book's pickle, read by an unpickler that admits only NumPy arrays."""
        _fill(file_name, self, self.from_book_params(read_book_pickle(file_name)))

    def from_book_params(self, params):
        return params


class TwoLayerNet(BookNet, _nets.TwoLayerNet):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)


class MultiLayerNet(BookNet, _nets.MultiLayerNet):
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0):
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda)


class MultiLayerNetExtend(BookNet, _nets.MultiLayerNet):
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False):
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm)
        self._use_global_random()


class SimpleConvNet(BookNet, _nets.SimpleConvNet):
    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006  (book's)
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        super().__init__(input_dim, dict(conv_param), hidden_size, output_size, weight_init_std)


def _conv_param(filters, pad):
    return {"filter_num": filters, "filter_size": 3, "pad": pad, "stride": 1}


_DEEP = [_conv_param(f, p) for f, p in zip(DEEP_CONV_FILTERS, DEEP_CONV_PADS)]


class DeepConvNet(BookNet, _nets.DeepConvNet):
    """The book's ch. 8 net. Its six convolutions are fixed in digitnet: other conv_param_i are refused."""

    def __init__(self, input_dim=(1, 28, 28), conv_param_1=_DEEP[0], conv_param_2=_DEEP[1], conv_param_3=_DEEP[2],
                 conv_param_4=_DEEP[3], conv_param_5=_DEEP[4], conv_param_6=_DEEP[5], hidden_size=50, output_size=10):
        given = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6]
        for i, (param, book) in enumerate(zip(given, _DEEP), start=1):
            if dict(param) != book:
                raise ValueError(f"conv_param_{i}={param}: digitnet's DeepConvNet has the book's layers only ({book})")
        super().__init__(input_dim, hidden_size, output_size)
        self._use_global_random()

    def _keep(self):
        return 1.0 - self.layers["Dropout1"].dropout_ratio

    def book_params(self):
        # The book scales by keep = 1 - ratio at inference after Affine1 and after Affine2 (see book_weights).
        keep = self._keep()
        return dict(self.params, W8=self.params["W8"] / keep ** 2, b8=self.params["b8"] / keep)

    def from_book_params(self, params):
        keep = self._keep()
        return dict(params, W8=params["W8"] * keep ** 2, b8=params["b8"] * keep)


# -------------------------------------------------------------------------------------- common.trainer

class _GradientOnly:
    """A network written in the book's style (gradient() but no loss_and_gradient()) seen by digitnet.train."""

    evaluate = _nets.base.LayeredNet.evaluate  # predict() and lastLayer, which book-style nets have

    def __init__(self, network):
        self.network = network

    def __getattr__(self, name):
        return getattr(self.network, name)

    def buffers(self):
        return {}  # no batch norm statistics that digitnet knows of

    def load_buffers(self, buffers):
        pass

    def loss_and_gradient(self, x, t):
        grads = self.network.gradient(x, t)  # which ran loss() first, so the last layer holds it
        return self.network.lastLayer.loss, grads


class Trainer:
    """The book's Trainer on digitnet.train: mini-batches drawn with replacement, one evaluation per epoch
    (on the first evaluate_sample_num_per_epoch samples of each set when given)."""

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006  (the book's signature; only read)
                 evaluate_sample_num_per_epoch=None, verbose=True):
        name = optimizer.lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        self.network, self.verbose = network, verbose
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.epochs, self.batch_size = epochs, mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = OPTIMIZERS[name](**optimizer_param)
        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.train_loss_list, self.train_acc_list, self.test_acc_list = [], [], []

    def _on_step(self, loss):
        self.train_loss_list.append(loss)
        if self.verbose:
            print(f"train loss:{loss}")

    def _on_epoch(self, record):
        self.train_acc_list.append(record["train_acc"])
        self.test_acc_list.append(record["test_acc"])
        if self.verbose:
            print(f"=== epoch:{record['epoch']}, train acc:{record['train_acc']}, test acc:{record['test_acc']} ===")

    def train(self):
        from ..train import train

        n = self.evaluate_sample_num_per_epoch
        net = self.network if hasattr(self.network, "loss_and_gradient") else _GradientOnly(self.network)
        rng = np.random.default_rng(np.random.randint(2 ** 31))  # np.random.seed() makes the run repeatable
        train(net, self.x_train, self.t_train, self.x_test[:n], self.t_test[:n], iters=self.max_iter,
              batch_size=min(self.batch_size, self.train_size), optimizer=self.optimizer, rng=rng,
              train_eval_size=n, on_epoch=self._on_epoch, on_step=self._on_step)
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{test_acc}")
