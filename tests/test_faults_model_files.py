"""Crafted model files: valid seals (both digests recomputed), hostile contents. Every one must be refused by
`predict`, `evaluate` and `serve` with one line and exit 1, never a traceback, NaN output or a 500; a file the
loader accepts must give finite probabilities. docs/reliability.md's fault table names these tests."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.cli import main
from digitnet.errors import ModelFileError
from digitnet.model_io import HEADER_KEY, load_model, params_digest, save_model, seal_header
from digitnet.nets.factory import build_net


@pytest.fixture(scope="module")
def bn_model(tmp_path_factory):
    """An MLP with batch norm, trained a few steps on the bundled sample, so its buffers are saved."""
    import digitnet
    from digitnet.data import load_sample

    sample = load_sample()
    rng = np.random.default_rng(0)
    net = build_net("mlp", input_size=784, hidden=[16], batch_norm=True, rng=rng, dtype=np.float32)
    digitnet.train(net, sample.x_train[:500], sample.t_train[:500], iters=5, batch_size=50, rng=rng)
    path = tmp_path_factory.mktemp("bn") / "bn.npz"
    save_model(path, net, {"dataset": "sample", "accuracy": {"test": 0.5}})
    return path


def contents(path):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return json.loads(str(arrays.pop(HEADER_KEY))), arrays


def reseal(header, arrays, path):
    """Write a model file whose array digest and header digest are both right for what it holds."""
    header = dict(header, sha256=params_digest(arrays))
    header.pop("header_sha256", None)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{HEADER_KEY: np.array(json.dumps(seal_header(header)))})
    path.write_bytes(buffer.getvalue())
    return path


def crafted(source, tmp_path, array_change=None, header_change=None, name="crafted.npz"):
    header, arrays = contents(source)
    if array_change:
        array_change(arrays)
    if header_change:
        header_change(header)
    return reseal(header, arrays, tmp_path / name)


def var_key(arrays):
    return next(k for k in arrays if k.endswith("running_var"))


def set_var(value):
    def change(arrays):
        key = var_key(arrays)
        arrays[key] = np.full_like(arrays[key], value) if not isinstance(value, np.ndarray) else value
    return change


CRAFTED = {
    "running_var as text": (lambda a: a.__setitem__(var_key(a), np.array(["x"] * a[var_key(a)].size)), None),
    "running_var NaN": (set_var(np.nan), None),
    "running_var negative": (set_var(-1.0), None),
    "a weight infinite": (lambda a: a["W1"].__setitem__((0, 0), np.inf), None),
    "a weight int64": (lambda a: a.__setitem__("W1", a["W1"].astype(np.int64)), None),
    "a buffer of another shape": (lambda a: a.__setitem__(var_key(a), np.ones(3, np.float32)), None),
    "metadata as text": (None, lambda h: h.__setitem__("metadata", "hello")),
    "metadata accuracy as text": (None, lambda h: h["metadata"].__setitem__("accuracy", "high")),
    "metadata accuracy NaN-like": (None, lambda h: h["metadata"].__setitem__("accuracy", {"test": 7})),
    "metadata dataset a list": (None, lambda h: h["metadata"].__setitem__("dataset", [1, 2])),
    "config a list": (None, lambda h: h.__setitem__("config", [1, 2])),
    "architecture a number": (None, lambda h: h.__setitem__("architecture", 5)),
    "params not a mapping": (None, lambda h: h.__setitem__("params", "W1")),
    "format_version 0": (None, lambda h: h.__setitem__("format_version", 0)),
    "format_version true": (None, lambda h: h.__setitem__("format_version", True)),
    "format_version as text": (None, lambda h: h.__setitem__("format_version", "1")),
    "params listing another shape": (None, lambda h: h["params"]["W1"].__setitem__("shape", [1, 2])),
    "params listing another dtype": (None, lambda h: h["params"]["W1"].__setitem__("dtype", "<f8")),
    "params listing an array not there":
        (None, lambda h: h["params"].__setitem__("W9", {"shape": [1], "dtype": "<f4"})),
}


def one_line_refusal(result, path):
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a traceback
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("offline:")]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), result.output
    assert "nan%" not in result.output.lower()  # no NaN probabilities printed


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_a_crafted_model_file_gets_one_line_from_every_command(bn_model, tmp_path, kind, sample_png):
    path = crafted(bn_model, tmp_path, *CRAFTED[kind])
    with pytest.raises(ModelFileError):
        load_model(path)
    runner = CliRunner()
    one_line_refusal(runner.invoke(main, ["predict", "--model", str(path), str(sample_png)]), path)
    one_line_refusal(runner.invoke(main, ["evaluate", str(path), "--offline"]), path)
    from digitnet.serve.app import create_app

    with pytest.raises(ModelFileError):
        create_app(path)


def test_serve_refuses_a_crafted_model_before_starting(bn_model, tmp_path):
    path = crafted(bn_model, tmp_path, set_var(np.nan))
    done = subprocess.run([sys.executable, "-m", "digitnet", "serve", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"Error: {path}: buffer.BatchNorm1.running_var holds values that "
                                                "are not finite (NaN or infinity)"] or "not finite" in done.stderr


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_net_of_any_float_dtype_saved_is_loaded(tmp_path, dtype):
    net = build_net("mlp", input_size=784, hidden=[8], rng=np.random.default_rng(0), dtype=dtype)
    save_model(tmp_path / "m.npz", net)
    loaded, _ = load_model(tmp_path / "m.npz")
    x = np.random.default_rng(1).random((2, 784)).astype(dtype)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


@pytest.fixture(scope="module")
def sample_png(tmp_path_factory):
    from PIL import Image

    from digitnet.data import load_sample

    digit = (255 * load_sample().x_test[0].reshape(28, 28)).astype(np.uint8)
    path = tmp_path_factory.mktemp("png") / "digit.png"
    Image.fromarray(255 - digit).save(path)
    return path


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
HOSTILE_VALUES = st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e30, -1e30, 1e-30])
HOSTILE_DTYPES = st.sampled_from(["<U3", "int64", "bool", "complex64", "float16", "float64", "int8"])


@st.composite
def hostile_change(draw, names):
    """One change to a valid file: an array's values, dtype or shape, or a header or metadata field."""
    kind = draw(st.sampled_from(["value", "dtype", "shape", "header", "metadata"]))
    name = draw(st.sampled_from(names))
    if kind == "value":
        value = draw(HOSTILE_VALUES)
        return kind, name, lambda a: a.__setitem__(name, np.full_like(a[name], value))
    if kind == "dtype":
        dtype = draw(HOSTILE_DTYPES)
        return kind, name, lambda a: a.__setitem__(name, np.zeros(a[name].shape).astype(dtype))
    if kind == "shape":
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
        return kind, name, lambda a: a.__setitem__(name, np.ones(shape, a[name].dtype))
    field = draw(st.sampled_from(["architecture", "config", "params", "metadata", "digitnet_version"]
                                 if kind == "header" else ["dataset", "accuracy", "settings", "steps", "created"]))
    value = draw(JSON)
    where = (lambda h: h) if kind == "header" else (lambda h: h["metadata"])
    return kind, field, lambda h: where(h).__setitem__(field, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_a_resealed_hostile_file_is_refused_in_one_line_or_predicts_finite(bn_model, tmp_path, data):
    header, arrays = contents(bn_model)
    kind, name, change = data.draw(hostile_change(sorted(arrays)))
    change(header if kind in ("header", "metadata") else arrays)
    path = reseal(header, arrays, tmp_path / "hostile.npz")
    try:
        net, loaded_header = load_model(path)
    except ModelFileError as e:
        assert "\n" not in str(e) and str(e).startswith(str(path))
        result = CliRunner().invoke(main, ["evaluate", str(path), "--offline"])
        one_line_refusal(result, path)
        return
    # accepted: then it must compute finite probabilities, and the server must answer 200
    from fastapi.testclient import TestClient

    from digitnet.serve.app import create_app

    x = np.random.default_rng(2).random((3, 784)).astype(np.result_type(*net.params.values()))
    assert np.all(np.isfinite(net.predict(x)))
    with TestClient(create_app(path), raise_server_exceptions=False) as client:
        reply = client.post("/api/predict", json={"pixels": x[0].tolist()})
        assert reply.status_code == 200, reply.text
        assert all(np.isfinite(p) for p in reply.json()["probabilities"])


def test_a_model_file_that_would_unpack_to_far_more_than_it_holds_is_refused_before_it_is_read(bn_model, tmp_path):
    """A zip bomb: 160 MB of zeros compressed to 160 KB, resealed. Every loader unpacked all of it (a 1.9 MB
    file took 4 GB) before the shapes refused it; save_model stores arrays as they are, so the sizes the
    archive states are checked first."""
    import tracemalloc

    header, arrays = contents(bn_model)
    arrays["W1"] = np.zeros((40_000, 1000), dtype=np.float32)
    header = dict(header, sha256=params_digest(arrays))
    header.pop("header_sha256", None)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **arrays, **{HEADER_KEY: np.array(json.dumps(seal_header(header)))})
    del arrays
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"would unpack to 16\d,\d{3},\d{3} bytes"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak  # before: the 160 MB array was made first
    one_line_refusal(CliRunner().invoke(main, ["predict", "--model", str(path), "x.png"]), path)


def test_export_will_not_write_over_its_own_model(bn_model, tmp_path):
    """`digitnet export m.npz --onnx m.npz` (or through a link to it) wrote the ONNX bytes over the model and said
    "wrote": the model was gone."""
    import os

    from click.testing import CliRunner

    from digitnet.cli import main

    pytest.importorskip("onnx")
    model = tmp_path / "m.npz"
    model.write_bytes(bn_model.read_bytes())
    os.symlink(model, tmp_path / "link.npz")
    for target in (model, tmp_path / "link.npz"):
        r = CliRunner().invoke(main, ["export", str(model), "--onnx", str(target)])
        assert r.exit_code == 1 and "that is the model itself" in r.output, r.output
        assert model.read_bytes() == bn_model.read_bytes()


def test_calibrate_refuses_a_header_whose_run_settings_cannot_be_used(bn_model, tmp_path):
    """A re-sealed header with a seed of -1, a validation of "500" or a train limit of 2.5 in its run settings
    gave calibrate a ValueError or TypeError traceback (load_model, predict and evaluate take these files)."""
    from click.testing import CliRunner

    from digitnet.cli import main

    trained = tmp_path / "trained.npz"
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "5", "--out", str(trained)])
    assert r.exit_code == 0, r.output
    for name, value in (("seed", -1), ("validation", "500"), ("train_limit", 2.5)):
        def change(header, name=name, value=value):
            header["metadata"]["settings"][name] = value
        path = crafted(trained, tmp_path, header_change=change, name=f"{name}.npz")
        r = CliRunner().invoke(main, ["calibrate", str(path), "--offline"])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert f"Error: {path}: the header's run settings cannot be used" in r.output, r.output


def test_a_model_file_of_format_version_0_or_true_is_refused_as_no_writers(bn_model, tmp_path):
    """format_version 0 or true (an int to isinstance) was read as version 1."""
    for value in (0, True, -3):
        path = crafted(bn_model, tmp_path, header_change=lambda h, v=value: h.__setitem__("format_version", v))
        with pytest.raises(ModelFileError, match="is not one digitnet writes"):
            load_model(path)


def test_a_header_listing_arrays_the_file_does_not_hold_is_refused(bn_model, tmp_path):
    """The header's "params" (each array's shape and dtype: what `digitnet models` and a reader of the header
    take the file to hold) was never compared with the arrays."""
    path = crafted(bn_model, tmp_path, header_change=lambda h: h["params"]["W1"].__setitem__("shape", [3, 3]))
    with pytest.raises(ModelFileError, match=r"the header lists 'W1' as .*the file holds shape \[784, 16\]"):
        load_model(path)
    load_model(crafted(bn_model, tmp_path, name="as-written.npz"))  # the same file unchanged loads
