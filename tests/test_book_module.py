"""digitnet.book: the names the book's ch. 4-8 scripts import, with the book's signatures and behaviour.

Exercised by small scripts in the book's style (not the book's own code)."""
import pickle

import numpy as np
import pytest

import digitnet.book as book
from digitnet.book.weights import BookWeightsError, import_book_weights

# Every name the book's ch04-ch08 scripts import, by the module they import it from.
BOOK_IMPORTS = {
    "common.functions": ["softmax", "cross_entropy_error", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
                         "step_function", "identity_function", "sum_squared_error", "softmax_loss"],
    "common.layers": ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
                      "Convolution", "Pooling"],
    "common.gradient": ["numerical_gradient"],
    "common.optimizer": ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"],
    "common.util": ["smooth_curve", "shuffle_dataset", "im2col", "col2im", "conv_output_size"],
    "common.trainer": ["Trainer"],
    "common.multi_layer_net": ["MultiLayerNet"],
    "common.multi_layer_net_extend": ["MultiLayerNetExtend"],
    "dataset.mnist": ["load_mnist"],
    "two_layer_net": ["TwoLayerNet"], "simple_convnet": ["SimpleConvNet"], "deep_convnet": ["DeepConvNet"],
    "layer_naive": ["MulLayer", "AddLayer"],
}


def test_every_name_the_scripts_import_is_there_and_star_import_gives_them():
    namespace = {}
    exec("from digitnet.book import *", namespace)
    for module, names in BOOK_IMPORTS.items():
        for name in names:
            assert name in namespace, f"{module}.{name}"
    assert namespace["np"] is np  # optimizer_compare_mnist.py uses np from `from common.optimizer import *` alone


@pytest.fixture
def sample_env(monkeypatch, tmp_path):
    """load_mnist with no full MNIST and no downloads: the bundled offline sample."""
    monkeypatch.delenv("DIGITNET_DATA_DIR", raising=False)
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")


def test_load_mnist_options_as_the_book(sample_env, capsys):
    (x, t), (x_test, t_test) = book.load_mnist(normalize=True)
    assert x.dtype == np.float32 and x.shape[1] == 784 and 0 <= x.min() and x.max() <= 1.0
    assert t.ndim == 1 and t.dtype.kind == "i"
    assert "offline sample" in capsys.readouterr().err  # says which data it found
    (raw, _), _ = book.load_mnist(normalize=False, flatten=False)
    assert raw.dtype == np.uint8 and raw.shape[1:] == (1, 28, 28) and raw.max() == 255
    (_, onehot), _ = book.load_mnist(one_hot_label=True)
    assert onehot.shape == (len(t), 10) and np.array_equal(onehot.argmax(axis=1), t)
    assert np.all(onehot.sum(axis=1) == 1)


def test_load_mnist_reads_digitnet_data_dir(monkeypatch, mnist_10k_dir):
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(mnist_10k_dir))
    (x, _), (x_test, _) = book.load_mnist()
    assert len(x) == 10000 and len(x_test) == 10000


def test_smooth_curve_keeps_length_constants_and_straight_lines():
    assert np.allclose(book.smooth_curve(np.full(50, 3.0)), 3.0)
    ramp = np.arange(100.0)
    smoothed = book.smooth_curve(ramp)
    assert smoothed.shape == ramp.shape
    # a symmetric window leaves a straight line alone away from the mirrored ends
    assert np.allclose(smoothed[5:-5], ramp[5:-5])
    noisy = np.random.default_rng(0).normal(size=500)
    assert book.smooth_curve(noisy).std() < 0.6 * noisy.std()


def test_shuffle_dataset_keeps_pairs_together():
    x = np.arange(20.0).reshape(10, 2)
    t = np.arange(10)
    np.random.seed(1)
    xs, ts = book.shuffle_dataset(x, t)
    assert not np.array_equal(ts, t) and sorted(ts) == list(t)
    assert np.array_equal(xs[:, 0], ts * 2.0)


def test_optimizers_take_python_floats_like_optimizer_compare_naive():
    params = {"x": -7.0, "y": 2.0}
    book.SGD(lr=0.95).update(params, {"x": -0.7, "y": 4.0})
    assert params["x"] == pytest.approx(-7.0 + 0.95 * 0.7) and params["y"] == pytest.approx(2.0 - 0.95 * 4.0)
    params = {"x": 1.0}
    book.Adam(lr=0.3).update(params, {"x": 0.5})
    # the book's first Adam step: lr_t = lr sqrt(1 - b2) / (1 - b1); m = (1 - b1) g; v = (1 - b2) g^2
    lr_t = 0.3 * np.sqrt(1 - 0.999) / (1 - 0.9)
    assert params["x"] == pytest.approx(1.0 - lr_t * 0.1 * 0.5 / (np.sqrt(0.001 * 0.25) + 1e-7))


def test_trainer_runs_a_book_style_script_and_np_random_seed_repeats_it(sample_env):
    (x, t), (x_test, t_test) = book.load_mnist(normalize=True)

    def script():
        np.random.seed(7)
        network = book.MultiLayerNetExtend(input_size=784, hidden_size_list=[40, 40], output_size=10,
                                           use_dropout=True, dropout_ration=0.2, use_batchnorm=True)
        trainer = book.Trainer(network, x[:500], t[:500], x_test, t_test, epochs=4, mini_batch_size=100,
                               optimizer="Adam", optimizer_param={"lr": 0.001},
                               evaluate_sample_num_per_epoch=200, verbose=False)
        trainer.train()
        return trainer

    trainer = script()
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 4
    assert len(trainer.train_loss_list) == trainer.max_iter == 20
    assert trainer.train_acc_list[-1] > trainer.train_acc_list[0]
    again = script()
    assert again.train_loss_list == trainer.train_loss_list  # dropout masks too come from np.random


def test_trainer_takes_a_net_written_in_the_book_style():
    class TinyNet:  # as a reader would write one after ch. 5: layers, lastLayer, gradient()
        def __init__(self):
            self.params = {"W1": 0.1 * np.random.randn(4, 3), "b1": np.zeros(3)}
            self.layers = {"Affine1": book.Affine(self.params["W1"], self.params["b1"])}
            self.lastLayer = book.SoftmaxWithLoss()

        def predict(self, x, train_flg=False):
            return self.layers["Affine1"].forward(x)

        def loss(self, x, t):
            return self.lastLayer.forward(self.predict(x), t)

        def accuracy(self, x, t):
            return float(np.mean(self.predict(x).argmax(axis=1) == t))

        def gradient(self, x, t):
            self.loss(x, t)
            self.layers["Affine1"].backward(self.lastLayer.backward(1))
            return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db}

    trainer = trained_on_a_toy_task(TinyNet())
    assert np.mean(trainer.train_loss_list[-10:]) < np.mean(trainer.train_loss_list[:10]) - 0.2


def trained_on_a_toy_task(net):
    """A book.Trainer that trained net for 30 epochs on 60 points of 4 numbers in 3 classes (SGD, lr 0.5)."""
    np.random.seed(0)
    x = np.random.randn(60, 4)
    t = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    trainer = book.Trainer(net, x, t, x, t, epochs=30, mini_batch_size=20, optimizer="sgd",
                           optimizer_param={"lr": 0.5}, verbose=False)
    trainer.train()
    return trainer


def test_trainer_records_one_evaluation_per_epoch_when_the_batch_does_not_divide_the_set():
    from digitnet.data import load_sample

    data = load_sample()
    np.random.seed(0)
    trainer = book.Trainer(book.MultiLayerNet(784, [50], 10), data.x_train[:1000], data.t_train[:1000],
                           data.x_test[:500], data.t_test[:500], epochs=2, mini_batch_size=128, verbose=False)
    trainer.train()  # 1000 / 128 = 7.8 batches: 7 steps an epoch
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 2
    assert len(trainer.train_loss_list) == trainer.max_iter == 14


def test_trainer_takes_a_ch04_net_of_functions_without_a_last_layer():
    class FunctionNet:  # as ch04/two_layer_net.py: functions, no layers, no lastLayer
        def __init__(self):
            self.params = {"W1": 0.1 * np.random.randn(4, 3), "b1": np.zeros(3)}

        def predict(self, x):
            return book.softmax(x @ self.params["W1"] + self.params["b1"])

        def loss(self, x, t):
            return book.cross_entropy_error(self.predict(x), t)

        def accuracy(self, x, t):
            return float(np.mean(self.predict(x).argmax(axis=1) == t))

        def gradient(self, x, t):
            dy = self.predict(x)
            dy[np.arange(len(t)), t] -= 1
            dy /= len(t)
            return {"W1": x.T @ dy, "b1": dy.sum(axis=0)}

    trainer = trained_on_a_toy_task(FunctionNet())
    assert len(trainer.test_acc_list) == 30 and trainer.test_acc_list[-1] > trainer.test_acc_list[0]
    assert np.mean(trainer.train_loss_list[-10:]) < np.mean(trainer.train_loss_list[:10]) - 0.2


def test_weight_init_std_takes_numpy_numbers():
    for std in (np.float32(0.1), np.int64(1), np.float64(0.01)):
        np.random.seed(0)
        net = book.MultiLayerNet(input_size=784, hidden_size_list=[500], output_size=10, weight_init_std=std)
        assert net.params["W1"].std() == pytest.approx(float(std), rel=0.05)


def test_multi_layer_net_takes_the_book_init_names():
    np.random.seed(0)
    for init, std in (("sigmoid", np.sqrt(1 / 784)), ("relu", np.sqrt(2 / 784)), (0.01, 0.01)):
        net = book.MultiLayerNet(input_size=784, hidden_size_list=[500], output_size=10, weight_init_std=init)
        assert net.params["W1"].std() == pytest.approx(std, rel=0.05)
    assert book.MultiLayerNet(784, [10], 10, weight_decay_lambda=0.1).weight_decay_lambda == 0.1


def test_simple_convnet_gradient_check_as_ch07_with_a_label_column():
    np.random.seed(0)
    network = book.SimpleConvNet(input_dim=(1, 10, 10),
                                 conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
                                 hidden_size=10, output_size=10, weight_init_std=0.01)
    X = np.random.rand(100).reshape((1, 1, 10, 10))
    T = np.array([1]).reshape((1, 1))  # one label, as a column
    grad = network.gradient(X, T)
    as_vector = network.gradient(X, np.array([1]))
    for key in grad:
        assert np.array_equal(grad[key], as_vector[key])
    grad_num = network.numerical_gradient(X, T)
    for key in ("W3", "b3"):  # the last layer: no ReLU kink between it and the loss, so the match is close
        assert np.abs(grad[key] - grad_num[key]).max() < 1e-6 * np.abs(grad_num[key]).max()
    # the label is class 1: the loss is -log softmax(scores)[1]
    scores = network.predict(X)[0]
    assert network.loss(X, T) == pytest.approx(np.log(np.exp(scores).sum()) - scores[1])


def test_conv_nets_save_and_load_params(tmp_path):
    np.random.seed(0)
    net = book.SimpleConvNet()
    net.save_params(tmp_path / "params.pkl")
    other = book.SimpleConvNet()
    other.load_params(tmp_path / "params.pkl")
    for key in net.params:
        assert np.array_equal(other.params[key], net.params[key])
    x = np.random.rand(3, 1, 28, 28)
    assert np.allclose(other.predict(x), net.predict(x))  # the layers see the loaded weights


def test_deep_convnet_pickles_use_the_book_convention(tmp_path):
    np.random.seed(0)
    net = book.DeepConvNet()
    path = tmp_path / "deep_convnet_params.pkl"
    net.save_params(path)
    with open(path, "rb") as f:
        saved = pickle.load(f)  # trusted: written just above
    keep = 0.5  # the book's dropout scales by 1 - 0.5 at inference, after Affine1 and after Affine2
    assert np.allclose(saved["W8"] * keep * keep, net.params["W8"])
    assert np.allclose(saved["b8"] * keep, net.params["b8"])
    loaded = book.DeepConvNet()
    loaded.load_params(path)
    x = np.random.rand(4, 1, 28, 28)
    assert np.allclose(loaded.predict(x), net.predict(x))
    imported = import_book_weights(path, "deep-cnn")  # the book-weights importer reads it the same way
    assert np.allclose(imported.predict(x), net.predict(x))


def test_load_params_refuses_a_pickle_that_runs_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"W1": Evil()}))
    with pytest.raises(BookWeightsError, match="refused"):
        book.SimpleConvNet().load_params(path)


def test_deep_convnet_refuses_other_layers():
    with pytest.raises(ValueError, match="conv_param_4"):
        book.DeepConvNet(conv_param_4={"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1})


def test_layer_naive_buy_apple():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = book.MulLayer(), book.MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    assert price == pytest.approx(220.0)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110.0, 200.0))
    assert book.AddLayer().forward(3, 4) == 7


def test_functions_as_the_book_defines_them():
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10)
    t[2] = 1
    assert book.sum_squared_error(y, t) == pytest.approx(0.5 * np.sum((y - t) ** 2))
    assert book.cross_entropy_error(y, t) == pytest.approx(-np.log(0.6 + 1e-7))
    x = np.array([[1.0, 2.0, 3.0]])
    assert book.softmax_loss(x, np.array([2])) == pytest.approx(-np.log(np.exp(3) / np.exp(x).sum()))
    assert book.numerical_gradient(lambda v: np.sum(v ** 2), np.array([3.0, 4.0])) == pytest.approx([6.0, 8.0])
