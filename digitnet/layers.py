"""Layers with forward and backward passes, as in the book's common/layers.py.

forward() caches what backward() needs; backward(dout) returns the gradient with respect to the
layer's input and stores the gradients of its parameters (dW, db). No layer writes into an array
its caller passed in.
"""
import numpy as np

from .functions import labels_of, log_softmax, sigmoid, softmax


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0, x)

    def backward(self, dout):
        return np.where(self.mask, 0, dout)  # a new array: the book's dout[mask] = 0 would edit the caller's


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    """out = x W + b. Accepts N-d input (images, feature maps): flattens each sample to a row."""

    def __init__(self, W, b):
        self.W = W  # the network's own arrays, not copies: updating params in place updates the layer
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx.reshape(self.original_x_shape)


class Softmax:
    def __init__(self):
        self.y = None

    def forward(self, x):
        self.y = softmax(x)
        return self.y

    def backward(self, dout):
        # Jacobian of softmax times dout, without building the Jacobian: y * (dout - <dout, y>).
        return self.y * (dout - (dout * self.y).sum(axis=-1, keepdims=True))


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy; targets are one-hot rows or integer labels."""

    def __init__(self):
        self.loss = None
        self.y = None  # softmax output
        self.t = None  # targets as given

    def forward(self, x, t):
        self.t = t
        logp = log_softmax(x)  # exact for logits of +-1000, where log(softmax) would give log(0)
        self.y = np.exp(logp)
        self.loss = -logp[np.arange(x.shape[0]), labels_of(t)].mean()
        return self.loss

    def backward(self, dout=1):
        batch_size = self.y.shape[0]
        dx = self.y.copy()
        if np.ndim(self.t) == dx.ndim:  # one-hot
            dx -= self.t
        else:
            dx[np.arange(batch_size), self.t] -= 1
        return dx * (dout / batch_size)
