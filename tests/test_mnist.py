import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import write_idx

from digitnet.data import Dataset, default_cache_dir, download, load_dataset, load_mnist, load_sample, resolve_dataset
from digitnet.errors import DataError

pytestmark = pytest.mark.usefixtures("isolated_data_env")

FASHION = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def mnist_10k(mnist_10k_dir):
    return load_dataset(mnist_10k_dir)


def test_mnist_10k_shapes_and_values(mnist_10k, mnist_10k_dir):
    ds = mnist_10k
    assert ds.x_train.shape == (10000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.t_train.shape == (10000,) and ds.t_test.shape == (10000,)
    assert ds.x_train.dtype == np.float32 and ds.t_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.t_train[:5].tolist() == [5, 0, 4, 1, 9]  # the famous first MNIST training labels
    assert ds.t_test[:3].tolist() == [7, 2, 1]  # and the first test labels
    assert set(np.unique(ds.t_train)) == set(range(10))
    assert ds.describe() == f"mnist-10k at {mnist_10k_dir} (10,000 train / 10,000 test)"


def test_mnist_10k_options(mnist_10k_dir, mnist_10k):
    raw = load_dataset(mnist_10k_dir, normalize=False, flatten=False, one_hot_label=True,
                       dtype=np.float64)
    assert raw.x_train.shape == (10000, 1, 28, 28) and raw.x_train.dtype == np.float64
    assert raw.x_train.max() == 255.0
    assert raw.t_train.shape == (10000, 10) and raw.t_train.dtype == np.float64
    assert (raw.t_train.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(raw.t_train.argmax(axis=1), mnist_10k.t_train)
    np.testing.assert_allclose(raw.x_train.reshape(10000, 784) / 255, mnist_10k.x_train, rtol=1e-6)

    uint8 = load_dataset(mnist_10k_dir, normalize=False, dtype=None)
    assert uint8.x_test.dtype == np.uint8 and uint8.x_test.shape == (10000, 784)


def test_load_mnist_book_interface(mnist_10k_dir):
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True,
                                                      one_hot_label=True, data_dir=mnist_10k_dir)
    assert x_train.shape == (10000, 784) and t_train.shape == (10000, 10)
    assert x_test.shape == (10000, 784) and t_test.shape == (10000, 10)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "uint8", "nonsense"])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match="dtype"):
        load_sample(dtype=dtype)


def test_normalize_needs_a_float_dtype():
    with pytest.raises(ValueError, match="normalize"):
        load_sample(dtype=None)


def small_set(folder, n_train=6, n_test=4, gz=True):
    """A tiny MNIST-format folder; plain (un-gzipped) names when gz is False."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = (rng.integers(0, 256, (n_train, 28, 28)), np.arange(n_train) % 10,
              rng.integers(0, 256, (n_test, 28, 28)), np.arange(n_test) % 10)
    for name, arr in zip(NAMES, arrays):
        path = folder / (name + ".gz")
        write_idx(path, arr)
        if not gz:
            path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
            path.unlink()
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_user_folder_plain_or_gz(tmp_path, gz):
    arrays = small_set(tmp_path / "mine", gz=gz)
    ds = load_dataset(tmp_path / "mine", normalize=False, flatten=False)
    assert ds.name == "mine"
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays[0])
    np.testing.assert_array_equal(ds.t_test, arrays[3])


def test_only_test_files_names_missing_train_file(tmp_path, mnist_10k_dir):
    for name in NAMES[2:]:
        shutil.copy(mnist_10k_dir / (name + ".gz"), tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(info.value)
    assert "not found" in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(tmp_path / "nope")


def test_count_mismatch_names_both_files(tmp_path):
    small_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", [1, 2, 3])
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path)
    msg = str(info.value)
    assert "6 images" in msg and "3 labels" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg


def test_malformed_file_in_user_folder(tmp_path):
    small_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: "):
        load_dataset(tmp_path)


def test_sample_split():
    ds = load_sample()
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (8000, 784) and ds.x_test.shape == (2000, 784)
    assert ds.t_train[:5].tolist() == [5, 0, 4, 1, 9]
    again = load_sample()
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    np.testing.assert_array_equal(ds.t_test, again.t_test)
    assert ds.name == "MNIST offline sample (first 10,000 training digits: 8,000 train / 2,000 test)"
    assert "8,000 train / 2,000 test" in ds.describe()


def test_sample_is_the_first_10k_training_digits(mnist_10k):
    # The bundled sample and the shared mnist-10k train files hold the same digits.
    ds = load_sample()
    np.testing.assert_array_equal(ds.x_train, mnist_10k.x_train[:8000])
    np.testing.assert_array_equal(ds.t_test, mnist_10k.t_train[8000:])


def test_resolve_falls_back_to_sample(isolated_data_env, dead_mirror):
    ds, notice = resolve_dataset(mirrors=[dead_mirror])
    assert ds.x_train.shape == (8000, 784)
    assert "\n" not in notice
    assert "offline sample" in notice and "8,000 train / 2,000 test" in notice
    assert "connection refused" in notice
    # The hint that stops the next command from trying again.
    assert "--offline or DIGITNET_OFFLINE=1" in notice
    assert default_cache_dir() == isolated_data_env


@pytest.mark.parametrize("offline", [True, False])
def test_a_cache_that_cannot_be_found_or_read_gives_the_sample_saying_why(monkeypatch, offline):
    """With HOME unset and no passwd entry, Path.home() raised RuntimeError through `train --offline`: a
    traceback; a cache folder this user may not read, a PermissionError. Both give the sample now, with why."""
    from digitnet.data import mnist

    monkeypatch.delenv("DIGITNET_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")
    home = Path.home
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    ds, notice = resolve_dataset(offline=offline)
    said = "offline: " if offline else ""
    assert ds.n_train == 8000 and notice.startswith(f"{said}the full MNIST cannot be read (Could not determine home")

    def refused(folder, **kw):
        raise PermissionError(13, "Permission denied", str(folder))
    monkeypatch.setattr(Path, "home", home)
    monkeypatch.setattr(mnist, "ensure_mnist_files", refused)
    ds, notice = resolve_dataset(offline=offline)
    assert ds.n_train == 8000 and "the full MNIST cannot be read ([Errno 13] Permission denied" in notice


def test_resolve_offline_uses_sample_without_network(monkeypatch):
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")
    calls = []
    monkeypatch.setattr(download, "download_file", lambda *a, **k: calls.append(a))
    ds, notice = resolve_dataset(flatten=False)
    assert ds.x_train.shape == (8000, 1, 28, 28)
    assert notice == (f"offline: no full MNIST in {default_cache_dir() / 'mnist'}; "
                      "using the bundled offline sample (8,000 train / 2,000 test)")
    assert calls == []


def test_book_load_mnist_offline_falls_back_with_one_line(monkeypatch, capsys):
    # The book's call, with no network: the sample in the book's shapes, and one line saying so.
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert t_train.shape == (8000, 10) and t_train.sum(axis=1).tolist() == [1] * 8000
    sample = load_sample()
    np.testing.assert_array_equal(t_test.argmax(axis=1), sample.t_test)
    np.testing.assert_array_equal(x_train, sample.x_train)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("offline: ") and "offline sample" in err


def test_book_load_mnist_download_failure_names_offline(dead_mirror, capsys):
    (x_train, _), _ = load_mnist(mirrors=[dead_mirror])
    assert x_train.shape == (8000, 784)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "connection refused" in err and "--offline" in err


def test_book_load_mnist_download_false_never_downloads(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(download, "download_file", lambda *a, **k: calls.append(a))
    (x_train, _), _ = load_mnist(download=False)
    assert x_train.shape == (8000, 784) and calls == []
    assert "offline sample" in capsys.readouterr().err


def test_book_load_mnist_own_folder_errors_propagate(tmp_path, capsys):
    with pytest.raises(DataError, match="no such folder"):
        load_mnist(data_dir=tmp_path / "nope")
    small_set(tmp_path / "mine")
    (x_train, _), _ = load_mnist(data_dir=tmp_path / "mine")
    assert x_train.shape == (6, 784) and capsys.readouterr().err == ""


def test_resolve_given_folder_errors_propagate(tmp_path):
    with pytest.raises(DataError):
        resolve_dataset(tmp_path / "nope")
    small_set(tmp_path / "mine")
    ds, notice = resolve_dataset(tmp_path / "mine")
    assert notice is None and ds.n_train == 6


@pytest.fixture
def cached_mnist_10k(isolated_data_env, mnist_10k_dir, monkeypatch):
    """The cache filled with the mnist-10k files, registered as if they were the official ones."""
    cache = isolated_data_env / "mnist"
    cache.mkdir(parents=True)
    table = {}
    for name in download.MNIST_FILES:
        shutil.copy(mnist_10k_dir / name, cache)
        data = (cache / name).read_bytes()
        table[name] = (len(data), hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(download, "MNIST_FILES", table)
    return cache


def test_load_from_cache(cached_mnist_10k):
    ds = load_dataset(download=False)
    assert ds.name == "MNIST" and ds.source == str(cached_mnist_10k)
    assert ds.n_train == 10000 and ds.t_train[:5].tolist() == [5, 0, 4, 1, 9]


def test_resolve_offline_prefers_intact_cache(cached_mnist_10k):
    ds, notice = resolve_dataset(offline=True)
    assert notice is None and ds.n_test == 10000


def test_resolve_falls_back_when_cache_damaged_offline(cached_mnist_10k):
    (cached_mnist_10k / "t10k-labels-idx1-ubyte.gz").write_bytes(b"broken")
    ds, notice = resolve_dataset(offline=True)
    assert ds.n_train == 8000 and "offline sample" in notice


@pytest.mark.skipif(not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"{FASHION} is absent (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist():
    ds = load_dataset(FASHION)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert set(np.unique(ds.t_test)) == set(range(10))
    assert ds.describe() == f"fashion-mnist at {FASHION} (60,000 train / 10,000 test)"


def test_load_mnist_takes_offline_as_resolve_dataset_does(capsys):
    """load_mnist(offline=True) was a TypeError: it passed offline= on, and offline= from **kw too (a review)."""
    (x_train, t_train), (x_test, _) = load_mnist(offline=True)
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784) and t_train.dtype == np.int64
    assert "offline sample" in capsys.readouterr().err
