"""Nets that classify together (digitnet.committee) and the bundled committees (pretrained.committee_names)."""
import numpy as np
import pytest

import digitnet
from digitnet.calibration import confidence_of
from digitnet.committee import Committee, as_committee
from digitnet.data import load_sample
from digitnet.functions import softmax
from digitnet.nets.base import infer
from digitnet.pretrained import committee_names, default_committee


@pytest.fixture(scope="module")
def nets():
    return digitnet.pretrained("two-layer"), digitnet.pretrained("deep-cnn")


@pytest.fixture(scope="module")
def digits():
    s = load_sample()
    return s.x_test[:300], s.t_test[:300]


def test_a_committee_of_one_is_the_net_alone(nets, digits):
    x = digits[0][:200]  # one batch (Committee.logits classifies 256 at a time): the very same sums as the net's
    net = nets[1]
    probabilities, rejected = as_committee(net).classify(x)
    logits = np.asarray(infer(net, x), dtype=np.float64)
    assert np.array_equal(probabilities, confidence_of(net).probabilities(logits))
    assert np.array_equal(rejected, confidence_of(net).rejected(logits))


def test_the_mean_of_calibrated_probabilities_and_the_first_nets_rejection(nets, digits):
    x, _ = digits
    alone = [as_committee(n).classify(x) for n in nets]
    probabilities, rejected = Committee(nets).classify(x)
    assert np.allclose(probabilities, (alone[0][0] + alone[1][0]) / 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.array_equal(rejected, alone[0][1])
    assert np.array_equal(Committee(nets[::-1]).classify(x)[1], alone[1][1])  # the first one says
    assert not Committee(nets).classify(x, reject=False)[1].any()


def test_the_margins_are_the_first_nets_score_less_its_threshold(nets, digits):
    x, _ = digits
    x = np.concatenate([x, np.random.default_rng(0).random((50, 784), dtype=np.float32)])  # and noise
    probabilities, margins, evidence = Committee(nets).assess(x)
    assert np.array_equal(probabilities, Committee(nets).classify(x)[0])
    c = confidence_of(nets[0])
    logits = np.asarray(infer(nets[0], x), dtype=np.float64)
    assert np.allclose(margins, c.scores(logits) - c.threshold)
    assert np.array_equal(margins < 0, Committee(nets).classify(x)[1]) and (margins < 0).any() and (margins > 0).any()
    one_temperature = [softmax(np.asarray(infer(n, x), dtype=np.float64) / confidence_of(n).temperature) for n in nets]
    assert np.allclose(evidence, np.mean(one_temperature, axis=0))  # each net's one temperature, not per picture
    same = evidence.argmax(axis=1) == probabilities.argmax(axis=1)
    assert not np.allclose(evidence, probabilities) and same[:len(digits[0])].mean() > 0.95  # digits read alike
    no_threshold = c.without_rejection()
    assert np.isposinf(no_threshold.margins(logits)).all() and not no_threshold.rejected(logits).any()


def test_many_pictures_are_classified_a_batch_at_a_time_with_the_same_scores(nets):
    """Committee.logits classifies BATCH pictures at a time (one call for thousands was 3.7 times slower); the
    scores are each picture's own, whatever the batch (float32 sums may differ in their last bits)."""
    from digitnet.committee import BATCH

    x = load_sample().x_test[:2 * BATCH + 17]
    for net in nets:
        whole = np.asarray(infer(net, x), dtype=np.float64)
        batched = Committee.logits(net, x)
        assert batched.shape == whole.shape == (len(x), 10)
        assert np.allclose(batched, whole, rtol=0, atol=1e-4)
        second = np.asarray(infer(net, x[BATCH:2 * BATCH]), dtype=np.float64)  # what the second batch alone gives
        assert np.array_equal(batched[BATCH:2 * BATCH], second)


def test_as_committee_takes_a_net_a_sequence_or_a_committee(nets):
    c = Committee(nets)
    assert as_committee(c) is c and as_committee(list(nets)).nets == nets and as_committee(nets[0]).nets == nets[:1]
    assert c.first is nets[0] and len(c) == 2 and c.input_size == 784
    with pytest.raises(ValueError, match="at least one net"):
        Committee([])


def test_read_and_predict_take_a_committee(nets, digits):
    from digitnet.predict import predict_images

    x, _ = digits
    pictures = [np.round(d.reshape(28, 28) * 255).astype(np.uint8) for d in x[:5]]
    by_list = predict_images(list(nets), pictures)
    by_committee = predict_images(Committee(nets), pictures)
    assert by_list == by_committee and by_list != predict_images(nets[0], pictures)
    picture = np.hstack(pictures[:3])
    assert digitnet.read(picture, Committee(nets)).text == digitnet.read(picture, list(nets)).text


def test_the_bundled_committees(monkeypatch):
    import importlib

    pretrained = importlib.import_module("digitnet.pretrained")  # the module (digitnet.pretrained is a function)

    predict, read = committee_names("predict"), committee_names("read")
    assert predict[0] == pretrained.best_model_name() and len(predict) >= 2 and len(read) >= 2
    assert set(predict + read) <= set(pretrained.bundled_models())
    assert default_committee("predict") is default_committee("predict")
    with pytest.raises(ValueError, match="'predict' or 'read'"):
        committee_names("serve")
    manifest = {k: v for k, v in pretrained._manifest().items() if k != "committees"}
    monkeypatch.setattr(pretrained, "_manifest", lambda: manifest)  # an older manifest: the best model alone
    assert committee_names("predict") == committee_names("read") == [manifest["best"]]


def test_the_predict_committee_beats_each_of_its_nets_on_the_official_test_set(mnist_10k_dir):
    from digitnet.data.mnist import load_dataset

    ds = load_dataset(mnist_10k_dir)
    committee = default_committee("predict")
    together = np.mean(committee.classify(ds.x_test)[0].argmax(axis=1) == ds.t_test)
    alone = [np.mean(as_committee(n).classify(ds.x_test)[0].argmax(axis=1) == ds.t_test) for n in committee.nets]
    assert together >= 0.994 and together > max(alone)  # issue 23's goal for the default


def test_a_net_without_ten_classes_is_one_line_for_read_and_predict():
    """read gave an IndexError for a net of 12 classes and read digits 0-4 with one of 5; predict_images answered
    digits up to 10 (a review). serve refused them, and now every reader does, in one place."""
    picture = np.full((28, 84), 255, dtype=np.uint8)
    picture[4:24, 10:13] = picture[4:24, 40:43] = 0
    for classes in (5, 12):
        net = digitnet.TwoLayerNet(784, 20, classes, rng=np.random.default_rng(1))
        with pytest.raises(digitnet.DigitnetError, match=f"the model has {classes} outputs; digitnet reads digits"):
            digitnet.read(picture, net)
        with pytest.raises(digitnet.DigitnetError, match=f"the model has {classes} outputs"):
            Committee([net]).classify(np.zeros((2, 784)))  # what predict_images reads with


def test_threads_that_ask_for_the_bundled_committee_at_once_share_one_load(monkeypatch):
    """lru_cache let each of the threads that asked first load the committee (18 threads: 6 loads), each with
    nets of its own (a review)."""
    import importlib
    import threading

    pretrained = importlib.import_module("digitnet.pretrained")
    real, loads, start = pretrained.pretrained, [], threading.Barrier(8)

    def counted(name=None):
        loads.append(name)
        return real(name)
    monkeypatch.setattr(pretrained, "pretrained", counted)
    pretrained._loaded_committee.cache_clear()
    got = []

    def ask():
        start.wait()
        got.append(default_committee("read"))
    threads = [threading.Thread(target=ask) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        pretrained._loaded_committee.cache_clear()  # the next test's committee is loaded without the counter
    assert len(got) == 8 and all(c is got[0] for c in got)
    assert sorted(loads) == sorted(committee_names("read"))
