import json
import pickle
import zipfile

import numpy as np
import pytest

from digitnet import ModelFileError, TwoLayerNet, load_model, save_model
from digitnet import model_io


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
    assert "\n" not in message and str(path) in message
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


def rewrite_header(path, change):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["__header__"]))
    change(header)
    arrays["__header__"] = np.array(json.dumps(header))
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
