import numpy as np
import pytest

from digitnet.functions import cross_entropy_error, row_max, sigmoid, softmax, softmax_cross_entropy
from digitnet.layers import SoftmaxWithLoss


def test_softmax_rows_sum_to_one_and_ignore_shifts():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y = softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(softmax(x + 500), y)
    np.testing.assert_allclose(y[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


@pytest.mark.parametrize("shape", [(100, 10), (1000, 10), (7, 32), (7, 33), (3, 1), (0, 10), (10,), (2, 3, 10)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_row_max_is_numpys_max_over_the_last_axis(shape, dtype):
    x = (np.random.default_rng(0).standard_normal(shape) * 100).astype(dtype)
    got = row_max(x)
    want = x.max(axis=-1, keepdims=True)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_row_max_propagates_nan_like_max():
    x = np.zeros((4, 10), dtype=np.float32)
    x[2, 7] = np.nan
    np.testing.assert_array_equal(row_max(x)[:, 0], [0, 0, np.nan, 0])


def test_softmax_of_huge_logits_is_finite():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = softmax(np.array([1000.0, -1000.0, 0.0]))
    np.testing.assert_allclose(y, [1.0, 0.0, 0.0])


def test_sigmoid_matches_formula_and_does_not_overflow():
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = sigmoid(np.array([-1000.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 1.0])


def test_cross_entropy_error_one_hot_labels_and_single_sample():
    y = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])
    expected = -(np.log(0.7 + 1e-7) + np.log(0.8 + 1e-7)) / 2
    assert cross_entropy_error(y, np.array([1, 0])) == pytest.approx(expected)
    assert cross_entropy_error(y, np.eye(3)[[1, 0]]) == pytest.approx(expected)
    assert cross_entropy_error(y[0], np.array([0, 1, 0])) == pytest.approx(-np.log(0.7 + 1e-7))
    assert cross_entropy_error(y[0], 1) == pytest.approx(-np.log(0.7 + 1e-7))


def test_cross_entropy_error_takes_a_one_hot_row_for_one_sample_and_refuses_labels_out_of_range():
    """A 1-d one-hot t for a (1, C) y raised AxisError; a label of -1 read as the last class, in every loss."""
    y = np.array([[0.1, 0.7, 0.2]])
    assert cross_entropy_error(y, np.array([0, 1, 0])) == pytest.approx(-np.log(0.7 + 1e-7))
    with pytest.raises(ValueError, match="fit neither labels nor one-hot rows"):
        cross_entropy_error(y, np.array([0, 1]))
    for bad in (-1, 3):
        for loss in (cross_entropy_error, softmax_cross_entropy):
            with pytest.raises(ValueError, match=f"labels must be 0 to 2, not {bad}"):
                loss(y, np.array([bad]))
        with pytest.raises(ValueError, match=f"labels must be 0 to 2, not {bad}"):
            SoftmaxWithLoss().forward(y, np.array([bad]))


def test_softmax_cross_entropy_matches_the_two_step_version():
    x = np.random.default_rng(0).standard_normal((4, 10))
    t = np.array([3, 1, 4, 1])
    assert softmax_cross_entropy(x, t) == pytest.approx(cross_entropy_error(softmax(x), t), abs=1e-5)


def test_a_column_of_labels_is_labels_not_one_hot_rows():
    """labels_of took any 2-d array for one-hot rows: a column (N, 1) of labels made every label 0 (accuracy 8.8 %
    for a net reading 96 %; a review)."""
    from digitnet.functions import labels_of

    t = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(labels_of(t.reshape(-1, 1)), t)
    np.testing.assert_array_equal(labels_of(np.eye(10)[t]), t)  # one-hot rows as before
