import math

import numpy as np
import pytest

from digitnet.optimizers import OPTIMIZERS, Adam, AdaGrad, ConstantLR, CosineLR, Momentum, Nesterov, RMSprop, SGD, StepLR


def quadratic_problem():
    """f(W) = 0.5 * sum(A * W**2): an ill-conditioned bowl with its minimum at 0."""
    A = np.array([[1.0, 20.0], [0.5, 5.0]])
    params = {"W": np.array([[3.0, -2.0], [1.5, 4.0]])}
    return A, params


@pytest.mark.parametrize("name, lr", [("sgd", 0.04), ("momentum", 0.02), ("nesterov", 0.02), ("adagrad", 0.5),
                                      ("rmsprop", 0.05), ("adam", 0.1)])
def test_every_optimizer_descends_to_the_minimum(name, lr):
    A, params = quadratic_problem()
    W = params["W"]
    opt = OPTIMIZERS[name](lr=lr)
    start = 0.5 * np.sum(A * W ** 2)
    for _ in range(500):
        opt.update(params, {"W": A * params["W"]})
    assert params["W"] is W  # updated in place: the layers holding W see every step
    assert 0.5 * np.sum(A * W ** 2) < 1e-3 * start


def test_sgd_and_momentum_match_their_formulas():
    params, grads = {"W": np.array([1.0, 2.0])}, {"W": np.array([0.5, -1.0])}
    SGD(lr=0.1).update(params, grads)
    np.testing.assert_allclose(params["W"], [0.95, 2.1])
    m = Momentum(lr=0.1, momentum=0.9)
    params = {"W": np.array([1.0])}
    m.update(params, {"W": np.array([1.0])})  # v = -0.1
    m.update(params, {"W": np.array([1.0])})  # v = -0.09 - 0.1 = -0.19
    np.testing.assert_allclose(params["W"], [1.0 - 0.1 - 0.19])


def test_adam_first_step_is_lr_times_sign():
    # bias correction makes Adam's first step lr * g / |g| (up to eps)
    params = {"W": np.array([1.0, 1.0])}
    Adam(lr=0.01).update(params, {"W": np.array([3.0, -0.2])})
    np.testing.assert_allclose(params["W"], [0.99, 1.01], rtol=1e-6)


def test_adagrad_and_rmsprop_scale_per_parameter():
    for opt in (AdaGrad(lr=0.1), RMSprop(lr=0.1)):
        params = {"W": np.zeros(2)}
        opt.update(params, {"W": np.array([100.0, 0.01])})
        assert abs(params["W"][0] / params["W"][1]) < 2  # steps nearly equal despite a 10^4 gradient ratio


def test_nesterov_differs_from_momentum():
    a, b = {"W": np.array([1.0])}, {"W": np.array([1.0])}
    m, n = Momentum(lr=0.1), Nesterov(lr=0.1)
    for _ in range(3):
        m.update(a, {"W": a["W"].copy()})
        n.update(b, {"W": b["W"].copy()})
    assert a["W"][0] != pytest.approx(b["W"][0])


def test_schedules():
    assert ConstantLR(0.1)(999) == 0.1
    step = StepLR(0.1, step_size=10, gamma=0.5)
    assert [step(s) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    cos = CosineLR(1.0, total_steps=101, min_lr=0.0)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0, abs=1e-12)
    assert all(cos(s) >= cos(s + 1) for s in range(100))
    assert math.isclose(CosineLR(0.2, 10, min_lr=0.01)(9), 0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_is_the_plain_formula_float_for_float(dtype):
    """Adam's update runs in scratch arrays for speed; it must give exactly the floats of the formula."""
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal((7, 4)).astype(dtype), "b": rng.standard_normal(4).astype(dtype)}
    plain = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    opt = Adam(lr=0.01)
    for it in range(1, 30):
        grads = {k: rng.standard_normal(p.shape).astype(dtype) for k, p in params.items()}
        opt.update(params, grads)
        lr_t = 0.01 * np.sqrt(1.0 - 0.999 ** it) / (1.0 - 0.9 ** it)
        for k, g in grads.items():
            m[k] += (1 - 0.9) * (g - m[k])
            v[k] += (1 - 0.999) * (g * g - v[k])
            plain[k] -= float(lr_t) * m[k] / (np.sqrt(v[k]) + 1e-7)
    for k in params:
        np.testing.assert_array_equal(params[k], plain[k])
    assert params["W"].dtype == dtype
