"""Optimizers, as in the book's common/optimizer.py.

Every optimizer has update(params, grads), which changes each parameter array in place (layers
share those arrays, so they see the step at once), and an lr attribute a schedule may set.
"""
import math

import numpy as np


def zeros_like_each(params):
    """Per-parameter state, created on the first update when the shapes are known."""
    return {key: np.zeros_like(val) for key, val in params.items()}


def empty_like_each(params):
    """Scratch arrays for an update's intermediate results, so that a step allocates nothing."""
    return {key: np.empty_like(val) for key, val in params.items()}


def fits(arrays, params):
    """Whether scratch arrays made for one params dict serve this one: the same names, shapes and dtypes."""
    return arrays is not None and arrays.keys() == params.keys() and all(
        arrays[key].shape == np.shape(val) and arrays[key].dtype == np.asarray(val).dtype
        for key, val in params.items())


def rate(value, name="lr"):
    """A learning rate (or eps): a finite number >= 0, else ValueError, as PyTorch's optimizers refuse it when built
    (a negative rate climbed the loss, NaN made every weight NaN, without a word)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return value


def fraction(value, name):
    """A decay rate or a beta: a number in [0, 1), else ValueError (1 never moved, or divided by 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), not {value!r}")
    return value


def step_count(value, name):
    """A count of steps: an integer >= 1, else ValueError (0 was a ZeroDivisionError at the first step)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number of steps >= 1, not {value!r}")
    return value


def check_state(optimizer, state, params):
    """ValueError unless the per-parameter state (v, h, m) built on the first update fits params: names and shapes.

    The book builds it once, from the first params, as here, and a second network's params then fail with a
    KeyError or a broadcasting error; sharing the state would mix the two networks' histories anyway."""
    changed = sorted(set(state) ^ set(params)) or [key for key in params if state[key].shape != np.shape(params[key])]
    if changed:
        key = changed[0]
        was = f"shape {state[key].shape}" if key in state else "none"
        now = f"shape {np.shape(params[key])}" if key in params else "none"
        raise ValueError(f"{type(optimizer).__name__} keeps state for the parameters it first updated, and these "
                         f"differ ({key}: {now}, was {was}): use one {type(optimizer).__name__} per network")


class SGD:
    """Stochastic gradient descent: W <- W - lr * dW.

    Every digitnet optimizer has the book's `update(params, grads)`, which changes each array of the dict
    `params` in place (the layers hold those arrays, so they see the step at once), and an `lr` attribute a
    learning-rate schedule may set between steps.

    Args:
        lr: the learning rate (the book's recipe for MNIST: 0.1).

    Examples:
        >>> import numpy as np
        >>> from digitnet import SGD
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = SGD(lr=0.1)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.95, -1.95])
    """

    def __init__(self, lr=0.01):
        self.lr = rate(lr)
        self._step = None  # scratch (a leading underscore: not saved in checkpoints)

    def update(self, params, grads):
        if not fits(self._step, params):  # SGD keeps no state: any params dict, new scratch when it changes
            self._step = empty_like_each(params)
        for key in params:
            step = np.multiply(grads[key], self.lr, out=self._step[key])
            params[key] -= step


class Momentum:
    """Gradient descent with momentum: v <- momentum * v - lr * dW, then W <- W + v.

    Steps that agree add up and steps that alternate cancel, so it rolls along a narrow valley where SGD
    zigzags. The velocity v starts at zero on the first update.

    Args:
        lr: the learning rate.
        momentum: how much of the velocity each step keeps.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Momentum
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = Momentum(lr=0.1)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.95, -1.95])
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = rate(lr), fraction(momentum, "momentum")
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = zeros_like_each(params)
        check_state(self, self.v, params)
        for key in params:
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, as the book's common/optimizer.py writes it (the same steps as
    torch.optim.SGD(nesterov=True)).

    W <- W + momentum^2 * v - (1 + momentum) * lr * dW, with the velocity v from before this step; then
    v <- momentum * v - lr * dW. (The book's first code updated v first and moved W with the new v, a
    longer step; its repository fixed the order in "Fix Nesterov update function".)

    Args:
        lr: the learning rate.
        momentum: how much of the velocity each step keeps.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Nesterov
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = Nesterov(lr=0.1)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.905, -1.905])
    """

    def update(self, params, grads):
        if self.v is None:
            self.v = zeros_like_each(params)
        check_state(self, self.v, params)
        for key in params:
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


class AdaGrad:
    """AdaGrad: per-parameter steps that shrink with the sum of squared gradients seen so far.

    h <- h + dW * dW, then W <- W - lr * dW / (sqrt(h) + eps): steep directions slow down at once.

    Args:
        lr: the learning rate.
        eps: keeps the division finite while h is 0.

    Examples:
        >>> import numpy as np
        >>> from digitnet import AdaGrad
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = AdaGrad(lr=0.1)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.9, -1.9])
    """

    def __init__(self, lr=0.01, eps=1e-7):
        self.lr, self.eps = rate(lr), rate(eps, "eps")
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = zeros_like_each(params)
        check_state(self, self.h, params)
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class RMSprop:
    """RMSprop: AdaGrad with a decaying average of squared gradients, so that steps do not vanish.

    h <- decay_rate * h + (1 - decay_rate) * dW * dW, then W <- W - lr * dW / (sqrt(h) + eps).

    Args:
        lr: the learning rate.
        decay_rate: how much of h each step keeps.
        eps: keeps the division finite while h is 0.

    Examples:
        >>> import numpy as np
        >>> from digitnet import RMSprop
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = RMSprop(lr=0.01)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.9, -1.9])
    """

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        self.lr, self.decay_rate, self.eps = rate(lr), fraction(decay_rate, "decay_rate"), rate(eps, "eps")
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = zeros_like_each(params)
        check_state(self, self.h, params)
        for key in params:
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class Adam:
    """Adam (Kingma & Ba): momentum on the gradient and on its square, with bias correction.

    m and v are running means of dW and dW * dW (rates beta1 and beta2); each step moves W by
    lr * m_hat / (sqrt(v_hat) + eps), the hats undoing the bias of starting at zero. So the first step is
    about lr in size whatever the gradient's scale.

    Args:
        lr: the learning rate (the book's default 0.001).
        beta1: the decay of the gradient's running mean.
        beta2: the decay of the squared gradient's running mean.
        eps: keeps the division finite.

    Examples:
        >>> import numpy as np
        >>> from digitnet import Adam
        >>> params = {"w": np.array([1.0, -2.0])}
        >>> opt = Adam(lr=0.1)
        >>> opt.update(params, {"w": np.array([0.5, -0.5])})  # changes params["w"] in place
        >>> params["w"].round(4)
        array([ 0.9, -1.9])
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2 = rate(lr), fraction(beta1, "beta1"), fraction(beta2, "beta2")
        self.eps = rate(eps, "eps")
        self.iter = 0
        self.m = self.v = None
        self._step = self._denom = None  # scratch, not saved in checkpoints

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = zeros_like_each(params), zeros_like_each(params)
        check_state(self, self.m, params)
        if not fits(self._step, params):
            self._step, self._denom = empty_like_each(params), empty_like_each(params)
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            g, m, v, step, denom = grads[key], self.m[key], self.v[key], self._step[key], self._denom[key]
            # m += (1 - beta1) * (g - m);  v += (1 - beta2) * (g*g - v);  W -= lr_t * m / (sqrt(v) + eps)
            # computed in place, in that order (the same floats), for the weights are large and Adam touches
            # each of them a dozen times a step
            np.subtract(g, m, out=step)
            step *= 1 - self.beta1
            m += step
            np.multiply(g, g, out=step)
            step -= v
            step *= 1 - self.beta2
            v += step
            np.sqrt(v, out=denom)
            denom += self.eps
            np.multiply(m, lr_t, out=step)
            step /= denom
            params[key] -= step


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSprop, "adam": Adam}


# Learning-rate schedules: lr(step) for step = 0, 1, ... total_steps - 1; the training loop sets optimizer.lr.

class ConstantLR:
    def __init__(self, lr):
        self.base_lr = rate(lr)

    def __call__(self, step):
        return self.base_lr


class StepLR:
    """Multiply the rate by gamma every step_size steps."""

    def __init__(self, lr, step_size, gamma=0.1):
        self.base_lr, self.step_size, self.gamma = rate(lr), step_count(step_size, "step_size"), rate(gamma, "gamma")

    def __call__(self, step):
        return self.base_lr * self.gamma ** (step // self.step_size)


class CosineLR:
    """Half a cosine from lr down to min_lr over total_steps."""

    def __init__(self, lr, total_steps, min_lr=0.0):
        self.base_lr, self.min_lr = rate(lr), rate(min_lr, "min_lr")
        self.total_steps = step_count(total_steps, "total_steps")

    def __call__(self, step):
        progress = min(step / max(self.total_steps - 1, 1), 1.0)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


class WarmupLR:
    """Linear warm-up in front of another schedule: the rate climbs from lr/steps to lr (the schedule's first
    rate) over the first `steps` steps, then the schedule runs from its start, as PyTorch's SequentialLR of a
    LinearLR and the schedule does (Goyal et al. 2017: with a large batch and the learning rate scaled up with
    it, the first steps at the full rate diverge). Give the schedule the run's steps less these. Before, the
    ramp was laid over a schedule already decaying, and a cosine's rate never reached lr."""

    def __init__(self, schedule, steps):
        self.schedule, self.steps = schedule, step_count(steps, "steps")

    def __call__(self, step):
        if step < self.steps:
            return self.schedule(0) * (step + 1) / self.steps
        return self.schedule(step - self.steps)


class OneCycleLR:
    """One cycle (Smith & Topin 2019), in straight lines: the rate climbs from lr/warmup_steps to lr over the
    first warmup_steps steps, then falls linearly toward 0 at total_steps. The climb lets a freshly initialised
    net take a high rate; the long fall does the work a cosine's tail does, and ends at 0 so the last
    steps settle into a minimum."""

    def __init__(self, lr, total_steps, warmup_steps):
        step_count(total_steps, "total_steps")
        if not 0 < warmup_steps < total_steps:
            raise ValueError(f"warm-up must be between 1 and {total_steps - 1} steps, not {warmup_steps}")
        self.base_lr, self.total_steps, self.warmup_steps = rate(lr), total_steps, step_count(warmup_steps, "warm-up")

    def __call__(self, step):
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        return self.base_lr * max(0.0, (self.total_steps - step) / (self.total_steps - self.warmup_steps + 1))
