"""Importing the book's pickled weights: the restricted unpickler, and predictions equal to the book's forward pass.

The book's forward passes are reproduced here from its layer semantics with plain loops and einsum,
independently of digitnet's layers: sigmoid hidden layers for ch. 3, zero-padded convolutions,
2x2 max pools, and Dropout that multiplies by (1 - ratio) at inference for ch. 8.
"""
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet import load_model
from digitnet.book.weights import BookWeightsError, import_book_weights, read_book_pickle

rng = np.random.default_rng(8)


def book_conv(x, W, b, pad):
    x = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    FN, C, FH, FW = W.shape
    out_h, out_w = x.shape[2] - FH + 1, x.shape[3] - FW + 1
    out = np.empty((x.shape[0], FN, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", x[:, :, i:i + FH, j:j + FW], W) + b
    return out


def book_pool(x):
    N, C, H, W = x.shape
    return x[:, :, :H // 2 * 2, :W // 2 * 2].reshape(N, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def relu(x):
    return np.maximum(x, 0)


def book_ch3_predict(w, x):
    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    z1 = sigmoid(x @ w["W1"] + w["b1"])
    z2 = sigmoid(z1 @ w["W2"] + w["b2"])
    return z2 @ w["W3"] + w["b3"]


def book_ch7_predict(w, x):
    h = book_pool(relu(book_conv(x.reshape(-1, 1, 28, 28), w["W1"], w["b1"], 0)))
    h = relu(h.reshape(len(x), -1) @ w["W2"] + w["b2"])
    return h @ w["W3"] + w["b3"]


def book_ch8_predict(w, x):
    h = x.reshape(-1, 1, 28, 28)
    for i, pad in zip(range(1, 7), (1, 1, 1, 2, 1, 1)):
        h = relu(book_conv(h, w[f"W{i}"], w[f"b{i}"], pad))
        if i % 2 == 0:
            h = book_pool(h)
    h = relu(h.reshape(len(x), -1) @ w["W7"] + w["b7"]) * (1 - 0.5)  # the book's Dropout at inference
    return (h @ w["W8"] + w["b8"]) * (1 - 0.5)


def ch3_weights():
    shapes = [(784, 50), (50, 100), (100, 10)]
    w = {f"W{i}": rng.standard_normal(s).astype(np.float32) for i, s in enumerate(shapes, 1)}
    w.update({f"b{i}": rng.standard_normal(s[1]).astype(np.float32) for i, s in enumerate(shapes, 1)})
    return w


def ch7_weights():
    return {"W1": 0.1 * rng.standard_normal((30, 1, 5, 5)), "b1": 0.1 * rng.standard_normal(30),
            "W2": 0.05 * rng.standard_normal((4320, 100)), "b2": 0.1 * rng.standard_normal(100),
            "W3": 0.1 * rng.standard_normal((100, 10)), "b3": 0.1 * rng.standard_normal(10)}


def ch8_weights():
    w, channels = {}, 1
    for i, f in enumerate((16, 16, 32, 32, 64, 64), 1):
        w[f"W{i}"], w[f"b{i}"] = (np.sqrt(2 / (channels * 9)) * rng.standard_normal((f, channels, 3, 3)),
                                  0.1 * rng.standard_normal(f))
        channels = f
    w["W7"], w["b7"] = np.sqrt(2 / 1024) * rng.standard_normal((1024, 50)), 0.1 * rng.standard_normal(50)
    w["W8"], w["b8"] = np.sqrt(2 / 50) * rng.standard_normal((50, 10)), 0.1 * rng.standard_normal(10)
    return w


@pytest.mark.parametrize("model, make, book_predict", [
    ("mlp", ch3_weights, book_ch3_predict),
    ("simple-cnn", ch7_weights, book_ch7_predict),
    ("deep-cnn", ch8_weights, book_ch8_predict),
])
def test_imported_network_predicts_what_the_book_predicts(tmp_path, model, make, book_predict):
    weights = make()
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(weights))  # how the book saves them: pickle.dump(params, f)
    x = rng.random((5, 784))
    expected = book_predict({k: v.astype(np.float64) for k, v in weights.items()}, x)
    net = import_book_weights(path, model)
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-5, atol=1e-5)


def test_cli_converts_to_a_model_file_that_evaluate_reads(tmp_path):
    pkl, out = tmp_path / "params.pkl", tmp_path / "simple.npz"
    weights = ch7_weights()
    pkl.write_bytes(pickle.dumps(weights))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "DIGITNET_CACHE_DIR": str(tmp_path / "cache"), "DIGITNET_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "digitnet", "import-book-weights", pkl, "--model", "simple-cnn",
                        "--out", out], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    net, header = load_model(out)
    x = rng.random((3, 784))
    np.testing.assert_allclose(net.predict(x), book_ch7_predict(weights, x), rtol=1e-5, atol=1e-5)
    r = subprocess.run([sys.executable, "-m", "digitnet", "evaluate", out], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "test accuracy" in r.stdout, r.stderr


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.zeros(3), "b1": RunsCode(marker)}))
    with pytest.raises(BookWeightsError, match=r"refused: the pickle asks for (posix|os|nt)\.system"):
        read_book_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload, message", [
    (pickle.dumps([np.zeros(3)]), "dict of arrays"),
    (pickle.dumps({"W1": "text"}), "not a numeric NumPy array"),
    (pickle.dumps({"W1": np.array([object()], dtype=object)}), "refused"),
    (b"not a pickle at all", "not a readable pickle"),
    (pickle.dumps({"W1": np.zeros(3)})[:-5], "not a readable pickle"),
])
def test_bad_pickles_give_one_line_errors(tmp_path, payload, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(payload)
    with pytest.raises(BookWeightsError, match=message) as e:
        read_book_pickle(path)
    assert "\n" not in str(e.value) and "bad.pkl" in str(e.value)


def test_weights_that_do_not_fit_the_model(tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(ch3_weights()))
    with pytest.raises(BookWeightsError, match="missing"):
        import_book_weights(path, "deep-cnn")


def malformed(model):
    """Broken versions of a book weight file for model: (what is wrong, the weights, the error's words)."""
    make = {"mlp": ch3_weights, "simple-cnn": ch7_weights, "deep-cnn": ch8_weights}[model]
    nan, inf = make(), make()
    nan["W2"] = nan["W2"].copy()
    nan["W2"].flat[0] = np.nan
    inf["b1"] = np.full(inf["b1"].shape, np.inf, dtype=inf["b1"].dtype)
    cases = [("NaN", nan, r"W2 holds 1 NaN or infinite value;"), ("inf", inf, r"b1 holds \d+ NaN or infinite values")]
    if model == "mlp":
        cases += [("1-d W", {"W1": rng.random(784), "b1": rng.random(50)}, r"W1 has shape \(784,\), not the 2-d"),
                  ("only b1", {"b1": rng.random(50)}, r"no weight matrices W1, W2, ... \(found b1\)")]
    else:
        flat = dict(make(), W1=rng.random((30, 25)))
        cases += [("2-d filters", flat, r"W1 has shape \(30, 25\), not the 4-d array the book's filters are")]
    if model == "simple-cnn":
        big = dict(make(), W1=rng.random((30, 1, 40, 40)))
        cases += [("40x40 filters", big, r"the weights' shapes make no SimpleConvNet: a 40-wide window")]
    return [(model, *case) for case in cases]


MALFORMED = [case for model in ("mlp", "simple-cnn", "deep-cnn") for case in malformed(model)]


@pytest.mark.parametrize("model, wrong, weights, message", MALFORMED, ids=[f"{c[0]}: {c[1]}" for c in MALFORMED])
def test_cli_refuses_a_malformed_or_non_finite_pickle_in_one_line(tmp_path, model, wrong, weights, message):
    from click.testing import CliRunner

    from digitnet.cli import main

    pkl, out = tmp_path / "bad.pkl", tmp_path / "out.npz"
    pkl.write_bytes(pickle.dumps(weights))
    r = CliRunner().invoke(main, ["import-book-weights", str(pkl), "--model", model, "--out", str(out)])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {pkl}: ") and "Traceback" not in r.output, r.output
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()  # nothing saved for `digitnet evaluate` to refuse later


def test_cli_will_not_write_the_model_over_the_book_s_own_file(tmp_path):
    """--out FILE itself replaced the book's pickle with the model (a zip), and the next import of it said "not a
    readable pickle" on two lines."""
    from click.testing import CliRunner

    from digitnet.cli import main

    pkl = tmp_path / "params.pkl"
    pkl.write_bytes(pickle.dumps(ch7_weights()))
    before = pkl.read_bytes()
    r = CliRunner().invoke(main, ["import-book-weights", str(pkl), "--model", "simple-cnn", "--out", str(pkl)])
    assert r.exit_code == 0 and r.output.strip().endswith("saved " + str(pkl) + ".npz"), r.output  # as train's --out
    assert pkl.read_bytes() == before
    named = tmp_path / "book.npz"  # a pickle named .npz, or a link to the pickle
    named.write_bytes(before)
    (tmp_path / "link.npz").symlink_to(pkl)
    for file, out in ((named, named), (pkl, tmp_path / "link.npz")):
        r = CliRunner().invoke(main, ["import-book-weights", str(file), "--model", "simple-cnn", "--out", str(out)])
        assert r.exit_code == 1 and r.output.strip() == (f"Error: {out}: that is the book's file itself: give the "
                                                        "model file a name of its own"), r.output
        assert file.read_bytes() == before
    (tmp_path / "simple.npz").write_bytes(before)  # written over: the book's pickle is the zip below
    r = CliRunner().invoke(main, ["import-book-weights", str(pkl), "--model", "simple-cnn", "--out",
                                  str(tmp_path / "simple")])
    assert r.exit_code == 0 and load_model(tmp_path / "simple.npz")[0].params["W1"].shape == (30, 1, 5, 5)
    (tmp_path / "zip.pkl").write_bytes((tmp_path / "simple.npz").read_bytes())  # a zip: pickle's message has 2 lines
    r = CliRunner().invoke(main, ["import-book-weights", str(tmp_path / "zip.pkl"), "--model", "simple-cnn",
                                  "--out", str(tmp_path / "other.npz")])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "not a readable pickle" in r.output
