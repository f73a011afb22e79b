"""MNIST as the book's load_mnist() returns it, from the cache, a folder of your own, or the bundled sample.

Three sources, in the order the CLI tries them (resolve_dataset):
  * a folder the user names: any MNIST-format set (MNIST, Fashion-MNIST, ...), plain or gzipped;
  * the download cache: the official files, fetched once and checked by SHA-256;
  * the bundled sample: the first 10,000 training digits, so everything works offline.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.data.download import ensure_mnist_files, mnist_cache_dir, offline_requested
from digitnet.data.idx import read_images, read_labels
from digitnet.errors import DataError, DownloadError

__all__ = ["Dataset", "load_dataset", "load_mnist", "load_sample", "resolve_dataset",
           "SAMPLE_DIR", "SAMPLE_NAME", "SAMPLE_TEST_DIGITS", "SAMPLE_HELD_OUT"]

# The standard file names; the cache holds the .gz ones, a user's folder may hold either.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_TRAIN = 8_000  # the sample's first 8,000 digits train, the remaining 2,000 test
SAMPLE_NAME = "MNIST offline sample (first 10,000 training digits: 8,000 train / 2,000 test)"
SAMPLE_TEST_DIGITS = "MNIST training digits 8,001-10,000"  # the sample's test split, as model files name it
SAMPLE_HELD_OUT = f"{SAMPLE_TEST_DIGITS} (the bundled offline sample's other 2,000, not trained on)"  # and so:
# what the bundled models, trained on the sample's training split, were calibrated on


@dataclass
class Dataset:
    """Train and test arrays plus where they came from, for the CLI to report."""
    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    source: str

    @property
    def n_train(self):
        return len(self.x_train)

    @property
    def n_test(self):
        return len(self.x_test)

    def describe(self):
        """One line, e.g. 'mnist-10k at ../shared/data/mnist-10k (10,000 train / 10,000 test)'."""
        counts = f"{self.n_train:,} train / {self.n_test:,} test"
        if counts in self.name:  # the sample's name already says it; don't repeat it
            return f"{self.name} at {self.source}"
        return f"{self.name} at {self.source} ({counts})"


def _check_dtype(dtype, normalize):
    if dtype is None:
        if normalize:
            raise ValueError("dtype=None keeps the raw uint8 pixels, which cannot hold pixel/255; "
                             "pass normalize=False or dtype=np.float32 / np.float64")
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    # Compare scalar types: a dtype compares equal to None (numpy reads None as float64).
    if dt is None or dt.type not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32, np.float64 or None (raw uint8), not {dtype!r}")
    return dt


def _convert(images, labels, *, normalize, flatten, one_hot_label, dtype):
    """Turn raw uint8 arrays from the IDX reader into what the book's networks expect."""
    n = len(images)
    x = images if dtype is None else images.astype(dtype)
    if normalize:
        x /= dtype.type(255)  # in place: x is already a fresh float copy
    # Flattened rows for the fully connected nets, (N, channel, H, W) for the convolutional ones.
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, *images.shape[1:])
    if one_hot_label:
        t = np.zeros((n, 10), dtype=np.uint8 if dtype is None else dtype)
        t[np.arange(n), labels] = 1
    else:
        t = labels.astype(np.int64)
    return x, t


def _read_pair(images_path, labels_path):
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images):,} images but {labels_path} has "
                        f"{len(labels):,} labels; they must match one to one")
    return images, labels


def _find(folder, stem, needs="a data folder needs the four standard MNIST-format files"):
    """folder/stem.gz or folder/stem (the two names MNIST-style sets come under); both there must hold the same."""
    gz, plain = folder / (stem + ".gz"), folder / stem
    if gz.is_file() and plain.is_file():
        if not _same_bytes(gz, plain):  # before: the .gz was read and the other never mentioned
            raise DataError(f"{folder}: both {gz.name} and {plain.name} are here, and they differ: keep one")
        return gz
    for path in (gz, plain):
        if path.is_file():
            return path
    raise DataError(f"{gz}: not found (nor {stem}); {needs}")


def _same_bytes(gz, plain, chunk=1 << 20):
    """Whether gz unpacks to plain's bytes (read a chunk at a time; a damaged gz differs)."""
    import gzip
    import zlib

    try:
        with gzip.open(gz, "rb") as a, open(plain, "rb") as b:
            while True:
                x, y = a.read(chunk), b.read(chunk)
                if x != y:
                    return False
                if not x:
                    return True
    except (OSError, EOFError, zlib.error):
        return False


def training_images(data_dir, dtype=np.float32):
    """The training images of an MNIST-format folder, (N, H*W) in [0, 1]: only its train-images file is needed
    (a folder of outliers has no use for labels, nor for a test set)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    images = read_images(_find(folder, TRAIN_IMAGES, "a folder of pictures needs at least its training images"))
    return (images.reshape(len(images), -1) / np.float32(255)).astype(dtype)


def _assemble(name, source, train, test, conv):
    (xtr, ttr), (xte, tte) = train, test
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataError(f"{source}: training images are {xtr.shape[1]}x{xtr.shape[2]} but test "
                        f"images are {xte.shape[1]}x{xte.shape[2]}")
    x_train, t_train = _convert(xtr, ttr, **conv)
    x_test, t_test = _convert(xte, tte, **conv)
    return Dataset(name, x_train, t_train, x_test, t_test, source)


def load_dataset(data_dir=None, *, normalize=True, flatten=True, one_hot_label=False,
                 dtype=np.float32, download=None, mirrors=None):
    """Load an MNIST-format dataset.

    data_dir None: the full MNIST from the cache (default_cache_dir()/mnist), downloading
    missing or damaged files unless `download` is false (None: unless DIGITNET_OFFLINE is set).
    data_dir given: the four standard files in that folder, each `name.gz` or plain `name`;
    they are checked for structure but not checksummed, so re-gzipped copies and other
    MNIST-format sets (Fashion-MNIST, ...) work. Nothing is ever downloaded into data_dir.

    normalize: pixels / 255 as `dtype`, else raw values as `dtype` (dtype None keeps uint8).
    flatten: images (N, 784), else (N, 1, 28, 28). one_hot_label: labels (N, 10) as `dtype`,
    else int64 class numbers. Raises DataError for missing or malformed files.
    """
    dt = _check_dtype(dtype, normalize)
    conv = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dt)
    if data_dir is None:
        folder = mnist_cache_dir()
        paths = ensure_mnist_files(folder, mirrors=mirrors,
                                   download=not offline_requested() if download is None else download)
        train = _read_pair(paths[TRAIN_IMAGES + ".gz"], paths[TRAIN_LABELS + ".gz"])
        test = _read_pair(paths[TEST_IMAGES + ".gz"], paths[TEST_LABELS + ".gz"])
        return _assemble("MNIST", str(folder), train, test, conv)

    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    # Look for all four before reading any, so a wrong folder fails fast.
    files = [_find(folder, stem) for stem in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)]
    train = _read_pair(files[0], files[1])
    test = _read_pair(files[2], files[3])
    # ".": the folder's real name; a link keeps its own (calibrate finds a run's data again by it)
    name = folder.name if folder.name not in ("", "..") else folder.resolve().name
    return _assemble(name or str(folder), str(data_dir), train, test, conv)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, **kw):
    """The book's interface: ((x_train, t_train), (x_test, t_test)); see load_dataset for the options.

    Like `digitnet train`: with no data_dir, the full MNIST (cached, or downloaded once); when that
    cannot be had (no network, DIGITNET_OFFLINE=1 or download=False), the bundled offline sample,
    with a one-line notice on stderr. A data_dir of your own is read as is, errors and all.
    """
    download, offline = kw.pop("download", None), kw.pop("offline", None)  # either says it (offline= was a TypeError)
    if offline is None and download is not None:
        offline = not download
    ds, notice = resolve_dataset(data_dir, offline=offline,
                                 normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, **kw)
    if notice:
        print(notice, file=sys.stderr)
    return (ds.x_train, ds.t_train), (ds.x_test, ds.t_test)


def load_sample(*, normalize=True, flatten=True, one_hot_label=False, dtype=np.float32):
    """The bundled offline sample: the first 10,000 MNIST training digits, split 8,000 / 2,000 in order."""
    dt = _check_dtype(dtype, normalize)
    conv = dict(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dt)
    images, labels = _read_pair(SAMPLE_DIR / (TRAIN_IMAGES + ".gz"), SAMPLE_DIR / (TRAIN_LABELS + ".gz"))
    if len(images) <= SAMPLE_TRAIN:
        raise DataError(f"{SAMPLE_DIR}: the bundled sample has only {len(images):,} digits; "
                        "the package is damaged")
    train = images[:SAMPLE_TRAIN], labels[:SAMPLE_TRAIN]
    test = images[SAMPLE_TRAIN:], labels[SAMPLE_TRAIN:]
    return _assemble(SAMPLE_NAME, str(SAMPLE_DIR), train, test, conv)


def resolve_dataset(data_dir=None, *, offline=None, **kw):
    """Pick the data the CLI trains on; returns (dataset, notice or None).

    A given data_dir is loaded as is and its errors propagate: the user asked for it.
    Otherwise the full MNIST from the cache (downloading what is missing unless offline);
    if that cannot be had, the bundled sample, with a one-line notice saying why.
    `kw` are load_dataset's options (normalize, flatten, one_hot_label, dtype, mirrors).
    """
    if data_dir is not None:
        return load_dataset(data_dir, **kw), None
    offline = offline_requested() if offline is None else offline
    mirrors = kw.pop("mirrors", None)
    kw.pop("download", None)  # decided by `offline` here
    try:
        return load_dataset(None, download=not offline, mirrors=mirrors, **kw), None
    except (DataError, OSError, RuntimeError) as e:  # OSError: a cache this user may not read; RuntimeError: no
        failure = e                                   # home folder to find the cache in (Path.home())
    sample = load_sample(**kw)
    using = f"using the bundled offline sample ({sample.n_train:,} train / {sample.n_test:,} test)"
    if offline and isinstance(failure, DataError) and "is missing" in str(failure):
        return sample, f"offline: no full MNIST in {mnist_cache_dir()}; {using}"
    if offline or not isinstance(failure, DownloadError):  # a cache there but unreadable, or nowhere to be found
        said = " ".join(str(failure).split())
        return sample, f"{'offline: ' if offline else ''}the full MNIST cannot be read ({said}); {using}"
    why = "; ".join(getattr(failure, "reasons", None) or [" ".join(str(failure).split())])
    return sample, (f"MNIST could not be downloaded ({why}); {using}. "
                    "--offline or DIGITNET_OFFLINE=1 skips the download.")
