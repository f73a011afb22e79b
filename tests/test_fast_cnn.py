"""fast-cnn: its channel batch norm and label smoothing against PyTorch, the net's gradients, its recipe as the
command line's defaults, and a short run that learns.

PyTorch is a test-only extra (CI installs torch==2.13.0); without it the comparisons skip.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import load_sample
from digitnet.functions import softmax
from digitnet.layers import ChannelBatchNorm, SoftmaxWithLoss
from digitnet.model_io import load_model, save_model
from digitnet.nets import FastConvNet
from digitnet.nets.factory import build_net
from digitnet.optimizers import Adam, OneCycleLR
from digitnet.settings import RunSettings
from digitnet.train import train

BENCH = Path(__file__).resolve().parents[1] / "bench"


def torch_or_skip():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_channel_batch_norm_matches_pytorch_batchnorm2d(dtype, tol):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((8, 5, 6, 7)) + 1).astype(dtype)
    gamma, beta = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    layer = ChannelBatchNorm(gamma.copy(), beta.copy())
    ref = torch.nn.BatchNorm2d(5, eps=layer.eps, momentum=1 - layer.momentum).to(torch.from_numpy(x).dtype)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    for train_flg in (True, False):  # a training step, then inference with the running statistics it left
        ref.train(train_flg)
        xt = torch.tensor(x, requires_grad=True)
        out = ref(xt)
        out.backward(torch.from_numpy(dout))
        got = layer.forward(x, train_flg)
        assert got.shape == x.shape
        close = {"rtol": tol, "atol": tol}
        np.testing.assert_allclose(got, out.detach().numpy(), **close)
        np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), **close)
        np.testing.assert_allclose(layer.dgamma, ref.weight.grad.numpy(), rtol=tol, atol=tol * 100)
        np.testing.assert_allclose(layer.dbeta, ref.bias.grad.numpy(), rtol=tol, atol=tol * 100)
        np.testing.assert_allclose(layer.running_mean, ref.running_mean.numpy(), **close)
        np.testing.assert_allclose(layer.running_var, ref.running_var.numpy(), **close)
        ref.zero_grad()


def test_channel_batch_norm_normalizes_each_channel_and_leaves_its_input_alone():
    x = np.random.default_rng(1).standard_normal((4, 3, 5, 5)) * [[[[1]], [[10]], [[0.1]]]] + [[[[5]], [[-2]], [[0]]]]
    before = x.copy()
    out = ChannelBatchNorm(np.ones(3), np.zeros(3)).forward(x, True)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), var / (var + 1e-5), rtol=1e-10)  # eps 1e-5, as PyTorch
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("mean", [1e3, 1e5])
def test_channel_batch_norm_in_float32_keeps_a_small_spread_under_a_large_mean(mean):
    # E[x^2] - mean^2 in float32 lost the variance: at mean 1e3, std 1 it was off by tens of per cent; at 1e5 it
    # came out 0 and the outputs were hundreds of times too large. The float64 layer is the reference (it is
    # checked against PyTorch above).
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((8, 3, 6, 6)) + mean * np.array([1.0, -2.0, 0.5])[:, None, None]).astype(np.float32)
    dout, gamma, beta = (rng.standard_normal(shape).astype(np.float32) for shape in (x.shape, 3, 3))
    ref = ChannelBatchNorm(gamma.astype(np.float64), beta.astype(np.float64))
    got = ChannelBatchNorm(gamma, beta)
    close = {"rtol": 1e-3, "atol": 1e-3}
    np.testing.assert_allclose(got.forward(x, True), ref.forward(x.astype(np.float64), True), **close)
    np.testing.assert_allclose(got.backward(dout), ref.backward(dout.astype(np.float64)), **close)
    np.testing.assert_allclose(got.dgamma, ref.dgamma, **close)
    np.testing.assert_allclose(got.running_var, ref.running_var, rtol=1e-3)


@pytest.mark.parametrize("one_hot", [False, True])
def test_label_smoothing_matches_pytorch(one_hot):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    scores, labels = rng.standard_normal((6, 10)) * 3, rng.integers(0, 10, 6)
    t = np.eye(10)[labels] if one_hot else labels
    layer = SoftmaxWithLoss(label_smoothing=0.1)
    st = torch.tensor(scores, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(st, torch.from_numpy(labels), label_smoothing=0.1)
    ref.backward()
    np.testing.assert_allclose(layer.forward(scores, t), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(layer.backward(), st.grad.numpy(), rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxWithLoss(label_smoothing=1.0)


def test_fast_cnn_gradient_matches_pytorch_twin():
    torch = torch_or_skip()
    sys.path.insert(0, str(BENCH))
    import torch_twins

    net = build_net("fast-cnn", label_smoothing=0.1, rng=np.random.default_rng(0), dtype=np.float64)
    model = torch_twins.twin(net).double()
    with torch.no_grad():  # the twin was built in float32: take the float64 weights again
        for (key, _), param in zip(sorted(net.params.items(), key=lambda kv: list(net.params).index(kv[0])),
                                   model.parameters()):
            value = net.params[key]
            param.copy_(torch.from_numpy(value.T if value.ndim == 2 else value))
    x, t = np.random.default_rng(1).random((16, 784)), np.arange(16) % 10
    loss, grads = net.loss_and_gradient(x, t)
    ref = torch.nn.functional.cross_entropy(model(torch.from_numpy(x.reshape(-1, 1, 28, 28))), torch.from_numpy(t),
                                            label_smoothing=0.1)
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-10)
    for key, param in zip(net.params, model.parameters()):
        expected = param.grad.numpy()
        np.testing.assert_allclose(grads[key], expected.T if expected.ndim == 2 else expected, rtol=1e-7, atol=1e-10,
                                   err_msg=key)


def test_fast_cnn_pools_before_its_relu_with_the_floats_of_relu_then_pool():
    # max commutes with the ReLU, ties included: the gradient goes to the same pixel (or, where the window's
    # maximum is <= 0, nowhere), so the relu can run on a quarter of the pixels; zero borders make ties
    net = build_net("fast-cnn", rng=np.random.default_rng(0), dtype=np.float32)
    assert list(net.layers)[:5] == ["Conv1", "BatchNorm1", "Pool1", "Relu1", "Conv2"]
    book_order = build_net("fast-cnn", rng=np.random.default_rng(0), dtype=np.float32)
    names = list(book_order.layers)
    for i in range(1, 4):
        names[names.index(f"Pool{i}")], names[names.index(f"Relu{i}")] = f"Relu{i}", f"Pool{i}"
    book_order.layers = type(book_order.layers)((name, book_order.layers[name]) for name in names)
    x = np.random.default_rng(1).standard_normal((20, 1, 28, 28)).astype(np.float32)
    x[:, :, :6] = x[:, :, :, :6] = 0
    t = np.arange(20) % 10
    (loss, grads), (book_loss, book_grads) = net.loss_and_gradient(x, t), book_order.loss_and_gradient(x, t)
    assert loss == book_loss
    for key in grads:
        np.testing.assert_array_equal(grads[key], book_grads[key], err_msg=key)


def test_fast_cnn_gradient_matches_numerical_gradient():
    # a small net on 6x6 images, in float64: few ReLU and max-pool kinks for the central differences to straddle
    net = FastConvNet(input_dim=(1, 6, 6), channels=(3, 4), output_size=3, label_smoothing=0.1,
                      rng=np.random.default_rng(3))
    x, t = np.random.default_rng(4).random((5, 36)), np.array([0, 1, 2, 1, 0])
    backprop, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    assert set(backprop) == {"W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"}
    for key in backprop:
        np.testing.assert_allclose(backprop[key], numerical[key], rtol=1e-4, atol=1e-7, err_msg=key)


def test_one_cycle_climbs_then_falls_to_zero():
    schedule = OneCycleLR(0.01, total_steps=100, warmup_steps=20)
    rates = [schedule(step) for step in range(100)]
    assert rates[0] == pytest.approx(0.0005) and rates[19] == pytest.approx(0.01) and max(rates) == rates[19]
    assert all(a < b for a, b in zip(rates[:19], rates[1:20])) and all(a > b for a, b in zip(rates[19:], rates[20:]))
    assert rates[-1] == pytest.approx(0.01 / 81)
    with pytest.raises(ValueError):
        OneCycleLR(0.01, total_steps=10, warmup_steps=10)


def test_fast_cnn_recipe_is_what_the_command_line_leaves_out():
    s = RunSettings(model="fast-cnn", seed=0).resolved()
    recipe = FastConvNet.recipe
    assert (s.epochs, s.iters, s.batch_size, s.optimizer, s.lr, s.weight_decay, s.schedule, s.augment, s.sampling,
            s.label_smoothing) == (recipe["epochs"], None, recipe["batch_size"], recipe["optimizer"], recipe["lr"],
                                   recipe["weight_decay"], recipe["schedule"], recipe["augment"], recipe["sampling"],
                                   recipe["label_smoothing"])
    given = RunSettings(model="fast-cnn", seed=0, iters=50, batch_size=64, optimizer="adam", schedule="cosine",
                        augment=False, sampling="replacement", label_smoothing=0.2, weight_decay=0.0).resolved()
    assert (given.iters, given.epochs, given.batch_size, given.optimizer, given.lr, given.weight_decay, given.schedule,
            given.augment, given.sampling, given.label_smoothing) == \
        (50, None, 64, "adam", 0.001, 0.0, "cosine", False, "replacement", 0.2)
    book = RunSettings(model="deep-cnn", seed=0).resolved()  # the other models keep the book's defaults
    assert (book.iters, book.batch_size, book.schedule, book.augment, book.sampling, book.label_smoothing,
            book.weight_decay) == (10_000, 100, "constant", False, "replacement", 0.0, 0.0)


def test_label_smoothing_is_refused_for_the_book_models():
    with pytest.raises(ValueError, match="label smoothing"):
        build_net("deep-cnn", label_smoothing=0.1)


def test_a_short_fast_cnn_run_learns_and_its_model_file_predicts_the_same(tmp_path):
    sample = load_sample()
    net = build_net("fast-cnn", rng=np.random.default_rng(0), dtype=np.float32)
    steps = 60
    history = train(net, sample.x_train, sample.t_train, sample.x_test[:1000], sample.t_test[:1000], iters=steps,
                    batch_size=100, optimizer=Adam(0.003), schedule=OneCycleLR(0.003, steps, 12), sampling="shuffle",
                    rng=np.random.default_rng(0), train_eval_size=500)
    assert history[-1]["test_acc"] > 0.9  # from 10 % in 60 steps: it learns (the recipe gets 99 % in 800)
    path = tmp_path / "fast.npz"
    save_model(path, net, {})
    loaded, _ = load_model(path)
    assert type(loaded) is FastConvNet
    np.testing.assert_array_equal(loaded.predict(sample.x_test[:50]), net.predict(sample.x_test[:50]))


def test_fast_cnn_exports_to_onnx_and_onnxruntime_agrees(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from digitnet.export_onnx import export_onnx

    sample = load_sample()
    net = build_net("fast-cnn", rng=np.random.default_rng(0), dtype=np.float32)
    net.loss(sample.x_train[:200], sample.t_train[:200], train_flg=True)  # running statistics of its own
    path = tmp_path / "fast.onnx"
    export_onnx(net, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = sample.x_test[:64]  # rows of 784 pixels, as the exported model takes them
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, softmax(net.predict(x)), rtol=1e-4, atol=1e-6)  # it outputs probabilities
