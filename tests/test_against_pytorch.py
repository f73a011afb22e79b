"""The layers and the network against PyTorch's autograd, a trusted reference independent of our own code.

PyTorch is a test-only extra: `pip install torch==2.13.0` (CI installs it); without it these tests skip.
"""
import numpy as np
import pytest

from digitnet import TwoLayerNet
from digitnet.functions import softmax_cross_entropy
from digitnet.layers import Affine, Relu, Sigmoid, Softmax, SoftmaxWithLoss

torch = pytest.importorskip("torch")
F = torch.nn.functional
rng = np.random.default_rng(42)


def reference(fn, x, dout):
    """fn's output and d(sum(out * dout))/dx computed by torch."""
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("layer, fn", [
    (Relu(), torch.relu), (Sigmoid(), torch.sigmoid), (Softmax(), lambda x: torch.softmax(x, dim=1)),
])
def test_activation_layers(layer, fn):
    x, dout = rng.standard_normal((6, 10)), rng.standard_normal((6, 10))
    out_ref, dx_ref = reference(fn, x, dout)
    np.testing.assert_allclose(layer.forward(x), out_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dout), dx_ref, rtol=1e-12, atol=1e-14)


def test_affine_on_4d_input():
    x, W, b = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((32, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((3, 5))
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    out = xt.reshape(3, -1) @ Wt + bt
    out.backward(torch.tensor(dout))
    layer = Affine(W, b)
    np.testing.assert_allclose(layer.forward(x), out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.dW, Wt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.db, bt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_with_loss_matches_cross_entropy(scale):
    x, t = rng.standard_normal((8, 10)) * scale, rng.integers(0, 10, 8)
    xt = torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, torch.tensor(t))
    loss.backward()
    for targets in (t, np.eye(10)[t]):
        layer = SoftmaxWithLoss()
        assert layer.forward(x, targets) == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(layer.backward(1), xt.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_with_loss_on_soft_targets_matches_cross_entropy_with_probabilities(scale):
    # label smoothing and mixup give rows that are distributions, not one-hot: loss and gradient must both
    # use the whole row (the book takes the loss from its argmax and the gradient from the row)
    x = rng.standard_normal((8, 10)) * scale
    t = rng.random((8, 10)) ** 3
    t /= t.sum(axis=1, keepdims=True)
    t[0] = np.eye(10)[3]  # a one-hot row among them
    t[1] = 0.9 * np.eye(10)[5] + 0.01  # label smoothing
    xt = torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, torch.tensor(t))
    loss.backward()
    layer = SoftmaxWithLoss()
    assert layer.forward(x, t) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(layer.backward(1), xt.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert softmax_cross_entropy(x, t) == pytest.approx(loss.item(), rel=1e-12)


def test_two_layer_net_gradients():
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.1, rng=rng)
    x, t = rng.random((16, 784)), rng.integers(0, 10, 16)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    logits = torch.relu(torch.tensor(x) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    loss = F.cross_entropy(logits, torch.tensor(t))
    loss.backward()
    ours_loss, grads = net.loss_and_gradient(x, t)
    assert ours_loss == pytest.approx(loss.item(), rel=1e-12)
    for k in net.params:
        np.testing.assert_allclose(grads[k], p[k].grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=k)
