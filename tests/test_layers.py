import numpy as np
import pytest
from helpers import check_layer

from digitnet.gradient import numerical_gradient
from digitnet.layers import Affine, Relu, Sigmoid, Softmax, SoftmaxWithLoss


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def away_from_kink(x, margin=1e-2):
    """Keep ReLU inputs clear of 0, where a central difference straddles the kink."""
    return np.where(np.abs(x) < margin, margin * np.sign(x + 1e-12) * 5, x)


def test_relu_gradient_and_mask(rng):
    x = away_from_kink(rng.standard_normal((4, 7)))
    check_layer(Relu(), x, rng=rng)
    out = Relu().forward(x)
    assert np.all(out[x <= 0] == 0) and np.array_equal(out[x > 0], x[x > 0])


@pytest.mark.parametrize("shape, axes", [((5,), None), ((3, 4), None), ((2, 3, 4, 5), None),
                                         ((2, 3, 4, 5), (0, 3, 1, 2)), ((2, 3, 4, 5), (0, 2, 1, 3))])
def test_relu_is_max_with_zero_in_any_layout(rng, shape, axes):
    # C order, channels-last memory seen as (N, C, H, W) (rows of memory), and a layout with neither (np.maximum)
    x = rng.standard_normal(shape).astype(np.float32)
    x = x if axes is None else x.transpose(axes)
    out = Relu().forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    assert out.dtype == np.float32 and out.strides == np.maximum(x, 0).strides


def test_sigmoid_gradient(rng):
    check_layer(Sigmoid(), rng.standard_normal((5, 3)) * 3, rng=rng)


def test_affine_gradient_2d(rng):
    layer = Affine(rng.standard_normal((6, 4)), rng.standard_normal(4))
    check_layer(layer, rng.standard_normal((3, 6)), rng=rng, wrt=("W", "b"))


def test_affine_accepts_4d_input_and_restores_its_shape(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    layer = Affine(rng.standard_normal((48, 5)), rng.standard_normal(5))
    out = layer.forward(x)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out, x.reshape(2, -1) @ layer.W + layer.b)
    assert layer.backward(np.ones((2, 5))).shape == x.shape
    check_layer(layer, x, rng=rng, wrt=("W", "b"))


def test_softmax_layer_gradient(rng):
    check_layer(Softmax(), rng.standard_normal((4, 10)), rng=rng)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_gradient_both_target_kinds(rng, one_hot):
    x = rng.standard_normal((5, 10))
    labels = rng.integers(0, 10, 5)
    t = np.eye(10)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(1)
    numeric = numerical_gradient(lambda _: layer.forward(x, t), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dx, (y - np.eye(10)[labels]) / 5, rtol=1e-12, atol=1e-15)


def test_softmax_with_loss_labels_and_one_hot_agree(rng):
    x = rng.standard_normal((6, 10))
    labels = rng.integers(0, 10, 6)
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(x, labels) == pytest.approx(b.forward(x, np.eye(10)[labels]), rel=1e-12)
    np.testing.assert_allclose(a.backward(1), b.backward(1), rtol=1e-12)


def test_softmax_with_loss_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    layer = SoftmaxWithLoss()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        right = layer.forward(x, np.array([0, 1]))
        dx_right = layer.backward(1)
        wrong = layer.forward(x, np.array([1, 0]))
        dx_wrong = layer.backward(1)
    assert right == pytest.approx(0.0, abs=1e-12)
    assert wrong == pytest.approx(2000.0)  # exact: log(softmax) would have hit log(0)
    assert np.all(np.isfinite(dx_right)) and np.all(np.isfinite(dx_wrong))
    np.testing.assert_allclose(dx_wrong, [[0.5, -0.5, 0], [-0.5, 0.5, 0]], atol=1e-12)


def test_softmax_with_loss_backward_scales_with_dout(rng):
    x, t = rng.standard_normal((4, 10)), rng.integers(0, 10, 4)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    np.testing.assert_allclose(layer.backward(2.5), 2.5 * layer.backward(1))


@pytest.mark.parametrize("make", [
    lambda rng: (Relu(), rng.standard_normal((3, 4))),
    lambda rng: (Sigmoid(), rng.standard_normal((3, 4))),
    lambda rng: (Softmax(), rng.standard_normal((3, 4))),
    lambda rng: (Affine(rng.standard_normal((4, 2)), rng.standard_normal(2)), rng.standard_normal((3, 4))),
])
def test_no_layer_writes_into_its_callers_arrays(rng, make):
    layer, x = make(rng)
    x_before = x.copy()
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    layer.backward(dout)
    assert np.array_equal(x, x_before) and np.array_equal(dout, dout_before)


def test_softmax_with_loss_leaves_targets_and_logits_alone(rng):
    x, t = rng.standard_normal((3, 10)), np.eye(10)[[1, 2, 3]]
    x0, t0 = x.copy(), t.copy()
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    layer.backward(1)
    assert np.array_equal(x, x0) and np.array_equal(t, t0)


def test_float32_stays_float32(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    layer = Affine(rng.standard_normal((6, 3)).astype(np.float32), np.zeros(3, np.float32))
    out = Relu().forward(layer.forward(x))
    assert out.dtype == np.float32
    loss_layer = SoftmaxWithLoss()
    loss_layer.forward(out, np.array([0, 1, 2, 0]))
    assert loss_layer.backward(1).dtype == np.float32


def test_softmax_with_loss_reads_a_column_of_labels_as_labels_and_names_a_wrong_target_shape():
    """A (N, 1) column of labels was taken for rows of class probabilities: "cannot reshape array of size 9 into
    shape (3,)" from net.loss and net.gradient, which accuracy took as labels (a review)."""
    x, t = np.random.default_rng(0).standard_normal((3, 4)), np.array([2, 0, 3])
    assert SoftmaxWithLoss().forward(x, t[:, None]) == SoftmaxWithLoss().forward(x, t)
    layer = SoftmaxWithLoss()
    layer.forward(x, t[:, None])
    reference = SoftmaxWithLoss()
    reference.forward(x, t)
    np.testing.assert_array_equal(layer.backward(), reference.backward())
    with pytest.raises(ValueError, match=r"targets of shape \(3, 10\) for scores of shape \(3, 4\)"):
        SoftmaxWithLoss().forward(x, np.eye(10)[t])
