import math

import numpy as np
import pytest

from digitnet.optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, ConstantLR, CosineLR, RMSprop, StepLR


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


# ---- each update against the book's common/optimizer.py, written out here as the reference ----------------
# One step of each, on plain NumPy state: returns the new parameter and the new state. The book's order of
# operations is kept (Nesterov moves W with the velocity from before this step's gradient, then updates it).

def book_sgd(W, g, state, lr):
    return W - lr * g, state


def book_momentum(W, g, state, lr, momentum=0.9):
    v = momentum * state.get("v", 0.0) - lr * g
    return W + v, {"v": v}


def book_nesterov(W, g, state, lr, momentum=0.9):
    v = state.get("v", 0.0)
    W = W + momentum * momentum * v - (1 + momentum) * lr * g
    return W, {"v": momentum * v - lr * g}


def book_adagrad(W, g, state, lr):
    h = state.get("h", 0.0) + g * g
    return W - lr * g / (np.sqrt(h) + 1e-7), {"h": h}


def book_rmsprop(W, g, state, lr, decay_rate=0.99):
    h = decay_rate * state.get("h", 0.0) + (1 - decay_rate) * g * g
    return W - lr * g / (np.sqrt(h) + 1e-7), {"h": h}


def book_adam(W, g, state, lr, beta1=0.9, beta2=0.999):
    it = state.get("iter", 0) + 1
    lr_t = lr * np.sqrt(1.0 - beta2 ** it) / (1.0 - beta1 ** it)
    m = state.get("m", 0.0) + (1 - beta1) * (g - state.get("m", 0.0))
    v = state.get("v", 0.0) + (1 - beta2) * (g ** 2 - state.get("v", 0.0))
    return W - lr_t * m / (np.sqrt(v) + 1e-7), {"iter": it, "m": m, "v": v}


BOOK = {"sgd": book_sgd, "momentum": book_momentum, "nesterov": book_nesterov, "adagrad": book_adagrad,
        "rmsprop": book_rmsprop, "adam": book_adam}


def gradient_at(W, step):
    """A gradient that depends on where W is and changes from step to step, with a sign change or two."""
    return np.array([[1.0, 20.0], [0.5, 5.0]]) * W + np.sin(step + np.arange(4).reshape(2, 2))


@pytest.mark.parametrize("name", sorted(BOOK))
def test_every_optimizer_follows_the_books_formula_step_after_step(name):
    lr = 0.05
    params = {"W": np.array([[3.0, -2.0], [1.5, 4.0]]), "b": np.array([0.5, -0.25])}
    opt = OPTIMIZERS[name](lr=lr)
    book = {k: (v.copy(), {}) for k, v in params.items()}
    for step in range(12):
        grads = {"W": gradient_at(params["W"], step), "b": np.cos(step + params["b"])}
        opt.update(params, grads)
        for k in book:
            W, state = book[k]
            g = gradient_at(W, step) if k == "W" else np.cos(step + W)
            book[k] = BOOK[name](W, g, state, lr)
        for k in params:
            np.testing.assert_allclose(params[k], book[k][0], rtol=1e-13, atol=1e-15, err_msg=f"{k} at step {step}")


def test_book_nesterov_is_not_momentum():
    """The reference above must itself tell the two apart, or the test proves nothing for Nesterov."""
    a = b = (np.array([1.0]), {})
    for _ in range(3):  # the gradient of W**2 / 2 is W
        a, b = book_momentum(a[0], a[0], a[1], 0.1), book_nesterov(b[0], b[0], b[1], 0.1)
    assert abs(a[0][0] - b[0][0]) > 1e-3


TORCH = {  # the torch.optim settings that are the same update as the book's (constant rate, no weight decay)
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"eps": 1e-7}),
    "rmsprop": ("RMSprop", {"alpha": 0.99, "eps": 1e-7}),
}  # torch's Adam adds eps to sqrt(v) / sqrt(1 - beta2**t), the book's to sqrt(v): not the same floats


@pytest.mark.parametrize("name", sorted(TORCH))
def test_optimizer_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    lr = 0.05
    params = {"W": np.array([[3.0, -2.0], [1.5, 4.0]])}
    theirs = torch.tensor(params["W"].copy(), requires_grad=True)
    cls, options = TORCH[name]
    ours, opt_t = OPTIMIZERS[name](lr=lr), getattr(torch.optim, cls)([theirs], lr=lr, **options)
    for step in range(15):
        ours.update(params, {"W": gradient_at(params["W"], step)})
        theirs.grad = torch.tensor(gradient_at(theirs.detach().numpy(), step))
        opt_t.step()
        np.testing.assert_allclose(params["W"], theirs.detach().numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=f"step {step}")


def test_one_sgd_updates_networks_of_any_names_shapes_and_dtypes_in_turn():
    # the book's SGD holds nothing: ch06/batch_norm_test.py steps two networks with one instance
    opt = SGD(lr=0.1)
    rng = np.random.default_rng(0)
    for params in ({"W1": rng.standard_normal((3, 2))}, {"W1": rng.standard_normal((5, 2))},
                   {"W1": rng.standard_normal((5, 2)), "gamma1": rng.standard_normal(2)},
                   {"W1": rng.standard_normal((5, 2)).astype(np.float32)}, {"W1": rng.standard_normal((3, 2))}):
        grads = {key: rng.standard_normal(val.shape).astype(val.dtype) for key, val in params.items()}
        expected = {key: val - 0.1 * grads[key] for key, val in params.items()}
        opt.update(params, grads)
        for key in params:
            np.testing.assert_allclose(params[key], expected[key], rtol=1e-6)
            assert params[key].dtype == expected[key].dtype


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("other, message", [({"W": np.ones(4)}, r"W: shape \(4,\), was shape \(3,\)"),
                                            ({"V": np.ones(3)}, r"V: shape \(3,\), was none")],
                         ids=["another shape", "another name"])
def test_a_stateful_optimizer_given_another_network_s_params_says_so(name, other, message):
    opt = OPTIMIZERS[name](lr=0.1)
    opt.update({"W": np.ones(3)}, {"W": np.ones(3)})
    with pytest.raises(ValueError, match=f"keeps state for the parameters it first updated.*{message}.*per network"):
        opt.update(other, {key: np.ones_like(val) for key, val in other.items()})


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


def test_schedules():
    assert ConstantLR(0.1)(999) == 0.1
    step = StepLR(0.1, step_size=10, gamma=0.5)
    assert [step(s) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    cos = CosineLR(1.0, total_steps=101, min_lr=0.0)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0, abs=1e-12)
    assert all(cos(s) >= cos(s + 1) for s in range(100))
    assert math.isclose(CosineLR(0.2, 10, min_lr=0.01)(9), 0.01)


@pytest.mark.parametrize("total", [1, 2, 3, 10, 11, 12, 100, 938])
def test_the_step_schedule_drops_the_rate_twice_whatever_the_run_s_length(total):
    """`--schedule step` is "x0.1 after each third of training": the rate, a tenth of it, a hundredth. A run whose
    steps did not divide by 3 (10 steps: thirds of 3) took a fourth rate, a thousandth, for its last step."""
    from digitnet.run import learning_rate_schedule
    from digitnet.settings import RunSettings

    schedule = learning_rate_schedule(RunSettings(lr=0.1, schedule="step"), total)
    rates = [schedule(s) for s in range(total)]
    assert sorted(set(rates), reverse=True) == pytest.approx([0.1, 0.01, 0.001][:min(total, 3)])
    assert rates == sorted(rates, reverse=True)


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


@pytest.mark.parametrize("make, message", [
    (lambda o: o.SGD(lr=-0.1), "lr must be a finite number >= 0, not -0.1"),
    (lambda o: o.SGD(lr=float("nan")), "lr must be a finite number >= 0, not nan"),
    (lambda o: o.Momentum(momentum=1.0), r"momentum must be in \[0, 1\), not 1.0"),
    (lambda o: o.Adam(beta1=1.0), r"beta1 must be in \[0, 1\), not 1.0"),
    (lambda o: o.Adam(beta2=1.0), r"beta2 must be in \[0, 1\), not 1.0"),
    (lambda o: o.Adam(beta1=-0.5), r"beta1 must be in \[0, 1\), not -0.5"),
    (lambda o: o.RMSprop(decay_rate=1.0), r"decay_rate must be in \[0, 1\), not 1.0"),
    (lambda o: o.AdaGrad(eps=-1e-7), "eps must be a finite number >= 0"),
    (lambda o: o.StepLR(0.1, 0), "step_size must be a whole number of steps >= 1, not 0"),
    (lambda o: o.CosineLR(0.1, 0), "total_steps must be a whole number of steps >= 1, not 0"),
    (lambda o: o.WarmupLR(o.ConstantLR(0.1), 0), "steps must be a whole number of steps >= 1, not 0"),
    (lambda o: o.OneCycleLR(-0.1, 10, 2), "lr must be a finite number >= 0, not -0.1"),
    (lambda o: o.OneCycleLR(float("nan"), 10, 2), "lr must be a finite number >= 0, not nan"),
])
def test_optimizers_and_schedules_refuse_settings_no_training_has(make, message):
    """They took any value, as PyTorch's do not: a negative rate climbed the loss, beta2 = 1 never moved the
    weights, decay_rate 1 threw them to 1e6, and beta1 = 1 or a step size of 0 divided by zero later (a review)."""
    from digitnet import optimizers

    with pytest.raises(ValueError, match=message):
        make(optimizers)
