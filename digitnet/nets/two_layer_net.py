"""The book's two-layer network (ch. 5): Affine -> Relu -> Affine -> SoftmaxWithLoss."""
from collections import OrderedDict

import numpy as np

from ..initializers import initial_weights
from ..layers import Affine, Relu, SoftmaxWithLoss
from .base import LayeredNet


class TwoLayerNet(LayeredNet):
    """predict, loss, accuracy, numerical_gradient and gradient come from LayeredNet, as the book writes them."""

    architecture = "two-layer"
    default_hidden, default_init, default_optimizer = [50], 0.01, "sgd"
    options = frozenset({"init"})

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, rng=None, dtype=np.float64):
        """weight_init_std: a std (the book's 0.01), "xavier" or "he" (see initializers.init_scale).
        rng: a numpy Generator for the initial weights; None uses np.random, so np.random.seed() works as in
        the book."""
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
