from collections import OrderedDict

import numpy as np
import pytest

from digitnet import SGD, TwoLayerNet
from digitnet.layers import Affine, Relu, SoftmaxWithLoss


@pytest.fixture
def small():
    rng = np.random.default_rng(7)
    net = TwoLayerNet(12, 8, 4, weight_init_std=0.5, rng=rng)
    x = rng.standard_normal((5, 12))
    t = rng.integers(0, 4, 5)
    return net, x, t


def test_book_api_shape():
    net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"].shape == (784, 50) and net.params["b2"].shape == (10,)
    assert isinstance(net.layers, OrderedDict) and list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert isinstance(net.layers["Affine1"], Affine) and isinstance(net.layers["Relu1"], Relu)
    assert isinstance(net.lastLayer, SoftmaxWithLoss)
    assert np.all(net.params["b1"] == 0)
    assert 0.008 < net.params["W1"].std() < 0.012  # weight_init_std=0.01


@pytest.mark.parametrize("init, std1, std2", [("he", np.sqrt(2 / 784), np.sqrt(2 / 50)),
                                                ("xavier", np.sqrt(1 / 784), np.sqrt(1 / 50)),
                                                (0.01, 0.01, 0.01)])
def test_init_takes_he_and_xavier_like_multilayernet(init, std1, std2):
    # the same draws as the book's weight_init_std * randn, scaled by 1/sqrt(fan_in) rules for the names
    net = TwoLayerNet(784, 50, 10, init, rng=np.random.default_rng(4))
    draws = np.random.default_rng(4)
    np.testing.assert_allclose(net.params["W1"], std1 * draws.standard_normal((784, 50)), rtol=1e-12)
    np.testing.assert_allclose(net.params["W2"], std2 * draws.standard_normal((50, 10)), rtol=1e-12)


def test_build_net_gives_the_two_layer_model_he_init():
    from digitnet.nets.factory import build_net
    net = build_net("two-layer", init="he", rng=np.random.default_rng(0))
    assert 0.9 < net.params["W1"].std() / np.sqrt(2 / 784) < 1.1
    assert np.all(np.isfinite(net.loss(np.zeros((2, 784), np.float32), np.array([0, 1]))))


def test_np_random_seed_makes_init_reproducible_as_in_the_book():
    np.random.seed(3)
    a = TwoLayerNet(784, 50, 10)
    np.random.seed(3)
    b = TwoLayerNet(784, 50, 10)
    assert np.array_equal(a.params["W1"], b.params["W1"])


def test_layers_share_the_params_arrays(small):
    net, x, _ = small
    before = net.predict(x)
    net.params["W2"] *= 2.0
    net.params["b2"] += 1.0
    np.testing.assert_allclose(net.predict(x), 2.0 * before + 1.0)


def test_backprop_matches_numerical_gradient(small):
    net, x, t = small
    numeric, backprop = net.numerical_gradient(x, t), net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(backprop[key], numeric[key], rtol=1e-6, atol=1e-9, err_msg=key)


def test_numerical_gradient_leaves_params_exactly_as_they_were(small):
    net, x, t = small
    before = {k: v.copy() for k, v in net.params.items()}
    net.numerical_gradient(x, t)
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


def test_accuracy_takes_one_hot_or_labels_and_batches(small):
    net, x, t = small
    expected = np.mean(net.predict(x).argmax(axis=1) == t)
    assert net.accuracy(x, t) == expected
    assert net.accuracy(x, np.eye(4)[t]) == expected
    assert net.accuracy(x, t, batch_size=2) == expected


def test_loss_and_gradient_agree_with_loss(small):
    net, x, t = small
    loss, grads = net.loss_and_gradient(x, t)
    assert loss == pytest.approx(net.loss(x, t))
    assert set(grads) == set(net.params)


def test_sgd_steps_lower_the_loss(small):
    net, x, t = small
    opt = SGD(lr=0.1)
    first = net.loss(x, t)
    for _ in range(50):
        opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < 0.5 * first
    assert net.accuracy(x, t) == 1.0  # five samples: a net this size memorises them


def test_float32_net():
    net = TwoLayerNet(20, 5, 3, rng=np.random.default_rng(0), dtype=np.float32)
    assert all(p.dtype == np.float32 for p in net.params.values())
    x = np.ones((2, 20), np.float32)
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, np.array([0, 1])).values())


def test_a_net_of_integers_or_a_std_that_is_no_std_is_refused():
    """TwoLayerNet(dtype=np.int32) built weights all 0; a std of NaN, -1 or True was taken as it came (a review)."""
    with pytest.raises(ValueError, match="must be a float type .* not int32"):
        TwoLayerNet(784, 5, 10, dtype=np.int32)
    for std in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError, match="must be a finite number >= 0"):
            TwoLayerNet(784, 5, 10, weight_init_std=std)
    with pytest.raises(ValueError, match="unknown weight initialisation True"):
        TwoLayerNet(784, 5, 10, weight_init_std=True)
    assert not TwoLayerNet(784, 5, 10, weight_init_std=0).params["W1"].any()  # 0 is a std: the weights all 0
