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
    including the dropout masks of MultiLayerNetExtend and DeepConvNet; the Dropout layer used on its own
    draws from a generator of its own.
  - BatchNormalization starts its running variance at 1, the book's at 0: in inference before much training
    (a loss after one step) the two differ; the gradients do not.
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
    """The book's sum of squared errors: 0.5 * sum((y - t) ** 2), over the whole batch (not averaged).

    Args:
        y: the network's outputs.
        t: the targets, shaped like y (one-hot for classes).

    Returns:
        The loss, a float.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import sum_squared_error
        >>> round(float(sum_squared_error(np.array([0.1, 0.6, 0.3]), np.array([0, 1, 0]))), 3)
        0.13
    """
    return 0.5 * np.sum((y - t) ** 2)


def softmax_loss(X, t):
    """The book's softmax_loss: the cross-entropy of softmax(X) against t, averaged over the batch.

    Computed from log-softmax, so exact even for scores of +-1000.

    Args:
        X: scores, shape (C,) or (N, C).
        t: integer labels (N,), or one-hot rows shaped like X.

    Returns:
        The mean loss, a float.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import softmax_loss
        >>> round(float(softmax_loss(np.array([[2.0, 1.0, 0.1]]), np.array([0]))), 4)
        0.417
    """
    return softmax_cross_entropy(np.atleast_2d(X), t)


# ------------------------------------------------------------------------------------------ common.util

def smooth_curve(x):
    """The book's loss smoother (common/util.py): a Kaiser window (length 11, beta 2), the ends mirrored.

    Used for the loss curves of chapter 6; the result is as long as x.

    Args:
        x: a sequence of numbers (e.g. the loss of every step).

    Returns:
        A float64 array of len(x).

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import smooth_curve
        >>> noisy = np.array([1.0, 0.0] * 20)
        >>> smoothed = smooth_curve(noisy)
        >>> len(smoothed), bool(np.ptp(smoothed[5:-5]) < 0.2)
        (40, True)
    """
    window_len = 11
    x = np.asarray(x, dtype=np.float64)
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x, t):
    """x and t in the same random order, drawn from np.random (the book's common/util.py).

    Args:
        x: the inputs, N first.
        t: their labels, N first.

    Returns:
        (x shuffled, t shuffled), copies.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import shuffle_dataset
        >>> np.random.seed(0)
        >>> x, t = shuffle_dataset(np.arange(5) * 10, np.arange(5))
        >>> bool(np.all(x == t * 10))
        True
    """
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


# ----------------------------------------------------------------------------------------- dataset.mnist

def load_mnist(normalize=True, flatten=True, one_hot_label=False):
    """The book's dataset/mnist.py load_mnist: ((x_train, t_train), (x_test, t_test)).

    It never downloads into a script's folder: it reads $DIGITNET_DATA_DIR if set (a folder with the four
    MNIST files), else full MNIST from digitnet's cache (downloading it once if it can), else the bundled
    offline sample (8,000 training / 2,000 test digits); it says which on stderr.

    Args:
        normalize: pixels as float32 in [0, 1] (else uint8 0 to 255).
        flatten: rows of 784 (else images (N, 1, 28, 28)).
        one_hot_label: labels as one-hot rows (N, 10) (else integers).

    Returns:
        ((x_train, t_train), (x_test, t_test)), NumPy arrays.

    Examples:
        >>> import os
        >>> os.environ["DIGITNET_OFFLINE"] = "1"  # no download attempt in this example
        >>> from digitnet.book import load_mnist
        >>> (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, one_hot_label=True)
        >>> x_train.shape[1:], t_train.shape[1], x_train.dtype.name
        ((1, 28, 28), 10, 'float32')
    """
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

    def loss_of_scores(self, scores, t):
        t = np.asarray(t)
        if t.ndim == 2 and t.shape[1] == 1:
            t = t.reshape(-1)
        return super().loss_of_scores(scores, t)

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
    """The book's ch05/two_layer_net.py TwoLayerNet: digitnet.TwoLayerNet with the book's signature.

    The book's constructor and behaviour on digitnet's network: np.random draws the initial weights (so
    np.random.seed() repeats a run, as in the book) and, for the dropout nets, the masks. `save_params` writes
    and `load_params` reads the book's params.pkl (through an unpickler that admits only NumPy arrays).

    Args:
        input_size: inputs per sample (784).
        hidden_size: hidden units (the book: 50).
        output_size: classes (10).
        weight_init_std: the initial weights' standard deviation.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import TwoLayerNet
        >>> np.random.seed(0)
        >>> net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
        >>> list(net.layers), net.predict(np.zeros((1, 784))).shape
        (['Affine1', 'Relu1', 'Affine2'], (1, 10))
    """
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)


class MultiLayerNet(BookNet, _nets.MultiLayerNet):
    """The book's common/multi_layer_net.py MultiLayerNet: hidden layers of one activation, optional weight decay.

    The book's constructor and behaviour on digitnet's network: np.random draws the initial weights (so
    np.random.seed() repeats a run, as in the book) and, for the dropout nets, the masks. `save_params` writes
    and `load_params` reads the book's params.pkl (through an unpickler that admits only NumPy arrays).

    Args:
        input_size: inputs per sample.
        hidden_size_list: the hidden layers' sizes.
        output_size: classes.
        activation: "relu" or "sigmoid".
        weight_init_std: a standard deviation, "relu"/"he" or "sigmoid"/"xavier".
        weight_decay_lambda: the L2 weight decay's lambda.

    Examples:
        >>> from digitnet.book import MultiLayerNet
        >>> net = MultiLayerNet(input_size=784, hidden_size_list=[100, 100], output_size=10)
        >>> sorted(net.params)
        ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
    """
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0):
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda)


class MultiLayerNetExtend(BookNet, _nets.MultiLayerNet):
    """The book's common/multi_layer_net_extend.py MultiLayerNetExtend: with dropout and batch normalisation.

    `dropout_ration` is spelled as the book spells it.

    The book's constructor and behaviour on digitnet's network: np.random draws the initial weights (so
    np.random.seed() repeats a run, as in the book) and, for the dropout nets, the masks. `save_params` writes
    and `load_params` reads the book's params.pkl (through an unpickler that admits only NumPy arrays).

    Args:
        input_size: inputs per sample.
        hidden_size_list: the hidden layers' sizes.
        output_size: classes.
        activation: "relu" or "sigmoid".
        weight_init_std: a standard deviation, "relu"/"he" or "sigmoid"/"xavier".
        weight_decay_lambda: the L2 weight decay's lambda.
        use_dropout: a Dropout after each hidden activation.
        dropout_ration: its ratio.
        use_batchnorm: a BatchNormalization before each hidden activation.

    Examples:
        >>> from digitnet.book import MultiLayerNetExtend
        >>> net = MultiLayerNetExtend(784, [50], 10, use_dropout=True, dropout_ration=0.2, use_batchnorm=True)
        >>> list(net.layers)
        ['Affine1', 'BatchNorm1', 'Activation_function1', 'Dropout1', 'Affine2']
    """
    def __init__(self, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False):
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm)
        self._use_global_random()


class SimpleConvNet(BookNet, _nets.SimpleConvNet):
    """The book's ch07/simple_convnet.py SimpleConvNet: digitnet.SimpleConvNet with the book's signature.

    The book's constructor and behaviour on digitnet's network: np.random draws the initial weights (so
    np.random.seed() repeats a run, as in the book) and, for the dropout nets, the masks. `save_params` writes
    and `load_params` reads the book's params.pkl (through an unpickler that admits only NumPy arrays).

    Args:
        input_dim: one image's shape (channels, height, width).
        conv_param: {"filter_num", "filter_size", "pad", "stride"}.
        hidden_size: units in the hidden affine layer.
        output_size: classes.
        weight_init_std: the initial weights' standard deviation.

    Examples:
        >>> from digitnet.book import SimpleConvNet
        >>> net = SimpleConvNet(conv_param={"filter_num": 8, "filter_size": 5, "pad": 0, "stride": 1})
        >>> net.params["W1"].shape
        (8, 1, 5, 5)
    """
    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006  (book's)
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        super().__init__(input_dim, dict(conv_param), hidden_size, output_size, weight_init_std)


def _conv_param(filters, pad):
    return {"filter_num": filters, "filter_size": 3, "pad": pad, "stride": 1}


_DEEP = [_conv_param(f, p) for f, p in zip(DEEP_CONV_FILTERS, DEEP_CONV_PADS)]


class DeepConvNet(BookNet, _nets.DeepConvNet):
    """The book's ch08/deep_convnet.py DeepConvNet, with its signature; its six convolutions are fixed.

    digitnet's DeepConvNet has the book's layers only, so a conv_param_i other than the book's is refused with
    a ValueError. `load_params("deep_convnet_params.pkl")` reads the book's trained weights and folds the
    book's inference-time dropout scaling into the last layer, so the network predicts what the book's does.

    The book's constructor and behaviour on digitnet's network: np.random draws the initial weights (so
    np.random.seed() repeats a run, as in the book) and, for the dropout nets, the masks. `save_params` writes
    and `load_params` reads the book's params.pkl (through an unpickler that admits only NumPy arrays).

    Args:
        input_dim: one image's shape (channels, height, width).
        conv_param_1: the first convolution's settings (the book's); likewise conv_param_2 to conv_param_6.
        conv_param_2: the book's.
        conv_param_3: the book's.
        conv_param_4: the book's.
        conv_param_5: the book's.
        conv_param_6: the book's.
        hidden_size: units in the hidden affine layer.
        output_size: classes.

    Examples:
        >>> from digitnet.book import DeepConvNet
        >>> net = DeepConvNet()
        >>> [net.params[f"W{i}"].shape[0] for i in range(1, 7)]
        [16, 16, 32, 32, 64, 64]
    """

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
    """A network written in the book's style (gradient() but no loss_and_gradient()) seen by digitnet.train:
    one of layers and a lastLayer (ch. 5 on), or one of functions with loss() and accuracy() only (ch. 4)."""

    def __init__(self, network):
        self.network = network

    def __getattr__(self, name):
        return getattr(self.network, name)

    def buffers(self):
        return {}  # no batch norm statistics that digitnet knows of

    def load_buffers(self, buffers):
        pass

    def evaluate(self, x, t, batch_size=250):
        if hasattr(self.network, "lastLayer"):  # predict() and lastLayer: digitnet's own evaluation
            return _nets.base.LayeredNet.evaluate(self, x, t, batch_size)
        total_loss = correct = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb, tb = x[i:i + batch_size], t[i:i + batch_size]
            total_loss += float(self.network.loss(xb, tb)) * xb.shape[0]
            correct += float(self.network.accuracy(xb, tb)) * xb.shape[0]
        return total_loss / x.shape[0], correct / x.shape[0]

    def loss_and_gradient(self, x, t):
        grads = self.network.gradient(x, t)  # which ran loss() first, so a last layer holds it
        if hasattr(self.network, "lastLayer"):
            return self.network.lastLayer.loss, grads
        return self.network.loss(x, t), grads  # ch. 4's gradient() keeps no loss


class Trainer:
    """The book's common/trainer.py Trainer, on digitnet.train.

    Mini-batches drawn with replacement from np.random (np.random.seed() repeats a run), one evaluation per
    epoch of train_size // mini_batch_size steps, so exactly `epochs` of them (on the first
    evaluate_sample_num_per_epoch samples of each set when given), the book's printed
    lines when verbose. `train()` runs it; the curves are in `train_loss_list`, `train_acc_list` and
    `test_acc_list`. It also takes a network written in the book's style (with `gradient` but no
    `loss_and_gradient`).

    Args:
        network: the network to train.
        x_train: training inputs.
        t_train: their labels.
        x_test: test inputs.
        t_test: their labels.
        epochs: passes over the training set.
        mini_batch_size: samples per step.
        optimizer: the optimizer's name: "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop" or "Adam".
        optimizer_param: its arguments, e.g. {"lr": 0.01}.
        evaluate_sample_num_per_epoch: evaluate on this many samples of each set per epoch (None: all).
        verbose: print the loss of every step and the accuracies of every epoch.

    Examples:
        >>> import numpy as np
        >>> from digitnet.book import MultiLayerNet, Trainer
        >>> from digitnet.data import load_sample
        >>> data = load_sample()
        >>> np.random.seed(0)
        >>> net = MultiLayerNet(784, [50], 10)
        >>> trainer = Trainer(net, data.x_train[:1000], data.t_train[:1000], data.x_test[:500], data.t_test[:500],
        ...                   epochs=2, optimizer="Adam", optimizer_param={"lr": 0.01}, verbose=False)
        >>> trainer.train()
        >>> len(trainer.train_loss_list), len(trainer.test_acc_list), trainer.test_acc_list[-1] > 0.7
        (20, 2, True)
    """

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
        # Whole steps per epoch, as digitnet.train counts them. The book's float train_size / mini_batch_size
        # (7.8 for 1000 / 128) gives a run that ends with a partial epoch, evaluated too: one epoch too many.
        self.iter_per_epoch = max(self.train_size // mini_batch_size, 1)
        self.max_iter = epochs * self.iter_per_epoch
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
