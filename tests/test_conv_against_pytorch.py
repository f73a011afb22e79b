"""Convolution, Pooling, BatchNormalization and Dropout against PyTorch, a reference independent of our code.

PyTorch is a test-only extra (`pip install torch==2.13.0`); without it these tests skip.
"""
import numpy as np
import pytest

from digitnet.layers import BatchNormalization, Convolution, Dropout, Pooling

torch = pytest.importorskip("torch")
F = torch.nn.functional
rng = np.random.default_rng(7)


def tensors(*arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((2, 3, 7, 5), (4, 3, 3, 3), 2, 1),
    ((3, 1, 28, 28), (30, 1, 5, 5), 1, 0),   # SimpleConvNet's first layer
    ((2, 16, 8, 8), (32, 16, 3, 3), 1, 1),   # a DeepConvNet layer
    ((5, 16, 14, 14), (32, 16, 3, 3), 1, 2),  # DeepConvNet's Conv4 padding, in several chunks
    ((2, 2, 9, 6), (3, 2, 2, 4), 3, 2),      # non-square filter, stride 3
])
def test_convolution_matches_conv2d(x_shape, w_shape, stride, pad):
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    xt, Wt, bt = tensors(x, W, b)
    out_t = F.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    dout = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))
    layer = Convolution(W, b, stride=stride, pad=pad)
    np.testing.assert_allclose(layer.forward(x), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dW, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.db, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("x_shape, ph, pw, stride, pad", [
    ((2, 3, 24, 24), 2, 2, 2, 0),
    ((2, 2, 7, 9), 3, 3, 2, 1),
    ((1, 3, 8, 7), 3, 2, 1, 1),
    ((2, 2, 10, 10), 3, 3, 3, 0),  # windows that miss the last row and column
])
def test_pooling_matches_max_pool2d(x_shape, ph, pw, stride, pad):
    x = rng.standard_normal(x_shape) - 2.0  # mostly negative, so padding would show if it counted as 0
    (xt,) = tensors(x)
    out_t = F.max_pool2d(xt, (ph, pw), stride=stride, padding=pad)
    dout = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))
    layer = Pooling(ph, pw, stride=stride, pad=pad)
    np.testing.assert_array_equal(layer.forward(x), out_t.detach().numpy())
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("N, D", [(8, 5), (100, 50)])
def test_batchnorm_training_matches_batch_norm(N, D):
    x = rng.standard_normal((N, D)) * 3 + 2
    gamma, beta = rng.standard_normal(D) + 1, rng.standard_normal(D)
    layer = BatchNormalization(gamma, beta, running_mean=np.zeros(D), running_var=np.ones(D))
    xt, gt, bt = tensors(x, gamma, beta)
    rm, rv = torch.zeros(D, dtype=torch.float64), torch.ones(D, dtype=torch.float64)
    # PyTorch's momentum weighs the new batch: its 0.1 is the book's 0.9.
    out_t = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=0.1, eps=layer.eps)
    dout = rng.standard_normal((N, D))
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(layer.forward(x, train_flg=True), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.dgamma, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dbeta, bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean, rm.numpy(), rtol=1e-12)
    # PyTorch keeps the unbiased variance in running_var (the book, like digitnet, the biased one).
    np.testing.assert_allclose(layer.running_var, 0.9 + (rv.numpy() - 0.9) * (N - 1) / N, rtol=1e-12)


def test_batchnorm_inference_matches_batch_norm():
    D = 6
    x, gamma, beta = rng.standard_normal((4, D)), rng.standard_normal(D), rng.standard_normal(D)
    rm, rv = rng.standard_normal(D), rng.random(D) + 0.5
    layer = BatchNormalization(gamma, beta, running_mean=rm, running_var=rv)
    xt, gt, bt = tensors(x, gamma, beta)
    out_t = F.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), gt, bt, training=False, eps=layer.eps)
    dout = rng.standard_normal((4, D))
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(layer.forward(x, train_flg=False), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.dgamma, gt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.dbeta, bt.grad.numpy(), rtol=1e-12)


def test_batchnorm_on_4d_input_is_batch_norm_over_flattened_samples():
    x = rng.standard_normal((6, 2, 3, 3))
    gamma, beta = rng.standard_normal(18), rng.standard_normal(18)
    xt, gt, bt = tensors(x, gamma, beta)
    out_t = F.batch_norm(xt.reshape(6, -1), None, None, gt, bt, training=True, eps=1e-6).reshape(x.shape)
    dout = rng.standard_normal(x.shape)
    out_t.backward(torch.tensor(dout))
    layer = BatchNormalization(gamma, beta)
    np.testing.assert_allclose(layer.forward(x), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_dropout_at_inference_is_identity_like_torch():
    x = rng.standard_normal((5, 10))
    expected = F.dropout(torch.tensor(x), p=0.5, training=False).numpy()
    np.testing.assert_array_equal(Dropout(0.5, rng=np.random.default_rng(0)).forward(x, train_flg=False), expected)


class Uniforms:
    """An rng for Dropout whose random() returns given uniforms."""

    def __init__(self, uniforms):
        self.uniforms = uniforms

    def random(self, shape):
        assert shape == self.uniforms.shape
        return self.uniforms


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_in_training_matches_torch_given_torchs_mask(p):
    # Both are inverted dropout. Make our layer drop exactly the units torch dropped (uniforms below the ratio
    # where torch zeroed, above it elsewhere): then output and gradient must be torch's, element for element.
    x = rng.random((40, 30)) + 1  # never 0, so a 0 in torch's output marks a dropped unit
    torch.manual_seed(0)
    xt = torch.tensor(x, requires_grad=True)
    out_t = F.dropout(xt, p=p, training=True)
    dout = rng.standard_normal(x.shape)
    out_t.backward(torch.tensor(dout))
    dropped = out_t.detach().numpy() == 0
    assert 0 < dropped.mean() < 1
    layer = Dropout(p, rng=Uniforms(np.where(dropped, p / 2, (1 + p) / 2)))
    np.testing.assert_allclose(layer.forward(x, train_flg=True), out_t.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-15)
