import numpy as np
import pytest

from digitnet import TwoLayerNet
from digitnet.gradient import gradient_check, numerical_gradient, relative_error


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 3)])
def test_numerical_gradient_any_shape(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    # h**2 * f'''/6 = 1e-8 truncation
    np.testing.assert_allclose(numerical_gradient(lambda _: np.sum(x ** 3), x), 3 * x ** 2, rtol=1e-6, atol=1e-7)


def test_numerical_gradient_restores_every_element_bit_for_bit():
    x = np.random.default_rng(1).standard_normal((4, 5)) * 1e3 + 0.1
    before = x.copy()
    numerical_gradient(lambda _: np.sum(np.sin(x)), x)
    assert np.array_equal(x, before)


def test_numerical_gradient_works_on_non_contiguous_views():
    base = np.random.default_rng(2).standard_normal((6, 6))
    view = base[::2, 1::2]
    g = numerical_gradient(lambda _: np.sum(view ** 2), view)
    np.testing.assert_allclose(g, 2 * view, rtol=1e-6)


def test_relative_error_scale():
    g = np.array([1.0, -2.0, 0.0])
    assert relative_error(g, g) == 0
    assert relative_error(g, g / 2) == pytest.approx(0.5)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0


def sample_digits(n=3):
    from digitnet.data import load_sample
    data = load_sample(dtype=np.float64)
    return data.x_train[:n], data.t_train[:n]


def test_gradient_check_passes_on_first_three_digits():
    x, t = sample_digits()
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
    report = gradient_check(net, x, t)
    assert all(r["ok"] for r in report.values()), report
    assert all(r["mean_abs_diff"] < 1e-7 for r in report.values()), report


def batch_norm_net():
    """A small batch norm net and three inputs for it: (net, x, t)."""
    from digitnet import MultiLayerNet
    rng = np.random.default_rng(0)
    return MultiLayerNet(64, [10, 10], 10, use_batchnorm=True, rng=rng), rng.random((3, 64)), np.array([1, 5, 9])


def test_gradient_check_passes_a_gradient_that_is_rightly_zero():
    net, x, t = batch_norm_net()  # batch norm subtracts the mean: the bias before it has no effect, gradient 0
    assert np.abs(net.gradient(x, t)["b1"]).max() < 1e-12
    report = gradient_check(net, x, t)
    assert all(r["ok"] for r in report.values()), report


@pytest.mark.parametrize("wrong", ["beta1's gradient", "tiny"])
def test_gradient_check_fails_a_wrong_gradient_where_the_right_one_is_zero(monkeypatch, wrong):
    net, x, t = batch_norm_net()
    right = net.gradient

    def buggy(x, t):  # a backward pass that forgets batch norm's mean for the bias, or adds a little to it
        grads = right(x, t)
        grads["b1"] = grads["beta1"].copy() if wrong == "beta1's gradient" else grads["b1"] + 1e-6
        return grads
    monkeypatch.setattr(net, "gradient", buggy)
    report = gradient_check(net, x, t)
    assert not report["b1"]["ok"] and all(r["ok"] for key, r in report.items() if key != "b1"), report


@pytest.mark.parametrize("bug", ["softmax gradient tripled", "1/N dropped", "relu passes everything",
                                 "bias grad not summed"])
def test_gradient_check_catches_real_backprop_bugs(monkeypatch, bug):
    from digitnet import layers

    x, t = sample_digits(5)
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
    if bug == "softmax gradient tripled":
        original = layers.SoftmaxWithLoss.backward
        monkeypatch.setattr(layers.SoftmaxWithLoss, "backward", lambda self, dout=1: original(self, dout) * 3)
    elif bug == "1/N dropped":
        def summed_not_averaged(self, dout=1):  # y - t for each sample, as if the loss were summed over the batch
            dx = self.y.copy()
            dx[np.arange(len(self.t)), self.t] -= 1
            return dx * dout
        monkeypatch.setattr(layers.SoftmaxWithLoss, "backward", summed_not_averaged)
    elif bug == "relu passes everything":
        monkeypatch.setattr(layers.Relu, "backward", lambda self, dout: dout)
    else:
        original_affine = layers.Affine.backward

        def bad(self, dout, need_dx=True):
            dx = original_affine(self, dout, need_dx)
            self.db = dout[0]
            return dx
        monkeypatch.setattr(layers.Affine, "backward", bad)
    report = gradient_check(net, x, t)
    assert not all(r["ok"] for r in report.values()), report
