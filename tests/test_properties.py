"""Property-based tests: the parsers and the loader never fail with anything but the project's own
errors on arbitrary bytes, and the layers keep shapes and dtypes for arbitrary valid shapes."""
import gzip
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet import TwoLayerNet, load_model, save_model
from digitnet.data.idx import read_idx, read_images, read_labels
from digitnet.errors import DataError, DigitnetError, ModelFileError
from digitnet.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, Softmax

# DIGITNET_FUZZ_EXAMPLES=5000 for a longer hunt than CI can afford
FAST = settings(max_examples=int(os.environ.get("DIGITNET_FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
TMP = Path(tempfile.mkdtemp(prefix="digitnet-properties-"))


def write(name, data):
    path = TMP / name
    path.write_bytes(data)
    return path


def idx_file(images):
    n, h, w = images.shape
    return struct.pack(">HBBIII", 0, 8, 3, n, h, w) + images.tobytes()


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_idx_reader_on_arbitrary_bytes(data, gzipped):
    path = write("any-idx", gzip.compress(data) if gzipped else data)
    for reader in (read_idx, read_images, read_labels):
        try:
            reader(path)
        except DataError as e:
            assert "\n" not in str(e) and str(path) in str(e)


@FAST
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.data())
def test_idx_valid_files_round_trip_and_mutations_fail_cleanly(n, h, w, data):
    images = np.arange(n * h * w, dtype=np.uint8).reshape(n, h, w)
    raw = idx_file(images)
    assert np.array_equal(read_images(write("ok-idx", raw)), images)
    cut = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(0, len(raw) - 1))
    mutated = bytearray(raw)
    mutated[flip] ^= data.draw(st.integers(1, 255))
    for candidate in (raw[:cut], bytes(mutated), raw + b"\x00"):
        try:
            read_images(write("mutated-idx", gzip.compress(candidate)))
        except DataError:
            pass


MODEL = TMP / "model.npz"
save_model(MODEL, TwoLayerNet(784, 8, 10, rng=np.random.default_rng(0), dtype=np.float32))
MODEL_BYTES = MODEL.read_bytes()


@FAST
@given(st.binary(max_size=400))
def test_model_loader_on_arbitrary_bytes(data):
    with pytest.raises(ModelFileError):
        load_model(write("any.npz", data))


@FAST
@given(st.data())
def test_model_loader_on_damaged_model_files(data):
    raw = bytearray(MODEL_BYTES)
    kind = data.draw(st.sampled_from(["flip", "truncate", "append"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=50))
    try:
        net, _ = load_model(write("damaged.npz", bytes(raw)))
    except ModelFileError:
        return
    # a file that still loads (the damage missed the arrays and header) must still work
    out = net.predict(np.ones((2, 784), np.float32))
    assert out.shape == (2, 10) and np.all(np.isfinite(out))


@FAST
@given(st.binary(max_size=300))
def test_image_preprocessor_on_arbitrary_bytes(data):
    pytest.importorskip("PIL")
    from digitnet.preprocess import to_mnist

    try:
        to_mnist(data)
    except DigitnetError as e:
        assert "\n" not in str(e)


shapes = st.tuples(st.integers(1, 5), st.integers(1, 8))
dtypes = st.sampled_from([np.float32, np.float64])


@FAST
@given(shapes, st.integers(1, 6), dtypes, st.integers(0, 2**32 - 1))
def test_dense_layers_keep_shapes_and_dtypes(shape, out_features, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    n, d = shape
    gamma, beta = np.ones(d, dtype), np.zeros(d, dtype)
    for layer, train_flg in [(Relu(), None), (Sigmoid(), None), (Softmax(), None), (Dropout(0.3, rng=rng), True),
                             (Dropout(0.3, rng=rng), False), (BatchNormalization(gamma, beta), True),
                             (BatchNormalization(gamma, beta), False)]:
        out = layer.forward(x) if train_flg is None else layer.forward(x, train_flg)
        assert out.shape == x.shape and out.dtype == dtype and np.all(np.isfinite(out))
        dx = layer.backward(np.ones_like(out))
        assert dx.shape == x.shape and dx.dtype == dtype and np.all(np.isfinite(dx))
    W, b = rng.standard_normal((d, out_features)).astype(dtype), np.zeros(out_features, dtype)
    affine = Affine(W, b)
    out = affine.forward(x)
    assert out.shape == (n, out_features) and out.dtype == dtype
    assert affine.backward(np.ones_like(out)).shape == x.shape
    assert affine.dW.shape == W.shape and affine.db.shape == b.shape


@FAST
@given(st.integers(1, 3), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9), st.integers(1, 3),
       st.integers(1, 2), st.integers(0, 1), dtypes, st.integers(0, 2**32 - 1))
def test_conv_and_pool_keep_shapes_and_dtypes(n, channels, h, w, k, stride, pad, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, channels, h, w)).astype(dtype)
    W, b = rng.standard_normal((2, channels, k, k)).astype(dtype), np.zeros(2, dtype)
    conv = Convolution(W, b, stride=stride, pad=pad)
    out = conv.forward(x)
    assert out.shape == (n, 2, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    assert out.dtype == dtype
    dx = conv.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == dtype and conv.dW.shape == W.shape and conv.db.shape == b.shape
    pool = Pooling(2, 2, stride=stride) if min(h, w) >= 2 else None
    if pool is not None:
        pooled = pool.forward(x)
        assert pooled.shape == (n, channels, (h - 2) // stride + 1, (w - 2) // stride + 1) and pooled.dtype == dtype
        assert pool.backward(np.ones_like(pooled)).shape == x.shape
