"""The book's two-layer network (ch. 5): Affine -> Relu -> Affine -> SoftmaxWithLoss."""
from collections import OrderedDict

import numpy as np

from ..initializers import initial_weights
from ..layers import Affine, Relu, SoftmaxWithLoss
from .base import LayeredNet


class TwoLayerNet(LayeredNet):
    """The book's two-layer network (ch. 5): Affine -> Relu -> Affine -> SoftmaxWithLoss.

    The layers are kept in an OrderedDict, `layers`, with the loss layer as `lastLayer`; `predict` runs them in
    order and `gradient` runs them backwards. The layers hold the very arrays in `params` (W1, b1, W2, b2), so
    an optimizer's update to `params` is an update to the network. `loss`, `accuracy`, `numerical_gradient`,
    `gradient` and `loss_and_gradient` come from LayeredNet, as the book writes them.

    Args:
        input_size: inputs per sample (784 for MNIST).
        hidden_size: units in the hidden layer (the book: 50).
        output_size: classes (10).
        weight_init_std: the initial weights' standard deviation (the book's 0.01), or "xavier" or "he"
            (see digitnet.initializers.init_scale).
        rng: a NumPy Generator for the initial weights; None uses np.random, so np.random.seed() works as in
            the book.
        dtype: the parameters' dtype (float64, the book's; float32 trains faster).

    Examples:
        >>> import numpy as np
        >>> from digitnet import TwoLayerNet
        >>> net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, rng=np.random.default_rng(0))
        >>> list(net.layers), type(net.lastLayer).__name__
        (['Affine1', 'Relu1', 'Affine2'], 'SoftmaxWithLoss')
        >>> net.predict(np.zeros((2, 784))).shape
        (2, 10)
        >>> grads = net.gradient(np.zeros((2, 784)), np.array([3, 7]))
        >>> {k: v.shape for k, v in grads.items()}
        {'W1': (784, 50), 'b1': (50,), 'W2': (50, 10), 'b2': (10,)}
    """

    architecture = "two-layer"
    default_hidden, default_init, default_optimizer = [50], 0.01, "sgd"
    options = frozenset({"init"})

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, rng=None, dtype=np.float64):
        rng = np.random if rng is None else rng
        self.input_dim = (input_size,)
        self.config = {"input_size": input_size, "hidden_size": hidden_size, "output_size": output_size,
                       "weight_init_std": weight_init_std}
        self.params = {
            "W1": initial_weights(weight_init_std, (input_size, hidden_size), input_size, rng, dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": initial_weights(weight_init_std, (hidden_size, output_size), hidden_size, rng, dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()
