"""The book's ch. 6-7 layers: Dropout, BatchNormalization, im2col/col2im, Convolution, Pooling."""
import re

import numpy as np
import pytest
from helpers import check_layer

from digitnet import layers
from digitnet.book import layers as book_layers
from digitnet.im2col import (
    col2im,
    col2im_reference,
    conv_output_size,
    im2col,
    im2col_reference,
    pad_nhwc,
    uses_row_windows,
)
from digitnet.layers import BatchNormalization, Convolution, Dropout, Pooling


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


class SameDraw:
    """An rng whose random() always returns the same uniforms, so Dropout keeps one mask across forward calls."""

    def __init__(self, uniforms):
        self.uniforms = uniforms

    def random(self, shape):
        assert shape == self.uniforms.shape
        return self.uniforms


class Inference:
    """A layer seen in inference mode, for check_layer (which calls forward(x) with no flag)."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        return self.layer.forward(x, train_flg=False)

    def backward(self, dout):
        return self.layer.backward(dout)

    def __getattr__(self, name):
        return getattr(self.layer, name)


# ---- im2col / col2im -------------------------------------------------------------------------------

def book_im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """The book's common/util.py im2col, verbatim but for // where the book's int() of a float does the same."""
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], 'constant')
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def book_col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


IM2COL_CASES = [  # (N, C, H, W), filter_h, filter_w, stride, pad
    ((2, 3, 7, 7), 3, 3, 1, 0),
    ((2, 3, 7, 7), 3, 3, 1, 1),
    ((1, 2, 8, 6), 3, 2, 2, 0),
    ((3, 1, 9, 11), 2, 4, 2, 1),
    ((2, 2, 10, 7), 3, 3, 3, 2),
    ((1, 3, 5, 9), 5, 1, 3, 0),
    ((2, 1, 6, 6), 2, 2, 2, 0),
    ((1, 2, 4, 5), 4, 5, 1, 2),
    ((2, 1, 5, 5), 1, 1, 2, 1),
]


@pytest.mark.parametrize("shape, fh, fw, stride, pad", IM2COL_CASES)
def test_im2col_and_col2im_match_the_reference_and_the_book(rng, shape, fh, fw, stride, pad):
    x = rng.standard_normal(shape)
    col = im2col(x, fh, fw, stride, pad)
    out_h, out_w = conv_output_size(shape[2], fh, stride, pad), conv_output_size(shape[3], fw, stride, pad)
    assert col.shape == (shape[0] * out_h * out_w, shape[1] * fh * fw)
    assert col.flags.c_contiguous and not np.shares_memory(col, x)
    np.testing.assert_array_equal(col, im2col_reference(x, fh, fw, stride, pad))
    np.testing.assert_array_equal(col, book_im2col(x, fh, fw, stride, pad))

    c = rng.standard_normal(col.shape)
    img = col2im(c, shape, fh, fw, stride, pad)
    assert img.shape == shape
    np.testing.assert_allclose(img, col2im_reference(c, shape, fh, fw, stride, pad), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(img, book_col2im(c, shape, fh, fw, stride, pad), rtol=1e-13, atol=1e-13)
    # col2im is im2col's adjoint: <im2col(x), c> == <x, col2im(c)>, which is what makes it the backward pass.
    assert np.sum(col * c) == pytest.approx(np.sum(x * img), rel=1e-12)


def test_im2col_keeps_float32_and_leaves_input_alone(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    x0 = x.copy()
    col = im2col(x, 3, 3, 2, 1)
    assert col.dtype == np.float32 and np.array_equal(x, x0)
    assert col2im(col, x.shape, 3, 3, 2, 1).dtype == np.float32


def test_window_larger_than_padded_input_is_an_error():
    with pytest.raises(ValueError):
        im2col(np.zeros((1, 1, 3, 3)), 5, 5)
    assert conv_output_size(28, 5) == 24 and conv_output_size(28, 3, 1, 1) == 28 and conv_output_size(7, 3, 2, 1) == 4


# ---- Dropout -------------------------------------------------------------------------------------------

def test_dropout_gradient_with_a_fixed_mask(rng):
    x = rng.standard_normal((4, 6))
    layer = Dropout(0.3, rng=SameDraw(rng.random((4, 6))))
    check_layer(layer, x, rng=rng)


def test_dropout_mask_scale_and_backward(rng):
    x = rng.standard_normal((50, 40))
    layer = Dropout(0.4, rng=np.random.default_rng(7))
    out = layer.forward(x, train_flg=True)
    keep = np.random.default_rng(7).random(x.shape) >= 0.4  # the very draws the layer made
    np.testing.assert_allclose(out, np.where(keep, x / 0.6, 0.0), rtol=1e-15)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dout), np.where(keep, dout / 0.6, 0.0), rtol=1e-15)


def test_dropout_ratio_is_the_fraction_dropped_with_its_own_generator():
    # no rng given: the layer makes its own; ratio must be the share of units dropped, not kept
    out = Dropout(0.3).forward(np.ones((200, 200)), train_flg=True)
    assert set(np.unique(out)) == {0.0, 1 / (1 - 0.3)}
    # 40000 draws: the dropped share has standard deviation 0.0023, and 0.3 and 0.7 are far apart
    assert abs(np.mean(out == 0) - 0.3) < 0.02


def test_dropout_is_reproducible_and_draws_a_new_mask_each_pass():
    x = np.ones((20, 30))
    a, b = Dropout(0.5, rng=np.random.default_rng(3)), Dropout(0.5, rng=np.random.default_rng(3))
    first = a.forward(x)
    assert np.array_equal(first, b.forward(x))
    assert not np.array_equal(first, a.forward(x))


def test_dropout_expectation_in_training_is_the_input(rng):
    x = rng.standard_normal(50)
    layer = Dropout(0.5, rng=np.random.default_rng(11))
    mean = np.mean([layer.forward(x) for _ in range(4000)], axis=0)
    # each element's average of 4000 draws of x*{0,2} has standard error |x| / sqrt(4000) ~ 0.016 |x|
    np.testing.assert_allclose(mean, x, atol=0.08 * np.abs(x).max())
    assert np.mean(mean / x) == pytest.approx(1.0, abs=0.01)


def test_dropout_is_the_identity_at_inference(rng):
    x = rng.standard_normal((5, 7))
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    layer.forward(x, train_flg=True)
    assert np.array_equal(layer.forward(x, train_flg=False), x)
    dout = rng.standard_normal(x.shape)
    assert np.array_equal(layer.backward(dout), dout)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_rejects_ratios_outside_zero_to_one(ratio):
    with pytest.raises(ValueError):
        Dropout(ratio)


def test_dropout_ratio_zero_keeps_everything(rng):
    x = rng.standard_normal((3, 4))
    assert np.array_equal(Dropout(0.0).forward(x), x)


# ---- BatchNormalization ---------------------------------------------------------------------------------

def make_bn(rng, D, **kwargs):
    return BatchNormalization(rng.standard_normal(D) + 1.0, rng.standard_normal(D), **kwargs)


@pytest.mark.parametrize("shape", [(6, 5), (4, 2, 3, 2)])
def test_batchnorm_training_gradients(rng, shape):
    x = rng.standard_normal(shape) * 3 + 1
    layer = make_bn(rng, int(np.prod(shape[1:])))
    check_layer(layer, x, rng=rng, wrt=("gamma", "beta"))


@pytest.mark.parametrize("shape", [(6, 5), (3, 2, 2, 3)])
def test_batchnorm_inference_gradients(rng, shape):
    D = int(np.prod(shape[1:]))
    layer = make_bn(rng, D, running_mean=rng.standard_normal(D), running_var=rng.random(D) + 0.5)
    check_layer(Inference(layer), rng.standard_normal(shape), rng=rng, wrt=("gamma", "beta"))


def test_batchnorm_training_normalizes_each_feature(rng):
    x = rng.standard_normal((64, 4)) * [1, 10, 0.1, 5] + [0, -3, 7, 100]
    gamma, beta = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.0, 1.0, -1.0, 2.0])
    out = BatchNormalization(gamma, beta).forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-4)


def test_batchnorm_4d_is_per_pixel_as_in_the_book(rng):
    x = rng.standard_normal((5, 2, 3, 3))
    layer = make_bn(rng, 18)
    out = layer.forward(x)
    assert out.shape == x.shape
    flat = make_bn(np.random.default_rng(0), 18)
    flat.gamma, flat.beta = layer.gamma, layer.beta
    np.testing.assert_allclose(out, flat.forward(x.reshape(5, -1)).reshape(x.shape), rtol=1e-14)
    assert layer.backward(np.ones_like(x)).shape == x.shape
    assert layer.dgamma.shape == (18,) and layer.dbeta.shape == (18,) and layer.running_mean.shape == (18,)


def test_batchnorm_running_statistics(rng):
    x = rng.standard_normal((32, 3)) * 2 + 5
    mean0, var0 = np.zeros(3), np.ones(3)
    layer = make_bn(rng, 3, momentum=0.9, running_mean=mean0, running_var=var0)
    layer.forward(x, train_flg=True)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0), rtol=1e-12)
    assert np.array_equal(mean0, np.zeros(3)) and np.array_equal(var0, np.ones(3))  # the caller's arrays untouched
    for _ in range(300):
        layer.forward(x, train_flg=True)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(layer.running_var, x.var(axis=0), rtol=1e-10)
    before = layer.running_mean.copy(), layer.running_var.copy()
    layer.forward(x + 100, train_flg=False)  # inference never moves them
    assert np.array_equal(layer.running_mean, before[0]) and np.array_equal(layer.running_var, before[1])


def test_batchnorm_inference_uses_running_statistics(rng):
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    layer = make_bn(rng, 4, running_mean=rm, running_var=rv)
    x = rng.standard_normal((3, 4))
    expected = layer.gamma * (x - rm) / np.sqrt(rv + 1e-6) + layer.beta
    np.testing.assert_allclose(layer.forward(x, train_flg=False), expected, rtol=1e-13)
    # one sample at inference is fine (batch statistics of one sample would be degenerate)
    np.testing.assert_allclose(layer.forward(x[:1], train_flg=False), expected[:1], rtol=1e-13)


def test_batchnorm_defaults_eps_and_fresh_running_statistics(rng):
    layer = make_bn(rng, 3)
    assert layer.eps == pytest.approx(1e-6) and layer.momentum == 0.9
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(x, train_flg=False), layer.gamma * x / np.sqrt(1 + 1e-6) + layer.beta)


# ---- Convolution ---------------------------------------------------------------------------------------

def naive_conv(x, W, b, stride, pad):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    out_h, out_w = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, out_h, out_w))
    for n in range(N):
        for f in range(FN):
            for i in range(out_h):
                for j in range(out_w):
                    patch = xp[n, :, i * stride:i * stride + FH, j * stride:j * stride + FW]
                    out[n, f, i, j] = np.sum(patch * W[f]) + b[f]
    return out


CONV_CASES = [  # x shape, W shape, stride, pad
    ((2, 3, 7, 5), (4, 3, 3, 3), 2, 1),
    ((2, 2, 6, 6), (3, 2, 3, 2), 1, 0),
    ((1, 3, 8, 7), (2, 3, 2, 3), 3, 2),
    ((2, 3, 6, 5), (4, 3, 3, 3), 1, 1),  # stride 1, square: the fast layer's dx is then a convolution too
]


BOTH = pytest.mark.parametrize("impl", [layers, book_layers], ids=["fast", "book"])


@BOTH
@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_convolution_forward_matches_the_definition(rng, impl, x_shape, w_shape, stride, pad):
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out = impl.Convolution(W, b, stride, pad).forward(x)
    expected = naive_conv(x, W, b, stride, pad)
    assert out.shape == expected.shape == (x_shape[0], w_shape[0],
                                           conv_output_size(x_shape[2], w_shape[2], stride, pad),
                                           conv_output_size(x_shape[3], w_shape[3], stride, pad))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@BOTH
@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_convolution_gradients(rng, impl, x_shape, w_shape, stride, pad):
    layer = impl.Convolution(rng.standard_normal(w_shape), rng.standard_normal(w_shape[0]), stride, pad)
    check_layer(layer, rng.standard_normal(x_shape), rng=rng, wrt=("W", "b"))
    assert layer.dW.shape == layer.W.shape and layer.db.shape == layer.b.shape


@pytest.mark.parametrize("x_shape, w_shape, pad", [
    ((7, 16, 28, 28), (16, 16, 3, 3), 1),  # DeepConvNet's Conv2, in chunks of 3, 3 and 1 images in float32
    ((5, 4, 30, 29), (3, 4, 5, 5), 2),     # 5x5 filters on a 30x29 image; dx takes the row windows too (3 channels)
    ((3, 2, 30, 30), (5, 2, 3, 2), 0),     # a filter wider than tall: dx by col2im
    ((9, 8, 8, 8), (6, 8, 3, 3), 1),       # a small image: the filter gradient by im2col
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_convolution_by_row_windows_matches_the_books(rng, x_shape, w_shape, pad, dtype):
    # few channels on a large image: the fast layer builds each image's neighbouring pixels side by side once and
    # makes the product filter row by filter row, instead of im2col (digitnet.im2col.conv_chunks)
    x = rng.standard_normal(x_shape).astype(dtype)
    W, b = rng.standard_normal(w_shape).astype(dtype), rng.standard_normal(w_shape[0]).astype(dtype)
    padded = pad_nhwc(x.transpose(0, 2, 3, 1), pad).shape
    assert uses_row_windows(padded, *w_shape[2:], 1)
    assert uses_row_windows(padded, *w_shape[2:], 1, gradient=True) == (x_shape[2] > 8)
    fast, book = Convolution(W, b, 1, pad), book_layers.Convolution(W, b, 1, pad)
    out, expected = fast.forward(x), book.forward(x)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tolerance)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, book_dx = fast.backward(dout), book.backward(dout)
    assert dx.dtype == fast.dW.dtype == dtype
    np.testing.assert_allclose(dx, book_dx, **tolerance)
    np.testing.assert_allclose(fast.dW, book.dW, rtol=tolerance["rtol"], atol=tolerance["atol"] * x_shape[0] * 100)
    np.testing.assert_allclose(fast.db, book.db, rtol=tolerance["rtol"], atol=tolerance["atol"] * x_shape[0] * 100)


def test_row_windows_only_where_they_paid():
    # padded channels-last inputs of DeepConvNet's layers: every convolution of more than one channel and stride 1
    # takes them forward (and for dx); the filter gradient from 16x16 outputs up. Conv1 (one channel) has its own.
    conv2, conv3, conv4, conv6 = (100, 30, 30, 16), (100, 16, 16, 16), (100, 18, 18, 32), (100, 10, 10, 64)
    assert all(uses_row_windows(shape, 3, 3, 1) for shape in (conv2, conv3, conv4, conv6))
    assert [uses_row_windows(shape, 3, 3, 1, gradient=True) for shape in (conv2, conv3, conv4, conv6)] == [
        True, False, True, False]
    assert not uses_row_windows((100, 30, 30, 1), 3, 3, 1) and not uses_row_windows((100, 30, 30, 1), 3, 3, 1, True)
    assert not uses_row_windows((100, 30, 30, 16), 3, 3, 2) and not uses_row_windows((100, 30, 30, 16), 3, 3, 2, True)


def test_convolution_shares_its_weights_with_the_network(rng):
    W, b = rng.standard_normal((2, 1, 3, 3)), np.zeros(2)
    layer = Convolution(W, b)
    x = rng.standard_normal((1, 1, 5, 5))
    W -= 0.5  # an optimizer's in-place update
    np.testing.assert_allclose(layer.forward(x), naive_conv(x, W, b, 1, 0), rtol=1e-12)


@pytest.mark.parametrize("b", [0, 0.5, [0.5], np.float32(-1.0)])
def test_convolution_takes_one_number_for_every_filter_s_bias_as_the_book(rng, b):
    W = rng.standard_normal((2, 1, 3, 3))  # ch07/apply_filter.py: Convolution(w, b=0).forward(img)
    x = rng.standard_normal((1, 1, 6, 6))
    expected = book_layers.Convolution(W, b).forward(x)
    np.testing.assert_allclose(Convolution(W, b).forward(x), expected, rtol=1e-12)
    np.testing.assert_allclose(Convolution(W, b).forward(x), naive_conv(x, W, np.full(2, np.ravel(b)[0]), 1, 0),
                               rtol=1e-12)


def test_convolution_refuses_a_bias_that_is_not_one_per_filter(rng):
    with pytest.raises(ValueError, match=r"bias has shape \(3,\): give one per filter, \(2,\)"):
        Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(3)).forward(np.zeros((1, 1, 5, 5)))


# ---- Pooling -------------------------------------------------------------------------------------------

def naive_pool(x, ph, pw, stride, pad):
    N, C, H, W = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=-np.inf)
    out_h, out_w = (H + 2 * pad - ph) // stride + 1, (W + 2 * pad - pw) // stride + 1
    out = np.empty((N, C, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = xp[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out


POOL_CASES = [  # x shape, pool_h, pool_w, stride, pad
    ((2, 3, 6, 8), 2, 2, 2, 0),
    ((2, 3, 7, 5), 2, 2, 2, 0),  # odd sides: the last row and column are in no window
    ((2, 2, 5, 7), 3, 3, 1, 1),
    ((1, 3, 7, 6), 3, 2, 2, 0),
    ((2, 1, 9, 8), 3, 3, 3, 2),
]


@BOTH
@pytest.mark.parametrize("x_shape, ph, pw, stride, pad", POOL_CASES)
def test_pooling_forward_and_gradient(rng, impl, x_shape, ph, pw, stride, pad):
    x = rng.standard_normal(x_shape)  # random floats: no ties, and no max within h of another
    layer = impl.Pooling(ph, pw, stride, pad)
    np.testing.assert_array_equal(layer.forward(x), naive_pool(x, ph, pw, stride, pad))
    check_layer(layer, x, rng=rng)


def test_pooling_routes_the_gradient_to_the_maximum():
    x = np.array([[[[1.0, 5.0, 2.0, 0.0],
                    [3.0, 4.0, 9.0, 8.0],
                    [7.0, 7.0, 1.0, 1.0],   # ties: 7, 7 and then four 1s
                    [7.0, 7.0, 1.0, 1.0]]]])
    layer = Pooling(2, 2, stride=2)
    np.testing.assert_array_equal(layer.forward(x), [[[[5.0, 9.0], [7.0, 1.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 1], expected[0, 0, 1, 2] = 10, 20
    expected[0, 0, 2, 0], expected[0, 0, 2, 2] = 30, 40  # a tie sends it all to one element, the first
    np.testing.assert_array_equal(dx, expected)


def test_pooling_overlapping_windows_add_up():
    x = np.array([[[[0.0, 1.0, 0.0], [0.0, 9.0, 0.0], [0.0, 2.0, 0.0]]]])
    layer = Pooling(2, 2, stride=1)
    assert np.all(layer.forward(x) == 9.0)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_pooling_padding_is_never_the_maximum(rng):
    x = -rng.random((1, 2, 4, 4)) - 1  # all negative: zero padding would win every border window
    layer = Pooling(3, 3, stride=1, pad=1)
    out = layer.forward(x)
    assert np.all(out < -1)
    np.testing.assert_array_equal(out, naive_pool(x, 3, 3, 1, 1))
    assert layer.backward(np.ones_like(out)).sum() == out.size  # no gradient lost into the padding


@pytest.mark.parametrize("x_shape, ph, pw, stride", [
    ((2, 3, 6, 6), 2, 2, 3),  # stride x outputs == input, yet the windows skip a row and column in every three
    ((2, 2, 3, 3), 1, 1, 3),
    ((1, 2, 8, 8), 2, 3, 4),
])
def test_pooling_with_stride_larger_than_the_window_gives_skipped_pixels_no_gradient(rng, x_shape, ph, pw, stride):
    x = rng.standard_normal(x_shape)
    layer, book = Pooling(ph, pw, stride), book_layers.Pooling(ph, pw, stride)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, book.forward(x))
    dout = rng.standard_normal(out.shape)
    channels_last = (x_shape[0], x_shape[2], x_shape[3], x_shape[1])
    junk = [np.full(shape, np.nan) for shape in (channels_last, out.shape) for _ in range(4)]
    del junk  # NaN left in freed memory: a pixel that backward does not write would show it
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, book.backward(dout))
    in_a_window = np.zeros(x_shape[2:], dtype=bool)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            in_a_window[i * stride:i * stride + ph, j * stride:j * stride + pw] = True
    assert not in_a_window.all() and np.all(dx[:, :, ~in_a_window] == 0)


def test_pooling_defaults_to_the_books_stride_of_two(rng):
    layer = Pooling(2, 2)
    assert layer.forward(rng.standard_normal((1, 1, 6, 6))).shape == (1, 1, 3, 3)
    assert book_layers.Pooling(2, 2).stride == 2


def test_pooling_rejects_padding_as_large_as_the_window():
    with pytest.raises(ValueError):
        Pooling(2, 2, stride=2, pad=2)


def test_pooling_shapes(rng):
    out = Pooling(2, 2, stride=2).forward(rng.standard_normal((3, 30, 24, 24)))
    assert out.shape == (3, 30, 12, 12)


# ---- every new layer ------------------------------------------------------------------------------------

NEW_LAYERS = {
    "dropout": lambda rng: (Dropout(0.5, rng=np.random.default_rng(0)), (3, 2, 4, 4)),
    "batchnorm": lambda rng: (make_bn(rng, 32, running_mean=np.zeros(32), running_var=np.ones(32)), (3, 2, 4, 4)),
    "convolution": lambda rng: (Convolution(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), 2, 1),
                                (3, 2, 5, 4)),
    "pooling": lambda rng: (Pooling(2, 2, stride=2), (3, 2, 4, 6)),
}


@pytest.mark.parametrize("train_flg", [True, False])
@pytest.mark.parametrize("name", NEW_LAYERS)
def test_no_new_layer_writes_into_its_callers_arrays(rng, name, train_flg):
    layer, shape = NEW_LAYERS[name](rng)
    x = rng.standard_normal(shape)
    given = {k: (v, v.copy()) for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    x0 = x.copy()
    out = layer.forward(x, train_flg) if getattr(layer, "train_flg_aware", False) else layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dout0 = dout.copy()
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    assert np.array_equal(x, x0) and np.array_equal(dout, dout0)
    for k, (array, copy) in given.items():  # weights, gamma/beta and the running-statistics arrays given to it
        assert np.array_equal(array, copy), k


@pytest.mark.parametrize("train_flg", [True, False])
@pytest.mark.parametrize("name", NEW_LAYERS)
def test_float32_in_float32_out(rng, name, train_flg):
    layer, shape = NEW_LAYERS[name](rng)
    for k, v in vars(layer).items():
        if isinstance(v, np.ndarray) and v.dtype == np.float64:
            setattr(layer, k, v.astype(np.float32))
    x = rng.standard_normal(shape).astype(np.float32)
    out = layer.forward(x, train_flg) if getattr(layer, "train_flg_aware", False) else layer.forward(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    for grad in ("dW", "db", "dgamma", "dbeta"):
        if getattr(layer, grad, None) is not None:
            assert getattr(layer, grad).dtype == np.float32, grad


def test_convolution_and_pooling_refuse_input_and_settings_they_cannot_take_in_one_clear_line():
    """A wrong channel count was a reshape or matmul error from deep inside, 3-d input "axes don't match array",
    stride 0 a ZeroDivisionError and pad -1 a broadcasting error (a review; PyTorch refuses each by name)."""
    conv = Convolution(np.zeros((2, 3, 3, 3)), np.zeros(2))
    for x in (np.zeros((1, 4, 6, 6)), np.zeros((1, 1, 6, 6)), np.zeros((3, 6, 6))):
        wanted = r"Convolution takes images shaped \(N, 3, H, W\), not " + re.escape(str(x.shape))
        with pytest.raises(ValueError, match=wanted):
            conv.forward(x)
        with pytest.raises(ValueError, match="Convolution takes images shaped"):
            conv.infer(x)
    with pytest.raises(ValueError, match=r"Pooling takes images shaped \(N, C, H, W\), not \(3, 6, 6\)"):
        Pooling(2, 2).forward(np.zeros((3, 6, 6)))
    for make in (lambda: Convolution(conv.W, conv.b, stride=0), lambda: Pooling(2, 2, stride=0)):
        with pytest.raises(ValueError, match="stride must be a whole number >= 1, not 0"):
            make()
    with pytest.raises(ValueError, match="pad must be a whole number >= 0, not -1"):
        Convolution(conv.W, conv.b, pad=-1)
    assert conv.forward(np.ones((1, 3, 6, 6))).shape == (1, 2, 4, 4)  # what fits still runs


def test_a_window_that_does_not_fit_is_named_with_the_layers_own_pad_and_the_inputs_own_size():
    """The message named the padded size and pad 0: "a 5-wide window with pad 0 does not fit an input of size 4"
    for a 2x2 input and pad 1 (a review)."""
    conv = Convolution(np.zeros((2, 1, 5, 5)), np.zeros(2), pad=1)
    for run in (conv.forward, conv.infer):
        with pytest.raises(ValueError, match="^a 5-wide window with pad 1 does not fit an input of size 2$"):
            run(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="^a 3-wide window with pad 1 does not fit an input of size 0$"):
        Pooling(3, 3, stride=1, pad=1).forward(np.zeros((1, 1, 4, 0)))
    assert conv.forward(np.ones((1, 1, 3, 3))).shape == (1, 2, 1, 1)  # 3 + 2 pad fits a 5-wide window
    assert Pooling(3, 3, stride=1, pad=1).forward(np.ones((1, 1, 1, 1))).shape == (1, 1, 1, 1)


def test_batch_norm_refuses_to_train_on_one_value_per_feature():
    """Trained on batches of 1, BatchNormalization's output and gradient were 0 and its running variance fell
    towards 0, so that inference gave values of +-55 (a review); PyTorch refuses it. Inference on one is fine."""
    from digitnet.layers import ChannelBatchNorm

    bn = BatchNormalization(np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="more than one value per feature to train on"):
        bn.forward(np.ones((1, 4)), True)
    bn.forward(np.random.default_rng(0).standard_normal((5, 4)), True)
    assert bn.forward(np.ones((1, 4)), False).shape == (1, 4)
    channel = ChannelBatchNorm(np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match="more than one value per feature to train on"):
        channel.forward(np.ones((1, 2, 1, 1)), True)
    assert channel.forward(np.random.default_rng(1).standard_normal((1, 2, 3, 3)), True).shape == (1, 2, 3, 3)
