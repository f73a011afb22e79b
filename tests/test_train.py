import sys
from types import SimpleNamespace

import numpy as np
import pytest

from digitnet import SGD, TwoLayerNet, train
from digitnet.data import load_sample
from digitnet.train import TrainingInterrupted, TrainingState, batch_indices, evaluate

training_module = sys.modules["digitnet.train"]  # digitnet.train is also the name of the function


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def run(sample, seed, **kw):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, rng=rng, dtype=np.float32)
    history = train(net, sample.x_train, sample.t_train, sample.x_test, sample.t_test,
                    optimizer=SGD(0.1), rng=rng, **kw)
    return net, history


def test_training_learns_digits(sample):
    net, history = run(sample, 0, iters=800)
    assert len(history) == 10  # 8,000 samples / batch 100 = 80 steps an epoch
    assert history[-1]["test_acc"] > 0.88
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # the recorded accuracy, recomputed here with the book's forward pass written out: relu(x W1 + b1) W2 + b2
    p = net.params
    scores = np.maximum(sample.x_test @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    assert history[-1]["test_acc"] == np.mean(scores.argmax(axis=1) == sample.t_test)
    assert evaluate(net, sample.x_test, sample.t_test)[1] == history[-1]["test_acc"]


def test_same_seed_same_weights_other_seed_differs(sample):
    a, ha = run(sample, 5, iters=120, sampling="shuffle")
    b, hb = run(sample, 5, iters=120, sampling="shuffle")
    c, _ = run(sample, 6, iters=120, sampling="shuffle")
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert ha[-1]["test_acc"] == hb[-1]["test_acc"]
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_epochs_and_a_partial_last_epoch(sample):
    _, history = run(sample, 1, epochs=2, batch_size=1000)
    assert [h["iteration"] for h in history] == [8, 16]
    _, history = run(sample, 1, iters=10, batch_size=1000)
    assert [h["iteration"] for h in history] == [8, 10]


def test_shuffle_sees_every_sample_once_per_epoch():
    batches = list(batch_indices(10, 3, 6, "shuffle", np.random.default_rng(0)))
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
    assert len(set(first)) == 9 and len(set(second)) == 9  # 3 full batches of 3 from 10 samples each epoch


def test_replacement_draws_fresh_batches():
    batches = list(batch_indices(1000, 100, 20, "replacement", np.random.default_rng(0)))
    assert all(len(b) == 100 for b in batches)
    assert len(np.unique(np.concatenate(batches))) > 800


def test_bad_arguments(sample):
    net = TwoLayerNet(784, 5, 10)
    with pytest.raises(ValueError, match="exactly one"):
        train(net, sample.x_train, sample.t_train, iters=5, epochs=1)
    with pytest.raises(ValueError, match="batch size"):
        train(net, sample.x_train[:10], sample.t_train[:10], iters=5, batch_size=11)
    with pytest.raises(ValueError, match="sampling"):
        train(net, sample.x_train, sample.t_train, iters=5, sampling="bogus")


def test_divergence_is_reported(sample):
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0), dtype=np.float32)
    with pytest.raises(FloatingPointError, match=r"nan at step \d+ \(is the learning rate too high"), \
            np.errstate(all="ignore"):
        train(net, sample.x_train, sample.t_train, iters=80, optimizer=SGD(1e8), rng=np.random.default_rng(0))


def test_an_interrupted_run_keeps_the_time_since_its_last_epoch(sample, monkeypatch):
    """A clock that moves one second per training step only: 100 steps take 100 s, interrupted or not."""
    now = [0.0]
    monkeypatch.setattr(training_module, "time", SimpleNamespace(perf_counter=lambda: now[0]))

    def clocked_net():
        net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0), dtype=np.float32)
        backprop = net.loss_and_gradient

        def one_second_step(x, t):
            now[0] += 1.0
            return backprop(x, t)

        net.loss_and_gradient = one_second_step
        return net

    def run(state, stop=None):
        return train(clocked_net(), sample.x_train, sample.t_train, sample.x_test, sample.t_test, iters=100,
                     optimizer=SGD(0.1), rng=np.random.default_rng(1), state=state, stop=stop)

    straight = run(TrainingState())
    assert [(h["iteration"], h["train_time_s"], h["elapsed_s"]) for h in straight] == [(80, 80, 80), (100, 100, 100)]
    state = TrainingState()
    with pytest.raises(TrainingInterrupted):
        run(state, stop=lambda: state.step >= 50)
    assert (state.step, state.train_time, state.elapsed) == (50, 50, 50)  # no epoch had ended: all of it since
    resumed = run(state)
    assert [(h["train_time_s"], h["elapsed_s"]) for h in resumed] == [(80, 80), (100, 100)]


def test_a_test_or_validation_set_without_its_labels_is_refused_before_the_first_step():
    """x_test without t_test trained a whole epoch, then gave an IndexError; train_eval_size=0 a ZeroDivisionError
    (a review)."""
    sample = load_sample()
    net, x, t = TwoLayerNet(784, 10, 10, rng=np.random.default_rng(0)), sample.x_train[:200], sample.t_train[:200]
    steps = []
    for kwargs, words in (({"x_test": x}, "the test inputs were given without their labels"),
                          ({"t_val": t}, "the validation labels were given without their inputs"),
                          ({"train_eval_size": 0}, "train_eval_size must be at least 1")):
        with pytest.raises(ValueError, match=words):
            train(net, x, t, epochs=1, batch_size=50, on_step=steps.append, **kwargs)
    assert steps == []  # refused before any step


def test_negative_labels_are_refused_before_the_first_step():
    """A label of -1 was trained as the last class, without a word (the loss indexes with it; a review)."""
    sample = load_sample()
    t = sample.t_train[:200].copy()
    t[7] = -1
    with pytest.raises(ValueError, match="class labels must be 0 or more, not -1"):
        train(TwoLayerNet(784, 10, 10, rng=np.random.default_rng(0)), sample.x_train[:200], t, iters=1, batch_size=50)
