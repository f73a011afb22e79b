"""The inference pass (LayeredNet.infer, each layer's infer, the fused convolution-ReLU-pooling): the same scores
as predict, float for float, while keeping nothing a backward pass would need."""
import tracemalloc

import numpy as np
import pytest

from digitnet import metrics
from digitnet.experiments.overfitting import BookDropout
from digitnet.layers import BatchNormalization, Convolution, Pooling, Relu
from digitnet.nets import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from digitnet.nets.base import infer

CACHES = ("x", "keep", "out", "col", "xn", "arg_max", "original_x_shape")  # what forward keeps for backward


@pytest.fixture
def rng():
    return np.random.default_rng(23)


def nets(rng, dtype):
    return [
        TwoLayerNet(20, 7, 4, rng=rng, dtype=dtype),
        MultiLayerNet(20, [9, 8], 4, activation="sigmoid", use_dropout=True, use_batchnorm=True, rng=rng,
                      dtype=dtype),
        SimpleConvNet((1, 12, 12), {"filter_num": 5, "filter_size": 3, "pad": 1, "stride": 1}, 6, 4, rng=rng,
                      dtype=dtype),
        DeepConvNet((1, 14, 14), hidden_size=6, output_size=4, rng=rng, dtype=dtype),
    ]


def held_caches(net):
    return {(name, attr) for name, layer in net.layers.items() for attr in CACHES
            if getattr(layer, attr, None) is not None}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_infer_gives_predicts_scores_and_keeps_nothing(rng, dtype):
    for net in nets(rng, dtype):
        x = rng.standard_normal((5, net.input_size)).astype(dtype)
        if "BatchNorm1" in net.layers:  # running statistics away from their start, so they matter
            net.predict(x, train_flg=True)
            for layer in net.layers.values():  # then forget that pass's caches
                for attr in CACHES:
                    if hasattr(layer, attr):
                        setattr(layer, attr, None)
        scores = net.infer(x)
        assert held_caches(net) == set(), type(net).__name__
        np.testing.assert_array_equal(scores, net.predict(x), err_msg=type(net).__name__)
        assert held_caches(net)  # predict is the book's: it keeps them, so a backward pass can follow


def test_infer_leaves_a_training_passes_caches_alone(rng):
    net = DeepConvNet((1, 14, 14), hidden_size=6, output_size=4, dropout_ratio=0.0, rng=rng)
    x, t = rng.standard_normal((3, 1, 14, 14)), np.array([0, 1, 2])
    net.loss(x, t, train_flg=True)
    kept = {(name, attr): getattr(net.layers[name], attr) for name, attr in held_caches(net)}
    net.infer(rng.standard_normal((7, 1, 14, 14)))  # another batch size, too
    assert all(getattr(net.layers[name], attr) is value for (name, attr), value in kept.items())
    dout = net.lastLayer.backward(1)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    assert dout.shape == x.shape


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, pool", [
    ((3, 2, 9, 9), (4, 2, 3, 3), 1, 1, (2, 2, 2)),    # odd side: the last row and column in no window
    ((2, 3, 10, 8), (5, 3, 3, 3), 1, 2, (3, 3, 2)),   # overlapping windows
    ((2, 1, 12, 12), (6, 1, 5, 5), 1, 0, (2, 2, 2)),  # one input channel (SimpleConvNet)
    ((2, 2, 11, 9), (3, 2, 3, 2), 2, 1, (2, 3, 3)),   # strided convolution, stride wider than the pool
    ((5, 16, 28, 28), (16, 16, 3, 3), 1, 1, (2, 2, 2)),  # DeepConvNet's Conv2 in several batch chunks
    ((2, 2, 6, 6), (3, 2, 3, 3), 1, 1, (1, 1, 1)),
])
def test_fused_convolution_relu_pool_equals_the_three_layers(rng, x_shape, w_shape, stride, pad, pool):
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    conv, pooling = Convolution(W, b, stride, pad), Pooling(*pool)
    conv_out = conv.forward(x)
    np.testing.assert_array_equal(conv.infer(x), conv_out)
    relu_out = Relu().forward(conv_out)
    np.testing.assert_array_equal(conv.infer(x, relu=True), relu_out)
    np.testing.assert_array_equal(conv.infer(x, pool=pooling), Pooling(*pool).forward(conv_out))
    fused = Convolution(W, b, stride, pad).infer(x, relu=True, pool=pooling)
    np.testing.assert_array_equal(fused, Pooling(*pool).forward(relu_out))
    assert fused.transpose(0, 2, 3, 1).flags.c_contiguous  # channels last, as forward's output


def test_layers_infer_as_their_inference_forward(rng):
    x = rng.standard_normal((6, 3, 4, 4))
    bn = BatchNormalization(rng.standard_normal(48), rng.standard_normal(48),
                            running_mean=rng.standard_normal(48), running_var=rng.random(48) + 0.5)
    np.testing.assert_array_equal(bn.infer(x), bn.forward(x, train_flg=False))
    padded = Pooling(3, 3, 2, pad=1)
    np.testing.assert_array_equal(padded.infer(x), padded.forward(x))


def test_a_layer_that_only_changes_forward_is_run_by_its_forward(rng):
    """The book's dropout (experiments.overfitting) scales at inference in forward: infer must not skip that."""
    plain, net = (TwoLayerNet(10, 6, 3, rng=np.random.default_rng(5)) for _ in range(2))
    net.layers["Dropout1"] = BookDropout(0.5)
    net.layers.move_to_end("Affine2")
    x = rng.standard_normal((4, 10))
    np.testing.assert_array_equal(net.infer(x), net.predict(x))
    np.testing.assert_allclose(net.infer(x), 0.5 * plain.infer(x))  # b2 is 0: half the hidden units, half the scores


def test_evaluation_runs_the_inference_pass(rng):
    net = DeepConvNet((1, 14, 14), hidden_size=6, output_size=4, rng=rng)
    x, t = rng.standard_normal((9, 196)), rng.integers(0, 4, 9)
    loss, acc = net.evaluate(x, t, batch_size=4)
    assert held_caches(net) == set()
    assert acc == np.mean(net.predict(x).argmax(axis=1) == t)
    assert np.array_equal(metrics.predict_labels(net, x, batch_size=4), net.predict(x).argmax(axis=1))

    class PredictOnly:  # a duck-typed net without infer
        def predict(self, x):
            return x[:, :4]
    assert np.array_equal(infer(PredictOnly(), x), x[:, :4])


def test_inference_needs_far_less_memory_than_predict(rng):
    """What predict keeps for backward (padded inputs, masks, maxima of every layer) infer never allocates."""
    x = rng.random((50, 784), dtype=np.float32)
    peaks = {}
    for way in ("predict", "infer"):
        net = DeepConvNet(rng=np.random.default_rng(0), dtype=np.float32)
        tracemalloc.start()
        getattr(net, way)(x)
        peaks[way] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["infer"] < 0.5 * peaks["predict"], peaks
