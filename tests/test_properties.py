"""Property-based tests (hypothesis) for everything that reads untrusted input, and for the layers.

1. The IDX reader on arbitrary bytes, valid headers with arbitrary bodies, gzip-wrapped bytes and
   truncated / mutated valid files: it returns exactly what a small reference parser says, or raises
   a one-line DataError naming the file; valid files round-trip.
2. The model loader on arbitrary bytes, foreign zips, damaged model files, model files whose JSON header
   has arbitrary JSON in place of its fields and arrays altered behind a recomputed digest: a one-line
   ModelFileError naming the file, or a net that predicts finite values of the right shape (the
   original's predictions when the architecture and weights are the original's).
3. The image preprocessor on arbitrary bytes, damaged image files and arbitrary small arrays: a
   (28, 28) float32 image in [0, 1] with maximum 1, or a one-line ImageError.
4. The layers keep shapes and dtypes, forward and backward, for arbitrary valid shapes; pooling (strides
   below, at and above the window) equals book_layers.Pooling by value, and SoftmaxWithLoss its formula
   for label, one-hot and soft targets.

The examples these found are fixed cases in test_model_io.py and test_preprocess.py. CI runs a fixed
(derandomized) set of examples; DIGITNET_FUZZ_EXAMPLES=5000 runs every property with that many random
examples, for a longer hunt.
"""
import functools
import gzip
import io
import json
import os
import struct
import zipfile
from math import prod

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import digitnet
from digitnet.book import layers as book_layers
from digitnet.data.idx import MAX_ELEMENTS, read_idx, read_images, read_labels
from digitnet.errors import DataError, ModelFileError
from digitnet.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
)
from digitnet.model_io import HEADER_DIGEST, HEADER_KEY, header_digest, params_digest, seal_header

# damaged files make Pillow warn ("Corrupt EXIF data", "Truncated File Read"): expected here, and noise
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")

_EXAMPLES = int(os.environ.get("DIGITNET_FUZZ_EXAMPLES", 0))


def fuzz(n):
    """n examples, the same ones on every run (CI must not fail at random); a hunt draws fresh ones."""
    fixed = {} if _EXAMPLES else {"derandomize": True, "database": None}
    return settings(max_examples=_EXAMPLES or n, deadline=None, **fixed,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("properties")


def write(folder, name, data):
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def mutate(data, draw, max_ops=4):
    """Up to max_ops random edits of a byte string: flips, truncation, appended garbage, inserts, deletions."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "flip", "truncate", "append", "insert", "delete"]))
        if op == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif op == "truncate" and data:
            data = data[:draw(st.integers(0, len(data) - 1))]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=40))
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i:i + draw(st.integers(1, 16))]
    return bytes(data)


def assert_one_line_error(error, path):
    msg = str(error)
    assert "\n" not in msg and msg.strip() == msg and msg, repr(msg)
    assert msg.startswith(f"{path}: "), msg


# ------------------------------------------------------------------------------------------ 1. IDX

def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def reference_idx(data):
    """The IDX format by definition: the array an unsigned-byte IDX file holds, or None when it is not one."""
    if len(data) < 4 or data[0] or data[1] or data[2] != 0x08 or not 1 <= data[3] <= 8:
        return None
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    if 0 in dims or prod(dims) > MAX_ELEMENTS or len(data) != 4 + 4 * ndim + prod(dims):
        return None
    return np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def check_readers(path, expected):
    """Every reader on path gives expected (checked per reader's own rules) or a one-line DataError."""
    for reader in (read_idx, read_images, read_labels):
        if expected is None:
            want = None
        elif reader is read_images:
            want = expected if expected.ndim == 3 else None
        elif reader is read_labels:
            want = expected if expected.ndim == 1 and expected.max() <= 9 else None
        else:
            want = expected
        try:
            got = reader(path)
        except DataError as e:
            assert_one_line_error(e, path)
            assert want is None, f"{reader.__name__} refused a valid file: {e}"
        else:
            assert want is not None, f"{reader.__name__} accepted an invalid file: {got!r}"
            assert got.dtype == np.uint8 and got.shape == want.shape and np.array_equal(got, want)


def gunzip(data):
    try:
        return gzip.decompress(data)
    except Exception:
        return None


@fuzz(100)
@given(st.binary(max_size=300), st.booleans())
@example(b"", False)
@example(b"", True)
@example(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07", True)
@example(b"\x00\x00\x08\x03" + b"\xff" * 12, False)
def test_idx_arbitrary_bytes(workdir, data, gzipped):
    raw = gzip.compress(data) if gzipped else data
    check_readers(write(workdir, "any-idx", raw), reference_idx(data))


@fuzz(60)
@given(st.data())
def test_idx_valid_header_with_arbitrary_body(workdir, data):
    ndim = data.draw(st.integers(1, 4), "ndim")
    dims = data.draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim), "dims")
    n = prod(dims)
    length = data.draw(st.sampled_from([n, n, n, n - 1, n + 1, 0]) | st.integers(0, 2 * n + 2), "body length")
    body = data.draw(st.binary(min_size=length, max_size=length), "body")
    raw = bytes([0, 0, 0x08, ndim]) + struct.pack(f">{ndim}I", *dims) + body
    gzipped = data.draw(st.booleans(), "gzipped")
    expected = reference_idx(raw)
    assert (expected is not None) == (length == n)
    check_readers(write(workdir, "body-idx", gzip.compress(raw) if gzipped else raw), expected)


idx_arrays = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))


@fuzz(60)
@given(idx_arrays, st.booleans(), st.integers(0, 9))
def test_idx_valid_files_round_trip(workdir, array, gzipped, level):
    raw = idx_bytes(array)
    path = write(workdir, "valid-idx", gzip.compress(raw, compresslevel=level) if gzipped else raw)
    got = read_idx(path)
    assert got.dtype == np.uint8 and got.shape == array.shape and np.array_equal(got, array)
    check_readers(path, array)
    if array.ndim == 1:  # a labels file with digit classes only
        labels = array % 10
        assert np.array_equal(read_labels(write(workdir, "labels-idx", idx_bytes(labels))), labels)


@fuzz(100)
@given(idx_arrays, st.booleans(), st.data())
def test_idx_damaged_valid_files(workdir, array, gzipped, data):
    raw = idx_bytes(array)
    if gzipped:
        # damage the compressed bytes (header, deflate stream, CRC, length) or the content before compressing
        if data.draw(st.booleans(), "damage compressed bytes"):
            damaged = mutate(gzip.compress(raw), data.draw)
        else:
            damaged = gzip.compress(mutate(raw, data.draw))
        content = gunzip(damaged) if damaged[:2] == b"\x1f\x8b" else damaged
        expected = None if content is None else reference_idx(content)
    else:
        damaged = mutate(raw, data.draw)
        expected = reference_idx(damaged)
    check_readers(write(workdir, "damaged-idx", damaged), expected)


# ------------------------------------------------------------------------------------ 2. model files

class Model(tuple):
    def __repr__(self):  # hypothesis prints the fixtures of a failing example: keep it short
        return "<model fixture>"


@pytest.fixture(scope="module")
def model(workdir):
    """(bytes of a saved TwoLayerNet 784-8-10 float32, its arrays incl. header, header, probe input, predictions)."""
    net = digitnet.TwoLayerNet(784, 8, 10, rng=np.random.default_rng(0), dtype=np.float32)
    path = digitnet.save_model(workdir / "model.npz", net)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays[HEADER_KEY]))
    x = np.random.default_rng(1).random((3, 784), dtype=np.float32)
    return Model((path.read_bytes(), arrays, header, x, net.predict(x)))


def npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def check_loaded(path, model, same_weights=True):
    """load_model(path) raises a one-line ModelFileError, or gives a net whose predictions are finite and
    (when it is still the original architecture on the original arrays) the original's."""
    x, expected = model[3], model[4]
    try:
        net, header = digitnet.load_model(path)
    except ModelFileError as e:
        assert_one_line_error(e, path)
        return None
    out = net.predict(x)
    assert out.shape == expected.shape and np.all(np.isfinite(out))
    if same_weights and header.get("architecture") == "two-layer":
        assert out.dtype == expected.dtype and np.array_equal(out, expected)
    return net


@fuzz(100)
@given(st.binary(max_size=400) | st.binary(max_size=400).map(lambda b: b"PK\x03\x04" + b))
@example(b"")
@example(b"\x80\x04K\x01.")
@example(b"PK\x03\x04")
@example(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
def test_model_loader_arbitrary_bytes(workdir, model, data):
    path = write(workdir, "any.npz", data)
    with pytest.raises(ModelFileError) as info:
        digitnet.load_model(path)
    assert_one_line_error(info.value, path)


@fuzz(60)
@given(st.dictionaries(st.sampled_from(["__header__.npy", "W1.npy", "a.npy", "dir/", "x"])
                       | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                                 max_size=12),
                       st.binary(max_size=60) | st.binary(max_size=60).map(lambda b: b"\x93NUMPY\x01\x00" + b),
                       max_size=4))
def test_model_loader_foreign_zip_files(workdir, model, members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    path = write(workdir, "foreign.npz", buf.getvalue())
    with pytest.raises(ModelFileError) as info:
        digitnet.load_model(path)
    assert_one_line_error(info.value, path)


@fuzz(100)
@given(st.data())
def test_model_loader_damaged_model_file(workdir, model, data):
    damaged = mutate(model[0], data.draw)
    # the SHA-256 covers the arrays: a file that still loads has the original weights
    check_loaded(write(workdir, "damaged.npz", damaged), model)


# Arbitrary JSON. Integers stay small (so no config builds a net of gigabytes) apart from sizes no
# machine can allocate, which the loader must refuse rather than try.
json_ints = st.integers(-3, 64) | st.sampled_from([2**40, 2**62, 2**70, -(2**63)])
json_scalars = (st.none() | st.booleans() | json_ints | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=10) | st.sampled_from(["two-layer", "mlp", "simple-cnn", "deep-cnn", "relu", "he"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)
CONFIG_KEYS = ["input_size", "hidden_size", "output_size", "weight_init_std", "hidden_size_list", "activation",
               "weight_decay_lambda", "use_dropout", "dropout_ratio", "use_batchnorm", "input_dim", "conv_param",
               "rng", "dtype", "unknown"]
HEADER_FIELDS = ["config", "params", "format_version", "architecture", "format", "sha256", "metadata",
                 "digitnet_version"]


@st.composite
def mutated_headers(draw, header):
    header = json.loads(json.dumps(header))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["field", "config entry", "drop field", "architecture and config"]))
        if how == "field":
            header[draw(st.sampled_from(HEADER_FIELDS))] = draw(json_values)
        elif how == "config entry" and isinstance(header.get("config"), dict):
            key = draw(st.sampled_from(sorted(header["config"]) + CONFIG_KEYS))
            header["config"][key] = draw(json_values)
        elif how == "drop field":
            header.pop(draw(st.sampled_from(HEADER_FIELDS)), None)
        else:
            header["architecture"] = draw(st.sampled_from(["two-layer", "mlp", "simple-cnn", "deep-cnn"]))
            header["config"] = draw(st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values, max_size=5))
    return header


def with_header(arrays, header):
    out = dict(arrays)
    out[HEADER_KEY] = np.array(json.dumps(header))
    return out


# The constructor crashes this found (rng=5, 2**40-wide layers, stride 0, input_dim []...) are
# test_model_io.py's BAD_CONFIGS.
@fuzz(120)
@given(st.data())
def test_model_loader_mutated_json_header(workdir, model, data):
    header = data.draw(mutated_headers(model[2]), "header")
    how = data.draw(st.sampled_from(["resealed", "resealed", "no header digest", "stale header digest"]), "digest")
    if how == "resealed":  # a deliberate edit, or a forgery: the loader's own checks must hold
        header = seal_header(header)
    elif how == "no header digest":  # as in files written before header_sha256
        header.pop(HEADER_DIGEST, None)
    path = write(workdir, "header.npz", npz_bytes(with_header(model[1], header)))
    if how == "stale header digest" and header_digest(header) != header.get(HEADER_DIGEST):
        with pytest.raises(ModelFileError) as info:  # damage: never loads
            digitnet.load_model(path)
        assert_one_line_error(info.value, path)
    else:
        check_loaded(path, model)


@fuzz(80)
@given(st.data())
def test_model_loader_altered_arrays_with_matching_digest(workdir, model, data):
    """Arrays of other dtypes, shapes or names, with the header's digest recomputed so the loader's own checks
    (not the checksum) must catch them."""
    arrays = {k: v for k, v in model[1].items() if k != HEADER_KEY}
    for _ in range(data.draw(st.integers(1, 3))):
        how = data.draw(st.sampled_from(["dtype", "shape", "drop", "add", "values"]))
        name = data.draw(st.sampled_from(sorted(arrays) or ["W1"]))
        if how == "dtype" and name in arrays and name in model[1]:
            dtype = data.draw(st.sampled_from([np.float16, np.float64, np.int32, np.uint8, np.bool_, np.complex64,
                                               ">f4", "<U3"]))
            arrays[name] = model[1][name].astype(dtype)
        elif how == "shape" and name in arrays:
            shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12))
            arrays[name] = np.zeros(shape, arrays[name].dtype)
        elif how == "drop":
            arrays.pop(name, None)
        elif how == "add":
            key = data.draw(st.sampled_from(["W3", "b3", "buffer.Affine1.running_mean", "buffer.x", "buffer.",
                                             "gamma1"]))
            arrays[key] = np.zeros(data.draw(st.integers(0, 10)), np.float32)
        elif name in arrays and arrays[name].dtype.kind == "f":
            # finite values that keep the predictions finite: the loader does not promise to check values
            arrays[name] = data.draw(hnp.arrays(arrays[name].dtype, arrays[name].shape,
                                                elements=st.floats(-1, 1, width=32)))
    header = seal_header({**model[2], "sha256": params_digest(arrays)})
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    check_loaded(write(workdir, "arrays.npz", npz_bytes(arrays)), model, same_weights=False)


# ------------------------------------------------------------------------------------ 3. preprocessor

def check_image_result(image, name_in_message=None):
    pytest.importorskip("PIL")
    from digitnet.preprocess import ImageError, to_mnist

    try:
        out = to_mnist(image)
    except ImageError as e:
        assert "\n" not in str(e) and str(e), repr(str(e))
        assert e.reason in ImageError.REASONS
        if name_in_message is not None:
            assert str(e).startswith(name_in_message)
        return None
    assert isinstance(out, np.ndarray) and out.shape == (28, 28) and out.dtype == np.float32
    assert not np.any(np.isnan(out)) and out.min() >= 0 and out.max() == 1
    return out


@fuzz(100)
@given(st.binary(max_size=400))
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"GIF89a")
@example(b"BM")
def test_preprocessor_arbitrary_bytes(data):
    check_image_result(data, "image bytes: ")


@functools.lru_cache(maxsize=1)
def _sample_image_files():
    """Small valid images in the formats predict accepts: a dark digit-like stroke on light paper."""
    from PIL import Image

    a = np.full((24, 20), 230, np.uint8)
    a[4:20, 9:12] = 20
    a[4:7, 6:12] = 20
    files = []
    for fmt, mode in [("PNG", "L"), ("PNG", "RGBA"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "L"), ("JPEG", "L"),
                      ("WEBP", "RGB")]:
        img = Image.fromarray(a).convert(mode)
        buf = io.BytesIO()
        try:
            img.save(buf, format=fmt)
        except (KeyError, OSError):  # a Pillow built without this codec
            continue
        files.append(buf.getvalue())
    return tuple(files)


@fuzz(150)
@given(st.data())
def test_preprocessor_damaged_image_files(data):
    pytest.importorskip("PIL")
    files = _sample_image_files()
    original = data.draw(st.sampled_from(files), "file")
    check_image_result(mutate(original, data.draw), "image bytes: ")


image_shapes = st.tuples(st.integers(1, 64), st.integers(1, 64))


@st.composite
def images(draw):
    h, w = draw(image_shapes)
    channels = draw(st.sampled_from([None, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    if draw(st.booleans()):
        dtype = np.uint8
        elements = st.integers(0, 255)
    else:
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        elements = st.floats(0, 1, width=32 if dtype == np.float32 else 64)
    if draw(st.booleans()):  # arbitrary pixels
        return draw(hnp.arrays(dtype, shape, elements=elements))
    # paper of one value with a few rectangles of ink: reaches the cropping, thickening and centring
    top = 255 if dtype == np.uint8 else 1.0
    a = np.full(shape, draw(elements), dtype=dtype)
    for _ in range(draw(st.integers(0, 4))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        y1, x1 = draw(st.integers(y0 + 1, h)), draw(st.integers(x0 + 1, w))
        a[y0:y1, x0:x1] = draw(elements)
    if channels == 4 and draw(st.booleans()):
        a[..., 3] = top  # opaque
    return a


@fuzz(100)
@given(images())
@example(np.zeros((1, 1), np.uint8))
@example(np.eye(64, dtype=np.uint8) * 255)
@example(np.pad(np.ones((64, 1), np.float32), ((0, 0), (0, 63))))
@example(np.zeros((64, 64, 4), np.float64))
def test_preprocessor_arbitrary_arrays(image):
    before = image.copy()
    check_image_result(image)
    assert np.array_equal(image, before), "to_mnist wrote into its input"


# ----------------------------------------------------------------------------------------- 4. layers

dtypes = st.sampled_from([np.float32, np.float64])


def finite(dtype, shape, bound=1e3):
    return hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, width=32 if dtype == np.float32 else 64))


def assert_array(a, shape, dtype):
    assert isinstance(a, np.ndarray), type(a)
    assert a.shape == tuple(shape), (a.shape, shape)
    assert a.dtype == dtype, (a.dtype, dtype)
    assert not np.any(np.isnan(a))


def check_layer(layer, x, *forward_args, out_shape=None):
    out = layer.forward(x, *forward_args)
    assert_array(out, x.shape if out_shape is None else out_shape, x.dtype)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(x.dtype)
    dx = layer.backward(dout)
    assert_array(dx, x.shape, x.dtype)
    return out


@fuzz(50)
@given(st.data(), dtypes, st.integers(1, 5), st.integers(1, 8), st.integers(1, 8))
def test_dense_layers_keep_shapes_and_dtypes(data, dtype, n, d, out_features):
    x = data.draw(finite(dtype, (n, d)), "x")
    check_layer(Relu(), x)
    check_layer(Sigmoid(), x)
    y = check_layer(Softmax(), x)
    assert np.allclose(y.sum(axis=1), 1, rtol=1e-3)

    W = data.draw(finite(dtype, (d, out_features), 1.0), "W")
    b = data.draw(finite(dtype, (out_features,), 1.0), "b")
    affine = Affine(W, b)
    check_layer(affine, x, out_shape=(n, out_features))
    assert_array(affine.dW, W.shape, dtype)
    assert_array(affine.db, b.shape, dtype)

    ratio = data.draw(st.floats(0, 0.9), "dropout ratio")
    check_layer(Dropout(ratio, rng=np.random.default_rng(0)), x, True)
    assert np.array_equal(check_layer(Dropout(ratio), x, False), x)

    gamma = data.draw(finite(dtype, (d,), 2.0), "gamma")
    beta = data.draw(finite(dtype, (d,), 2.0), "beta")
    for train_flg in (True, False):
        bn = BatchNormalization(gamma, beta)
        if train_flg and n == 1:  # one value per feature: refused, as PyTorch refuses it
            with pytest.raises(ValueError, match="more than one value per feature"):
                bn.forward(x, True)
            continue
        check_layer(bn, x, train_flg)
        assert_array(bn.dgamma, gamma.shape, dtype)
        assert_array(bn.dbeta, beta.shape, dtype)
        assert_array(bn.running_mean, (d,), dtype)
        assert_array(bn.running_var, (d,), dtype)


@fuzz(50)
@given(st.data(), dtypes, st.integers(1, 5), st.integers(2, 10), st.sampled_from(["labels", "one-hot", "soft"]))
def test_softmax_with_loss_keeps_shapes_and_dtypes(data, dtype, n, classes, targets):
    x = data.draw(finite(dtype, (n, classes)), "logits")
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n), "labels"))
    t = labels if targets == "labels" else np.eye(classes, dtype=dtype)[labels]
    if targets == "soft":  # rows of probabilities, as label smoothing or mixup make them
        weights = data.draw(hnp.arrays(np.float64, (n, classes), elements=st.floats(0, 1)), "weights") + 1e-3
        t = (weights / weights.sum(axis=1, keepdims=True)).astype(dtype)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert np.ndim(loss) == 0 and np.isfinite(loss) and loss >= 0
    assert np.asarray(loss).dtype == dtype
    dx = layer.backward(1)
    assert_array(dx, x.shape, dtype)
    assert np.allclose(dx.sum(axis=1), 0, atol=1e-5)
    # loss and gradient from the same targets, written out in float64: -sum(t log softmax(x)) / n, (y - t) / n
    x64 = x.astype(np.float64)
    t64 = np.eye(classes)[labels] if targets == "labels" else t.astype(np.float64)
    log_y = x64 - x64.max(axis=1, keepdims=True)
    log_y -= np.log(np.exp(log_y).sum(axis=1, keepdims=True))
    tol = 1e-3 if dtype == np.float32 else 1e-9
    assert np.isclose(loss, -(t64 * log_y).sum() / n, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, (np.exp(log_y) - t64) / n, rtol=tol, atol=tol)


@fuzz(50)
@given(st.data(), dtypes, st.integers(1, 5), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9),
       st.integers(1, 8))
def test_affine_on_4d_input(data, dtype, n, c, h, w, out_features):
    x = data.draw(finite(dtype, (n, c, h, w)), "x")
    W = data.draw(finite(dtype, (c * h * w, out_features), 1.0), "W")
    b = data.draw(finite(dtype, (out_features,), 1.0), "b")
    affine = Affine(W, b)
    check_layer(affine, x, out_shape=(n, out_features))
    assert_array(affine.dW, W.shape, dtype)
    assert_array(affine.db, b.shape, dtype)
    for train_flg in (True, False):  # the book's BN flattens (N, C, H, W) to C*H*W features
        bn = BatchNormalization(np.ones(c * h * w, dtype), np.zeros(c * h * w, dtype))
        if train_flg and n == 1:  # one value per feature: refused, as PyTorch refuses it
            with pytest.raises(ValueError, match="more than one value per feature"):
                bn.forward(x, True)
            continue
        check_layer(bn, x, train_flg)


@fuzz(60)
@given(st.data(), dtypes, st.integers(1, 5), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))
def test_convolution_and_pooling_keep_shapes_and_dtypes(data, dtype, n, c, h, w, filters, k, stride, pad):
    x = data.draw(finite(dtype, (n, c, h, w)), "x")
    W = data.draw(finite(dtype, (filters, c, k, k), 1.0), "W")
    b = data.draw(finite(dtype, (filters,), 1.0), "b")
    conv = Convolution(W, b, stride=stride, pad=pad)
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    check_layer(conv, x, out_shape=(n, filters, out_h, out_w))
    assert_array(conv.dW, W.shape, dtype)
    assert_array(conv.db, b.shape, dtype)

    pool_pad = pad if k > pad else 0  # a window must hold more than padding
    pool_stride = data.draw(st.integers(1, 3), "pool stride")  # smaller than, equal to and larger than the window
    pool = Pooling(k, k, stride=pool_stride, pad=pool_pad)
    pooled = check_layer(pool, x, out_shape=(n, c, (h + 2 * pool_pad - k) // pool_stride + 1,
                                             (w + 2 * pool_pad - k) // pool_stride + 1))
    assert np.all(np.isfinite(pooled))  # padding counts as -inf but never wins a window
    # by value against the book's im2col pooling, after leaving NaN in the memory the next arrays may reuse:
    # a pixel that backward forgets to write would then show
    book = book_layers.Pooling(k, k, stride=pool_stride, pad=pool_pad)
    np.testing.assert_array_equal(pooled, book.forward(x))
    dout = np.random.default_rng(1).standard_normal(pooled.shape).astype(dtype)
    padded = (n, h + 2 * pool_pad, w + 2 * pool_pad, c)
    leave_nan_in_freed_memory([padded, pooled.shape], dtype)
    np.testing.assert_array_equal(pool.backward(dout), book.backward(dout))


def leave_nan_in_freed_memory(shapes, dtype, copies=4):
    """Allocate NaN-filled arrays of these shapes and free them: the allocator hands that memory out again."""
    junk = [np.full(shape, np.nan, dtype) for shape in shapes for _ in range(copies)]
    del junk
