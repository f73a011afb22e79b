"""The book's MulLayer and AddLayer (ch05/layer_naive.py) and its shopping graph."""
import numpy as np
import pytest

from digitnet import numerical_gradient
from digitnet.layer_naive import AddLayer, MulLayer, ShoppingGraph, buy_apple_orange


def test_the_books_apple_example():
    # ch05/buy_apple.py: 2 apples at 100, tax 1.1
    mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()
    price = mul_tax_layer.forward(mul_apple_layer.forward(100, 2), 1.1)
    dapple_price, dtax = mul_tax_layer.backward(1)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    assert price == pytest.approx(220)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110, 200))


def test_the_books_apple_and_orange_example():
    g = buy_apple_orange()
    assert isinstance(g, ShoppingGraph)
    assert g.price == pytest.approx(715)
    assert g.apple_num == pytest.approx(110)
    assert g.apple_price == pytest.approx(2.2)
    assert g.orange_num == pytest.approx(165)
    assert g.orange_price == pytest.approx(3.3)
    assert g.tax == pytest.approx(650)


def test_other_prices_follow_the_formula():
    g = buy_apple_orange(apple_price=10, apple_num=4, orange_price=7, orange_num=5, tax=2.0)
    assert g.price == pytest.approx((10 * 4 + 7 * 5) * 2.0)
    assert (g.apple_num, g.apple_price, g.orange_num, g.orange_price, g.tax) == pytest.approx((20, 8, 14, 10, 75))


def test_mul_layer_swaps_its_inputs_on_the_way_back():
    layer = MulLayer()
    assert layer.forward(3.0, 5.0) == 15.0
    assert layer.backward(2.0) == (10.0, 6.0)


def test_add_layer_passes_the_gradient_through():
    layer = AddLayer()
    assert layer.forward(3.0, 5.0) == 8.0
    assert layer.backward(2.0) == (2.0, 2.0)


@pytest.mark.parametrize("layer_class", [MulLayer, AddLayer])
def test_array_gradients_match_central_differences(layer_class):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal((3, 4))
    R = rng.standard_normal((3, 4))  # projects the output on R, so f is a scalar and df/dout = R
    layer = layer_class()
    f = lambda _: float(np.sum(layer_class().forward(x, y) * R))
    layer.forward(x, y)
    dx, dy = layer.backward(R)
    assert dx.shape == dy.shape == x.shape
    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dy, numerical_gradient(f, y), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("layer_class", [MulLayer, AddLayer])
def test_inputs_and_dout_are_left_alone(layer_class):
    rng = np.random.default_rng(1)
    x, y, dout = rng.standard_normal((3, 2, 5))
    saved = x.copy(), y.copy(), dout.copy()
    layer = layer_class()
    out = layer.forward(x, y)
    dx, dy = layer.backward(dout)
    for before, after in zip(saved, (x, y, dout)):
        np.testing.assert_array_equal(before, after)
    # the results are new arrays: writing into one cannot change an input or the other branch
    for a in (out, dx, dy):
        assert not any(np.shares_memory(a, b) for b in (x, y, dout))
    assert not np.shares_memory(dx, dy)

