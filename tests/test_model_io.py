import json
import os
import pickle
import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from digitnet import (
    DeepConvNet,
    ModelFileError,
    MultiLayerNet,
    SimpleConvNet,
    TwoLayerNet,
    load_model,
    model_io,
    save_model,
)
from digitnet.layers import Dropout


@pytest.fixture
def net():
    return TwoLayerNet(784, 16, 10, rng=np.random.default_rng(0), dtype=np.float32)


def test_round_trip_predicts_identically(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net, {"dataset": "test", "accuracy": {"test": 0.5}})
    loaded, header = load_model(path)
    x = np.random.default_rng(1).random((4, 784), dtype=np.float32)
    assert np.array_equal(loaded.predict(x), net.predict(x))
    assert loaded.params["W1"].dtype == np.float32
    assert header["metadata"]["dataset"] == "test" and header["architecture"] == "two-layer"
    # the loaded layers hold the loaded params arrays
    loaded.params["b2"] += 1
    np.testing.assert_allclose(loaded.predict(x), net.predict(x) + 1, rtol=1e-6)


def test_file_is_plain_npz_readable_without_pickle(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net)
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(str(npz["__header__"]))
        assert np.array_equal(npz["W1"], net.params["W1"])
    assert header["params"]["W1"]["shape"] == [784, 16]
    assert header["config"]["hidden_size"] == 16


def one_line_error(path):
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and len(message) < 400, message
    return message


def test_truncated_file(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    one_line_error(path)


def test_altered_weights_fail_the_checksum(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["W2"] = arrays["W2"].copy()
    arrays["W2"][0, 0] += 1
    np.savez(path, **arrays)
    assert "checksum" in one_line_error(path)


def test_pickle_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.npz"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    path.write_bytes(pickle.dumps({"W1": Evil()}))
    assert "pickle" in one_line_error(path)
    assert not marker.exists()


def test_foreign_zip_empty_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("hello.txt", "not numpy")
    one_line_error(foreign)
    other_npz = tmp_path / "other.npz"
    np.savez(other_npz, a=np.zeros(3))
    assert "__header__" in one_line_error(other_npz)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    one_line_error(empty)
    assert "no such" in one_line_error(tmp_path / "absent.npz")


def rewrite_header(path, change, seal=True):
    """Edit the header of the model file at path; seal: recompute its header_sha256, as a deliberate edit would."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["__header__"]))
    change(header)
    arrays["__header__"] = np.array(json.dumps(model_io.seal_header(header) if seal else header))
    np.savez(path, **arrays)


def test_future_version_and_unknown_architecture(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h.update(format_version=99))
    assert "upgrade" in one_line_error(path)
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h.update(architecture="transformer"))
    assert "unknown architecture" in one_line_error(path)


def test_shapes_must_fit_the_architecture(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h["config"].update(hidden_size=17))
    assert "shape" in one_line_error(path)


def test_header_is_sealed_and_unsealed_edits_are_refused(tmp_path, net):
    path = save_model(tmp_path / "m.npz", net, {"accuracy": 0.5})
    with np.load(path) as npz:
        header = json.loads(str(npz["__header__"]))
    assert header[model_io.HEADER_DIGEST] == model_io.header_digest(header)
    for change in (lambda h: h["config"].update(weight_init_std=0.02),  # still builds the same net
                   lambda h: h.update(architecture="mlp"),
                   lambda h: h["metadata"].update(accuracy=0.99)):
        path = save_model(tmp_path / "m.npz", net, {"accuracy": 0.5})
        rewrite_header(path, change, seal=False)
        assert "header checksum mismatch" in one_line_error(path)


def test_files_without_a_header_digest_still_load(tmp_path, net):
    """Files written before header_sha256 existed have only the weights' digest."""
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h.pop(model_io.HEADER_DIGEST), seal=False)
    loaded, header = load_model(path)
    x = np.random.default_rng(1).random((2, 784), dtype=np.float32)
    assert model_io.HEADER_DIGEST not in header and np.array_equal(loaded.predict(x), net.predict(x))


def small_nets():
    rng = np.random.default_rng(0)
    return {
        "two-layer": TwoLayerNet(784, 8, 10, rng=rng, dtype=np.float32),
        "mlp": MultiLayerNet(784, [12, 8], 10, use_dropout=True, dropout_ratio=0.3, use_batchnorm=True, rng=rng),
        "simple-cnn": SimpleConvNet((1, 12, 12), {"filter_num": 3, "filter_size": 3}, 8, rng=rng),
        "deep-cnn": DeepConvNet(hidden_size=8, rng=rng, dtype=np.float32),
    }


@pytest.mark.parametrize("architecture", ["two-layer", "mlp", "simple-cnn", "deep-cnn"])
def test_every_architecture_round_trips_and_trains(tmp_path, architecture):
    """The loader rebuilds each net with a size-checking stand-in for the rng: valid files must not trip it,
    and it must not stay in the net (dropout draws its masks from a real Generator)."""
    net = small_nets()[architecture]
    path = save_model(tmp_path / "m.npz", net)
    state = np.random.get_state()[1].copy()
    loaded, header = load_model(path)
    assert np.array_equal(np.random.get_state()[1], state)  # loading leaves np.random's state alone
    assert header["architecture"] == architecture and type(loaded) is type(net)
    side = int(np.sqrt(np.prod(getattr(net, "input_dim", (784,)))))
    x = np.random.default_rng(1).random((3, side * side)).astype(net.params["W1"].dtype)
    assert np.array_equal(loaded.predict(x), net.predict(x))
    for layer in loaded.layers.values():
        if isinstance(layer, Dropout):
            assert isinstance(layer.rng, np.random.Generator)
    grads = loaded.gradient(x, np.array([1, 2, 3]))
    assert all(np.all(np.isfinite(g)) for g in grads.values())


TWO_LAYER_CONFIG = {"input_size": 784, "hidden_size": 16, "output_size": 10, "weight_init_std": 0.01}

# Headers whose config crashed the net's constructor with raw exceptions (found by the property test
# test_model_loader_mutated_json_header), each with what the one-line ModelFileError must say.
BAD_CONFIGS = {
    "rng set by the file (AttributeError)": ("two-layer", {**TWO_LAYER_CONFIG, "rng": 5}, "sets 'rng'"),
    "dtype set by the file": ("two-layer", {**TWO_LAYER_CONFIG, "dtype": "float16"}, "sets 'dtype'"),
    "unknown setting": ("two-layer", {**TWO_LAYER_CONFIG, "colour": "red"}, "sets 'colour'"),
    "config not a mapping": ("two-layer", [784, 16, 10], "not a mapping"),
    "config missing (KeyError)": ("two-layer", None, "has no config"),
    "hidden size no machine can allocate (MemoryError)": ("two-layer", {**TWO_LAYER_CONFIG, "hidden_size": 2**40},
                                                          "larger than any dimension"),
    "input size no machine can allocate (MemoryError)": ("two-layer", {**TWO_LAYER_CONFIG, "input_size": 2**40},
                                                         "larger than any dimension"),
    "float size (TypeError)": ("two-layer", {**TWO_LAYER_CONFIG, "hidden_size": 16.0}, "TypeError"),
    "negative size": ("two-layer", {**TWO_LAYER_CONFIG, "hidden_size": -16}, "ValueError"),
    "mlp with input size 0 (ZeroDivisionError)": ("mlp", {"input_size": 0, "hidden_size_list": [16], "output_size": 10},
                                                  "ZeroDivisionError"),
    "mlp with a thousand layers": ("mlp", {"input_size": 784, "hidden_size_list": [16] * 1000, "output_size": 10},
                                   "more weights than the file holds"),
    "mlp with a huge activation name": ("mlp", {"input_size": 784, "hidden_size_list": [16], "output_size": 10,
                                                "activation": "x" * 100_000}, "activation must be one of"),
    "simple-cnn with stride 0 (ZeroDivisionError)": ("simple-cnn", {"conv_param": {"stride": 0}}, "ZeroDivisionError"),
    "simple-cnn with input_dim [1] (an IndexError once)": ("simple-cnn", {"input_dim": [1]}, "of square images"),
    "simple-cnn with 784^4 filter weights": ("simple-cnn", {"input_dim": [784, 784, 784],  # 783: a 2x2 conv output
                                                            "conv_param": {"filter_num": 784, "filter_size": 783}},
                                             "more weights than the file holds"),
    "deep-cnn with input_dim [] (an IndexError once)": ("deep-cnn", {"input_dim": []}, "of square images"),
    "deep-cnn with input_dim [1, 1, 1] (ZeroDivisionError)": ("deep-cnn", {"input_dim": [1, 1, 1]},
                                                              "does not fit an input of size 1"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_are_one_line_errors(tmp_path, net, case):
    architecture, config, says = BAD_CONFIGS[case]
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h.update(architecture=architecture, config=config))
    assert says in one_line_error(path)


def test_nets_the_arrays_cannot_fill_are_refused_before_they_are_built(tmp_path, net):
    """A 50 kB file whose header says hidden_size 100,000 must be refused without first building a
    784 x 100,000 net (627 MB; hidden_size 2,000,000 would take 12.5 GB and get the process killed)."""
    path = save_model(tmp_path / "m.npz", net)
    rewrite_header(path, lambda h: h["config"].update(hidden_size=100_000))
    tracemalloc.start()
    try:
        one_line_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"load_model allocated {peak / 1e6:.0f} MB to refuse a {path.stat().st_size} byte file"


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,  # RecursionError from json
                                  '{"format": "digitnet-model", "x": ' + "1" * 5000 + "}"],  # int digit limit
                         ids=["deep-nesting", "5000-digit-int"])
def test_header_json_that_python_refuses_is_a_one_line_error(tmp_path, net, text):
    path = save_model(tmp_path / "m.npz", net)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__header__"] = np.array(text)
    np.savez(path, **arrays)
    assert "damaged header" in one_line_error(path)


def test_crash_mid_save_keeps_the_previous_file(tmp_path, net, monkeypatch):
    path = save_model(tmp_path / "m.npz", net)
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")
    monkeypatch.setattr(model_io.np, "savez", crash)
    with pytest.raises(OSError):
        save_model(path, TwoLayerNet(784, 16, 10, dtype=np.float32), {})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_umasks_mode_like_any_new_file(tmp_path, net, umask):
    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as f:  # what every other file the CLI writes gets
            f.write("x")
        path = save_model(tmp_path / "m.npz", net)
        path = save_model(path, net)  # replacing a file: the same mode again
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


def test_a_model_replaced_keeps_its_mode_and_a_link_to_it_stays_a_link(tmp_path, net):
    """`digitnet calibrate latest.npz` (a link to runs/3.npz) turned the link into a file of its own and left the
    run's model as it was; a model kept private (0600) became readable by all (0644)."""
    (tmp_path / "runs").mkdir()
    target = save_model(tmp_path / "runs" / "3.npz", net)
    os.chmod(target, 0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(Path("runs") / "3.npz")
    before = target.read_bytes()
    assert save_model(link, net, {"note": "again"}) == link  # the name it was given, not the link's target
    assert link.is_symlink() and os.readlink(link) == str(Path("runs") / "3.npz")
    assert target.read_bytes() != before and load_model(link)[1]["metadata"]["note"] == "again"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["3.npz", "latest.npz", "runs"]  # no temporary file
