"""MultiLayerNet, SimpleConvNet and DeepConvNet: backprop against numerical gradients, save and load."""
import json
import re

import numpy as np
import pytest

from digitnet import load_model, save_model
from digitnet.gradient import numerical_gradient
from digitnet.layers import Dropout
from digitnet.nets import DeepConvNet, MultiLayerNet, SimpleConvNet
from digitnet.nets.factory import build_net


def freeze_dropout(net, seed=0):
    """Make every dropout layer draw the same mask on each call, so the loss is one function to differentiate."""
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            original = layer.forward

            def forward(x, train_flg=True, layer=layer, original=original):
                layer.rng = np.random.default_rng(seed)
                return original(x, train_flg)
            layer.forward = forward


def assert_gradients_match(net, x, t, rtol=1e-5, atol=1e-8):
    numeric = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    assert set(numeric) == set(backprop) == set(net.params)
    for key in net.params:
        np.testing.assert_allclose(backprop[key], numeric[key], rtol=rtol, atol=atol, err_msg=key)


@pytest.mark.parametrize("options", [
    dict(activation="relu"),
    dict(activation="sigmoid", weight_init_std="xavier"),
    dict(use_batchnorm=True),
    dict(use_dropout=True, dropout_ratio=0.3),
    dict(weight_decay_lambda=0.1, use_batchnorm=True, use_dropout=True),
])
def test_mlp_gradients(options):
    rng = np.random.default_rng(3)
    net = MultiLayerNet(10, [8, 6], 4, rng=rng, **options)
    freeze_dropout(net)
    x, t = rng.standard_normal((6, 10)), rng.integers(0, 4, 6)
    assert_gradients_match(net, x, t)


def test_mlp_structure_follows_the_book():
    net = MultiLayerNet(784, [100, 50], 10, use_batchnorm=True, use_dropout=True)
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
                                "Affine2", "BatchNorm2", "Activation_function2", "Dropout2", "Affine3"]
    assert set(net.params) == {"W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"}
    assert net.params["W1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)  # He, the default


def test_weight_decay_adds_to_loss_and_gradient():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    plain = MultiLayerNet(5, [4], 3, rng=np.random.default_rng(1))
    decayed = MultiLayerNet(5, [4], 3, weight_decay_lambda=0.5, rng=np.random.default_rng(1))
    l2 = 0.5 * 0.5 * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + l2)
    np.testing.assert_allclose(decayed.gradient(x, t)["W1"], plain.gradient(x, t)["W1"] + 0.5 * plain.params["W1"])
    np.testing.assert_allclose(decayed.gradient(x, t)["b1"], plain.gradient(x, t)["b1"])


def test_simple_conv_net_gradients():
    rng = np.random.default_rng(5)
    net = SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=6, output_size=4, weight_init_std=0.3, rng=rng)
    x, t = rng.standard_normal((3, 1, 10, 10)), rng.integers(0, 4, 3)
    assert_gradients_match(net, x, t)
    assert net.predict(x.reshape(3, -1)).shape == (3, 4)  # flat rows are reshaped to input_dim


def test_deep_conv_net_gradients_on_small_images():
    rng = np.random.default_rng(6)
    net = DeepConvNet((1, 12, 12), hidden_size=5, output_size=3, rng=rng)
    freeze_dropout(net)
    x, t = rng.standard_normal((2, 1, 12, 12)), rng.integers(0, 3, 2)
    backprop = net.gradient(x, t)
    loss = lambda _: net.loss(x, t, train_flg=True)
    for key in ("W1", "b3", "b6", "W8", "b8"):  # small ones in full
        np.testing.assert_allclose(backprop[key], numerical_gradient(loss, net.params[key]), rtol=1e-4, atol=1e-7,
                                   err_msg=key)
    for key in ("W4", "W6", "W7"):  # large ones at 20 random elements (all of W6 would take minutes)
        W = net.params[key]
        for flat in rng.choice(W.size, 20, replace=False):
            idx = np.unravel_index(flat, W.shape)
            view = W[idx[:-1]][..., idx[-1]:idx[-1] + 1]  # a 1-element view into W, perturbed in place
            assert numerical_gradient(loss, view)[0] == pytest.approx(backprop[key][idx], rel=1e-4, abs=1e-7), key


def test_deep_conv_net_matches_the_book_on_mnist_shapes():
    net = DeepConvNet()
    assert [net.params[f"W{i}"].shape[0] for i in range(1, 7)] == [16, 16, 32, 32, 64, 64]
    assert net.params["W7"].shape == (64 * 4 * 4, 50) and net.params["W8"].shape == (50, 10)
    assert net.predict(np.zeros((2, 784))).shape == (2, 10)


@pytest.mark.parametrize("model, options", [
    ("two-layer", {}), ("mlp", dict(batch_norm=True, dropout=0.2, hidden=[32, 16])),
    ("simple-cnn", dict(hidden=[20])), ("deep-cnn", {}),
])
def test_every_network_saves_and_loads(tmp_path, model, options):
    rng = np.random.default_rng(0)
    net = build_net(model, rng=rng, **options)
    x = rng.random((4, 784), dtype=np.float32)
    net.loss_and_gradient(x, np.arange(4))  # a training pass moves batch norm's running statistics
    path = save_model(tmp_path / f"{model}.npz", net)
    loaded, header = load_model(path)
    assert type(loaded) is type(net) and header["architecture"] == model
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    for key, value in net.buffers().items():
        np.testing.assert_array_equal(loaded.buffers()[key], value)


@pytest.mark.parametrize("model", ["two-layer", "mlp", "simple-cnn", "deep-cnn", "fast-cnn"])
def test_every_network_takes_rows_or_images_and_refuses_samples_of_another_size(model):
    rng = np.random.default_rng(0)
    net = build_net(model, rng=rng)
    x = rng.random((4, 784), dtype=np.float32)
    scores = net.predict(x)
    assert scores.shape == (4, 10)
    np.testing.assert_array_equal(net.predict(x.reshape(4, 1, 28, 28)), scores)
    np.testing.assert_allclose(net.predict(x[0]), scores[:1], rtol=1e-4, atol=1e-6)  # one sample of 784 numbers
    for wrong in (x[:, :392], x.reshape(2, 1, 56, 28), x.ravel()):  # a reshape would have made 8 or 2 or 4 samples
        message = rf"input of shape \({', '.join(map(str, wrong.shape))},?\): the network takes samples of 784 numbers"
        for run in (net.predict, net.infer, lambda x: net.loss(x, np.zeros(len(x), dtype=int))):
            with pytest.raises(ValueError, match=message):
                run(wrong)


def test_build_net_refuses_options_a_model_does_not_take():
    with pytest.raises(ValueError, match="batch norm"):
        build_net("two-layer", batch_norm=True)
    with pytest.raises(ValueError, match="one hidden layer"):
        build_net("simple-cnn", hidden=[10, 10])
    with pytest.raises(ValueError, match="unknown model"):
        build_net("resnet")


class FlagRecorder:
    """A pass-through layer that records the arguments predict gives its forward."""

    def __init__(self, train_flg_aware=None):
        if train_flg_aware is not None:
            self.train_flg_aware = train_flg_aware
        self.calls = []

    def forward(self, x, *flag):
        self.calls.append(flag)
        return x


def test_predict_passes_the_training_flag_to_the_layers_that_take_it():
    net = MultiLayerNet(4, [5], 3, use_dropout=True, use_batchnorm=True, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((6, 4))
    assert not np.array_equal(net.predict(x, train_flg=True), net.predict(x, train_flg=True))  # a new mask each
    assert np.array_equal(net.predict(x), net.predict(x))  # inference: dropout off, running statistics fixed
    recorders = {"aware": FlagRecorder(True), "unaware": FlagRecorder(False), "plain": FlagRecorder()}
    net.layers.update(recorders)
    net.predict(x, train_flg=True)
    assert recorders["aware"].calls == [(True,)]
    assert recorders["unaware"].calls == [()] and recorders["plain"].calls == [()]  # False means False


@pytest.mark.parametrize("model", ["simple-cnn", "deep-cnn"])
def test_training_runs_each_relu_after_the_pool_behind_it_with_the_same_floats(model):
    # max commutes with the ReLU, ties included (zero borders make many), so loss_and_gradient runs the relu on
    # the pooled maxima; self.layers keeps the book's order, and predict and a backward pass after it follow it
    net, book_order = (build_net(model, rng=np.random.default_rng(0), dtype=np.float32) for _ in range(2))
    book_order.training_layers = lambda: list(book_order.layers.values())
    names = {id(layer): name for name, layer in net.layers.items()}
    order = [names[id(layer)] for layer in net.training_layers()]
    expected = {"simple-cnn": ["Conv1", "Pool1", "Relu1", "Affine1"],
                "deep-cnn": ["Conv1", "Relu1", "Conv2", "Pool1", "Relu2", "Conv3"]}[model]
    assert order[:len(expected)] == expected and sorted(order) == sorted(net.layers)
    assert list(net.layers).index("Relu1") < list(net.layers).index("Pool1")  # the book's order, for a reader
    x = np.random.default_rng(1).standard_normal((20, 1, 28, 28)).astype(np.float32)
    x[:, :, :6] = x[:, :, :, :6] = 0
    t = np.arange(20) % 10
    for _ in range(2):  # the second step with the biases the first one gave
        (loss, grads), (book_loss, book_grads) = net.loss_and_gradient(x, t), book_order.loss_and_gradient(x, t)
        assert loss == book_loss
        for key in grads:
            np.testing.assert_array_equal(grads[key], book_grads[key], err_msg=key)
            net.params[key] -= 0.1 * grads[key]
            book_order.params[key] -= 0.1 * book_grads[key]
    np.testing.assert_array_equal(net.predict(x), book_order.predict(x))


def test_a_net_built_with_numpy_numbers_is_saved_and_loaded(tmp_path):
    """Sizes from np.arange (np.int64), a float32 dropout ratio, an array of hidden sizes: the save failed, after
    the training, with "Object of type int64 is not JSON serializable" (a review); a checkpoint too."""
    from digitnet import TwoLayerNet
    from digitnet.checkpoint import load_checkpoint, save_checkpoint
    from digitnet.optimizers import SGD
    from digitnet.train import TrainingState

    rng = np.random.default_rng(0)
    for net in (TwoLayerNet(784, np.arange(50, 100, 50)[0], 10, rng=rng),
                MultiLayerNet(784, np.array([20, 10]), 10, use_dropout=True, dropout_ratio=np.float32(0.2), rng=rng)):
        again, header = load_model(save_model(tmp_path / "m.npz", net))
        assert all(np.array_equal(again.params[k], v) for k, v in net.params.items())
        assert json.dumps(header["config"])  # plain numbers now
        save_checkpoint(tmp_path / "m.ckpt.npz", net, SGD(), np.random.default_rng(0), TrainingState(), {})
        assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["config"] == header["config"]


def test_a_conv_net_of_images_that_are_not_square_or_a_misspelt_setting_is_refused():
    """A (1, 28, 20) input_dim built a net that could never run (its layers sized from the height alone), and
    conv_param={"filter_nums": 8} was left out without a word (a review)."""
    for cls in (SimpleConvNet, DeepConvNet):
        with pytest.raises(ValueError, match=r"square images, not \(1, 28, 20\)"):
            cls(input_dim=(1, 28, 20))
    with pytest.raises(ValueError, match="conv_param takes filter_num, filter_size, pad, stride, not 'filter_nums'"):
        SimpleConvNet(conv_param={"filter_nums": 8})
    assert SimpleConvNet(input_dim=(1, 20, 20), conv_param={"filter_num": 8}).params["W1"].shape == (8, 1, 5, 5)


def test_build_net_names_the_models_that_take_an_option_and_takes_no_hidden_layer_as_none():
    """It said "mlp does not take label smoothing (mlp takes them all)", and hidden=[] built the default [100, 100]
    (a review)."""
    with pytest.raises(ValueError, match=r"^mlp does not take label smoothing \(label smoothing: fast-cnn\)$"):
        build_net("mlp", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"dropout: deep-cnn and mlp"):
        build_net("two-layer", dropout=0.3)
    assert build_net("mlp", hidden=[]).config["hidden_size_list"] == []


def test_conv_nets_take_their_own_layouts_only_and_fast_cnn_square_images():
    """A conv net reshaped any input of the right size: channels-last (N, 6, 6, 3) or (N, 12, 3, 3) images were
    scrambled without a word; and FastConvNet built nets of 8x6 images that could never run (a review)."""
    from digitnet.nets import FastConvNet, SimpleConvNet

    net = SimpleConvNet((3, 6, 6), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}, 4, 3,
                        rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6))
    np.testing.assert_array_equal(net.predict(x.reshape(2, -1)), net.predict(x))  # flat rows: the same images
    for shape in ((2, 6, 6, 3), (2, 12, 3, 3)):
        wanted = re.escape(f"input of shape {shape}: the network takes samples of 108 numbers")
        with pytest.raises(ValueError, match=wanted):
            net.predict(x.reshape(shape))
    one = SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}, 4, 3,
                        rng=np.random.default_rng(0))
    images = np.random.default_rng(2).standard_normal((2, 6, 6))
    np.testing.assert_array_equal(one.predict(images), one.predict(images[:, None]))  # (N, H, W): one channel
    np.testing.assert_array_equal(one.predict(images[..., None]), one.predict(images[:, None]))  # Keras's layout
    with pytest.raises(ValueError, match="square images"):
        FastConvNet((1, 8, 6), channels=(2,), output_size=3)
