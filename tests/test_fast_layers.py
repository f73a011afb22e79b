"""The fast Convolution and Pooling (channels last, chunked, no im2col for pooling) against the book's plain
versions in digitnet.book.layers, and the helpers they are built from."""
import numpy as np
import pytest

from digitnet.book import layers as book_layers
from digitnet.im2col import batch_chunks, col2im, col2im_nhwc, im2col, im2col_nhwc
from digitnet.layers import Affine, Convolution, Pooling
from digitnet.nets import DeepConvNet, TwoLayerNet


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def nhwc_columns(C, fh, fw):
    """The permutation taking im2col's (c, y, x) columns to im2col_nhwc's (y, x, c) order."""
    return np.arange(C * fh * fw).reshape(C, fh, fw).transpose(1, 2, 0).ravel()


@pytest.mark.parametrize("shape, fh, fw, stride, pad", [
    ((2, 3, 7, 7), 3, 3, 1, 1), ((1, 2, 8, 6), 3, 2, 2, 0), ((3, 1, 9, 11), 2, 4, 2, 1),
    ((2, 2, 10, 7), 3, 3, 3, 2), ((2, 4, 5, 5), 1, 1, 2, 1),
    ((2, 1, 12, 12), 5, 5, 1, 0), ((2, 1, 8, 8), 3, 3, 1, 1),  # one channel: the column-by-column copy
])
def test_im2col_nhwc_is_im2col_with_channels_last(rng, shape, fh, fw, stride, pad):
    x = rng.standard_normal(shape)
    x_nhwc = x.transpose(0, 2, 3, 1)
    perm = nhwc_columns(shape[1], fh, fw)
    col = im2col_nhwc(x_nhwc, fh, fw, stride, pad)
    np.testing.assert_array_equal(col, im2col(x, fh, fw, stride, pad)[:, perm])
    c = rng.standard_normal(col.shape)
    book = col2im(c[:, np.argsort(perm)], shape, fh, fw, stride, pad)  # the same rows in the book's order
    np.testing.assert_allclose(col2im_nhwc(c, x_nhwc.shape, fh, fw, stride, pad), book.transpose(0, 2, 3, 1),
                               rtol=1e-13, atol=1e-13)


def test_batch_chunks_cover_the_batch_within_the_budget():
    chunks = batch_chunks(10, 300, budget=1000)
    assert [(s.start, s.stop) for s in chunks] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert batch_chunks(4, 5000, budget=1000) == [slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 4)]
    assert batch_chunks(3, 0) == [slice(0, 3)]


CONV_CASES = [  # x shape, W shape, stride, pad: which backward path each takes is in the comment
    ((5, 16, 28, 28), (8, 16, 3, 3), 1, 1),  # dx by convolution, several chunks (each image's im2col ~0.9 MB)
    ((2, 3, 9, 8), (4, 3, 3, 3), 1, 0),      # dx by convolution, back padding 2
    ((2, 3, 9, 8), (4, 3, 3, 3), 1, 2),      # dx by convolution, back padding 0 (DeepConvNet's Conv4)
    ((2, 3, 9, 8), (4, 3, 3, 3), 1, 3),      # col2im: padding wider than the filter
    ((2, 3, 9, 8), (4, 3, 3, 3), 2, 1),      # col2im: stride 2
    ((2, 2, 7, 9), (3, 2, 2, 4), 1, 1),      # col2im: non-square filter
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_convolution_equals_the_books(rng, x_shape, w_shape, stride, pad):
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    fast, book = Convolution(W, b, stride, pad), book_layers.Convolution(W, b, stride, pad)
    out = fast.forward(x)
    np.testing.assert_allclose(out, book.forward(x), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(fast.backward(dout), book.backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.dW, book.dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.db, book.db, rtol=1e-12, atol=1e-12)
    dW = fast.dW
    assert fast.backward(dout, need_dx=False) is None  # the first layer's shortcut: same parameter gradients
    np.testing.assert_array_equal(fast.dW, dW)


def test_convolution_output_feeds_the_next_without_a_copy(rng):
    out = Convolution(rng.standard_normal((4, 2, 3, 3)), np.zeros(4), 1, 1).forward(rng.standard_normal((2, 2, 6, 6)))
    assert out.shape == (2, 4, 6, 6)
    assert out.transpose(0, 2, 3, 1).flags.c_contiguous  # channels-last memory, what the next layer works in


@pytest.mark.parametrize("x_shape, ph, pw, stride, pad", [
    ((3, 4, 8, 8), 2, 2, 2, 0), ((2, 3, 7, 9), 3, 3, 2, 1), ((2, 2, 6, 7), 2, 3, 1, 0), ((1, 2, 9, 8), 3, 3, 3, 2),
    ((2, 3, 7, 7), 2, 2, 2, 0),  # the last row and column in no window: their gradient must be 0, not garbage
    ((2, 2, 5, 5), 1, 1, 1, 0),
    ((2, 3, 6, 6), 2, 2, 3, 0), ((2, 2, 7, 7), 2, 2, 3, 1),  # stride larger than the window: pixels in no window
])
def test_pooling_equals_the_books_even_with_ties(rng, x_shape, ph, pw, stride, pad):
    # small integers after a relu: most windows hold several equal maxima, often all zeros
    x = np.maximum(rng.integers(-3, 3, x_shape), 0).astype(np.float64)
    fast, book = Pooling(ph, pw, stride, pad), book_layers.Pooling(ph, pw, stride, pad)
    out = fast.forward(x)
    # book_layers pads with -inf as digitnet does (the book's own code pads with zeros): equal with padding too
    np.testing.assert_array_equal(out, book.forward(x))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(fast.backward(dout), book.backward(dout))


def test_affine_can_skip_the_input_gradient(rng):
    W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x, dout = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dout), dout @ W.T)
    dW, db = layer.dW, layer.db
    layer.forward(x)
    assert layer.backward(dout, need_dx=False) is None
    np.testing.assert_array_equal(layer.dW, dW)
    np.testing.assert_array_equal(layer.db, db)


@pytest.mark.parametrize("make", [
    lambda rng: (TwoLayerNet(12, 5, 3, 0.5, rng=rng), rng.standard_normal((4, 12))),
    lambda rng: (DeepConvNet((1, 12, 12), hidden_size=6, output_size=3, dropout_ratio=0.0, rng=rng),
                 rng.standard_normal((2, 1, 12, 12))),
])
def test_net_gradient_is_the_full_backward_pass(rng, make):
    """loss_and_gradient leaves out only the input's gradient: every parameter's equals the book's full pass."""
    net, x = make(rng)
    t = np.arange(x.shape[0]) % 3
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    net.loss(x, t, train_flg=True)
    dout = net.lastLayer.backward(1)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    assert dout.shape == x.shape
    for key, (name, attr) in net.param_owner.items():
        np.testing.assert_array_equal(grads[key], getattr(net.layers[name], "d" + attr), err_msg=key)
