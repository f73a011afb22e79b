"""digitnet.explain: the input gradient against central differences, and each layer's output against the nets'
own forward pass."""
import numpy as np
import pytest

import digitnet
from digitnet.explain import explain, gradient_rgb, input_gradient, layer_outputs, score_gradient, tiles
from digitnet.functions import softmax
from digitnet.gradient import numerical_gradient, relative_error


def small_conv_net(rng):
    return digitnet.SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1},
                                  hidden_size=20, weight_init_std=0.1, rng=rng, dtype=np.float64)


NETS = {
    "two-layer": lambda rng: digitnet.TwoLayerNet(784, 30, 10, weight_init_std=0.1, rng=rng, dtype=np.float64),
    "simple-cnn": small_conv_net,
    "deep-cnn": lambda rng: digitnet.DeepConvNet(rng=rng, dtype=np.float64),
}


def score_by_formula(net, x, digit, score):
    """The score written out from the forward pass: y_k, or log(exp(y_k) / sum_j exp(y_j))."""
    y = net.predict(x)[0]
    if score == "logit":
        return y[digit]
    m = y.max()
    return y[digit] - m - np.log(np.sum(np.exp(y - m)))


@pytest.mark.parametrize("score", ["logit", "log-probability"])
@pytest.mark.parametrize("name", ["two-layer", "simple-cnn"])
def test_input_gradient_matches_central_differences(name, score):
    rng = np.random.default_rng(3)
    net = NETS[name](rng)
    x = rng.random((1, 784))  # float64, every pixel in 0..1
    digit = 4
    backprop = input_gradient(net, x, digit, score)
    numerical = numerical_gradient(lambda _: score_by_formula(net, x, digit, score), x, h=1e-5)
    assert backprop.shape == x.shape
    assert np.abs(numerical).max() > 1e-3  # a real gradient, not zeros compared with zeros
    err = relative_error(backprop, numerical)
    print(f"\n{name} {score}: relative error {err:.2e}")
    assert err <= 1e-4


def test_input_gradient_of_the_deep_conv_net_on_a_patch():
    """The book's ch. 8 net (dropout off at inference): central differences on 60 pixels are enough here."""
    rng = np.random.default_rng(5)
    net = NETS["deep-cnn"](rng)
    x = rng.random((1, 784))
    backprop = input_gradient(net, x, 2, "log-probability")
    f = lambda _: score_by_formula(net, x, 2, "log-probability")
    h, numerical = 1e-5, []
    picks = rng.choice(784, 60, replace=False)
    for i in picks:
        keep = x[0, i]
        x[0, i] = keep + h
        up = f(None)
        x[0, i] = keep - h
        down = f(None)
        x[0, i] = keep
        numerical.append((up - down) / (2 * h))
    assert relative_error(backprop[0, picks], np.array(numerical)) <= 1e-4


def test_the_seed_of_the_backward_pass():
    y = np.array([[1.0, 2.0, 0.5]])
    assert np.array_equal(score_gradient(y, 1, "logit"), [[0, 1, 0]])
    assert np.allclose(score_gradient(y, 1, "log-probability"), np.array([[0, 1, 0]]) - softmax(y))
    with pytest.raises(ValueError, match="score"):
        score_gradient(y, 1, "probability")


def test_training_still_skips_the_first_layers_dx_and_the_gradient_does_not_disturb_training_gradients():
    rng = np.random.default_rng(0)
    net = NETS["simple-cnn"](rng)
    x, t = rng.random((3, 784)), np.array([1, 2, 3])
    before = net.gradient(x, t)
    input_gradient(net, x[:1], 3)
    after = net.gradient(x, t)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", ["two-layer", "simple-cnn", "deep-cnn"])
def test_layer_outputs_follow_the_forward_pass(name):
    rng = np.random.default_rng(1)
    net = NETS[name](rng)
    x = rng.random((1, 784))
    blocks = layer_outputs(net, x)
    assert np.allclose(blocks[-1]["output"], net.predict(x)[0])  # the last block is the scores
    kinds = [b["kind"] for b in blocks]
    assert kinds[-1] == "affine" and set(kinds) <= {"conv", "pool", "affine"}
    if name == "two-layer":
        W1, b1 = net.params["W1"], net.params["b1"]
        assert [b["name"] for b in blocks] == ["Affine1 + Relu1", "Affine2"]
        assert np.allclose(blocks[0]["output"], np.maximum(0, x @ W1 + b1)[0])  # the hidden units after ReLU
    if name == "deep-cnn":
        shapes = [b["output"].shape for b in blocks]
        assert shapes[:3] == [(16, 28, 28), (16, 28, 28), (16, 14, 14)] and shapes[-3:] == [(64, 4, 4), (50,), (10,)]
        assert kinds.count("conv") == 6 and kinds.count("pool") == 3


def test_explain_gathers_the_reading_and_the_gradient_of_the_chosen_digit():
    rng = np.random.default_rng(2)
    net = NETS["two-layer"](rng)
    image = rng.random((28, 28))
    r = explain(net, image)
    assert r["target"] == r["digit"] == int(np.argmax(net.predict(image.reshape(1, -1))))
    assert r["gradient"].shape == (28, 28)
    other = explain(net, image, digit=(r["digit"] + 1) % 10, score="log-probability")
    expected = input_gradient(net, image.reshape(1, -1), other["target"], "log-probability").reshape(28, 28)
    assert other["target"] != other["digit"] and np.allclose(other["gradient"], expected)
    # the logit of k depends on x only through W1 and W2[:, k]: the two digits' gradients differ
    assert not np.allclose(r["gradient"], explain(net, image, digit=other["target"])["gradient"])


def test_pictures_colour_the_gradient_red_toward_and_blue_away():
    image = np.zeros((28, 28))
    g = np.zeros((28, 28))
    g[0, 0], g[0, 1] = 2.0, -2.0
    rgb = gradient_rgb(image, g)
    assert tuple(rgb[0, 0]) == (214, 39, 40) and tuple(rgb[0, 1]) == (31, 90, 200)
    assert tuple(rgb[5, 5]) == (255, 255, 255)
    grid = tiles(np.ones((16, 3, 3)))
    assert grid.shape == (2 * 4 - 1, 8 * 4 - 1) and np.isnan(grid[3, 0]) and grid[0, 0] == 1
