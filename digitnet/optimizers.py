"""Optimizers: update(params, grads) changes each parameter array in place, so layers sharing them see the step."""


class SGD:
    """Plain stochastic gradient descent: W <- W - lr * dW."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]
