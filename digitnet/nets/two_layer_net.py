"""The book's two-layer network (ch. 5): Affine -> Relu -> Affine -> SoftmaxWithLoss."""
from collections import OrderedDict

import numpy as np

from ..functions import labels_of
from ..gradient import numerical_gradient
from ..layers import Affine, Relu, SoftmaxWithLoss


class TwoLayerNet:
    architecture = "two-layer"

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, rng=None, dtype=np.float64):
        """rng: a numpy Generator for the initial weights; None uses np.random, so np.random.seed() works as in the book."""
        rng = np.random if rng is None else rng
        self.config = {"input_size": input_size, "hidden_size": hidden_size, "output_size": output_size,
                       "weight_init_std": weight_init_std}
        self.params = {
            "W1": (weight_init_std * rng.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (weight_init_std * rng.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t, batch_size=1000):
        """Fraction of samples classified right; t one-hot or labels. Runs in batches so memory stays flat."""
        t = labels_of(t)
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            y = self.predict(x[i:i + batch_size])
            correct += int(np.sum(y.argmax(axis=1) == t[i:i + batch_size]))
        return correct / x.shape[0]

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731  (the book's idiom: W is perturbed in place)
        return {key: numerical_gradient(loss_W, self.params[key]) for key in self.params}

    def loss_and_gradient(self, x, t):
        """One forward pass and one backward pass: the loss and the gradient of every parameter."""
        loss = self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        grads = {
            "W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db,
        }
        return loss, grads

    def gradient(self, x, t):
        return self.loss_and_gradient(x, t)[1]
