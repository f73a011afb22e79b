import gzip
import struct

import numpy as np
import pytest

from digitnet.data.idx import read_idx, read_images, read_labels
from digitnet.errors import DataError


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def assert_data_error(path, match, reader=read_idx):
    with pytest.raises(DataError) as info:
        reader(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg
    # Look past the path, which may itself contain the word we look for.
    assert match in msg[len(str(path)):], msg
    return msg


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_images_and_labels(tmp_path, images, gz):
    labels = np.array([5, 0, 4, 1, 9, 2, 1], dtype=np.uint8)
    # Gzip is detected by content, so the name deliberately never says .gz.
    ipath = write(tmp_path / "imgs", idx_bytes(images), gz)
    lpath = write(tmp_path / "labs", idx_bytes(labels), gz)
    got = read_images(ipath)
    assert got.dtype == np.uint8 and got.shape == (7, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_labels(lpath), labels)
    np.testing.assert_array_equal(read_idx(ipath), images)


def test_plain_file_named_gz_still_reads(tmp_path, images):
    path = write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(images))
    np.testing.assert_array_equal(read_images(path), images)


def test_read_idx_other_shapes(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)[None]
    np.testing.assert_array_equal(read_idx(write(tmp_path / "a4", idx_bytes(arr))), arr)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated(tmp_path, images, gz):
    data = idx_bytes(images)[:-100]
    msg = assert_data_error(write(tmp_path / "short.idx", data, gz), "truncated")
    assert f"promises {7 * 28 * 28:,} bytes" in msg
    assert f"{7 * 28 * 28 - 100:,}" in msg


def test_truncated_gzip_stream(tmp_path, images):
    # The gzip stream itself cut off, not just the content.
    data = gzip.compress(idx_bytes(images))[:-40]
    assert_data_error(write(tmp_path / "cut.gz", data), "truncated")


def test_truncated_header(tmp_path):
    assert_data_error(write(tmp_path / "h", bytes([0, 0, 8, 3, 0, 0])), "truncated")


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_bytes(tmp_path, images, gz):
    assert_data_error(write(tmp_path / "long.idx", idx_bytes(images) + b"xx", gz), "unexpected bytes")


def test_wrong_magic(tmp_path):
    msg = assert_data_error(write(tmp_path / "page.html", b"<html>not found</html>"), "not an IDX file")
    assert "3c 68" in msg  # shows what it starts with


def test_wrong_type_code(tmp_path, images):
    data = idx_bytes(images, type_code=0x0D)
    msg = assert_data_error(write(tmp_path / "floats", data), "type code 0x0D")
    assert "float32" in msg


def test_zero_ndim(tmp_path):
    assert_data_error(write(tmp_path / "nd0", bytes([0, 0, 8, 0])), "dimensions")


def test_zero_dimension(tmp_path):
    assert_data_error(write(tmp_path / "z", bytes([0, 0, 8, 1, 0, 0, 0, 0])), "zero size")


def test_labels_as_images(tmp_path):
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([1, 2, 3])))
    msg = assert_data_error(path, "labels file", reader=read_images)
    assert "expected an IDX images file" in msg


def test_images_as_labels(tmp_path, images):
    path = write(tmp_path / "imgs.gz", idx_bytes(images), gz=True)
    msg = assert_data_error(path, "images file", reader=read_labels)
    assert "expected an IDX labels file" in msg


def test_label_value_out_of_range(tmp_path):
    path = write(tmp_path / "labels", idx_bytes(np.array([3, 9, 10, 0])))
    msg = assert_data_error(path, "label 10 at index 2", reader=read_labels)
    assert msg.endswith("outside 0..9")


def test_corrupt_gzip(tmp_path, images):
    # A valid 10-byte gzip header, then bytes that are no deflate stream (invalid block type).
    data = gzip.compress(idx_bytes(images))[:10] + b"\xff" * 100
    assert_data_error(write(tmp_path / "bad.gz", data), "corrupt gzip")


def test_unknown_gzip_method(tmp_path, images):
    data = bytearray(gzip.compress(idx_bytes(images)))
    data[2] = 7  # compression method: only 8 (deflate) exists
    assert_data_error(write(tmp_path / "method.gz", bytes(data)), "corrupt gzip")


def test_gzip_crc_mismatch(tmp_path, images):
    data = bytearray(gzip.compress(idx_bytes(images)))
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    assert_data_error(write(tmp_path / "crc.gz", bytes(data)), "CRC")


def test_empty_file(tmp_path):
    assert_data_error(write(tmp_path / "empty", b""), "empty")


def test_empty_gzip(tmp_path):
    assert_data_error(write(tmp_path / "empty.gz", b"", gz=True), "empty")


def test_missing_file_and_folder(tmp_path):
    assert_data_error(tmp_path / "nope", "no such file")
    assert_data_error(tmp_path, "folder")


@pytest.mark.parametrize("gz", [False, True])
def test_absurd_dims(tmp_path, gz):
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 100_000, 100_000, 100_000)
    assert_data_error(write(tmp_path / "huge", header + b"\0" * 10, gz), "elements")


def test_gzip_promising_more_than_it_could_hold(tmp_path):
    # Under the element cap, but a ~60-byte gzip file cannot inflate to 900 MB.
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 1000, 1000, 900)
    assert_data_error(write(tmp_path / "liar.gz", header + b"\0" * 10, gz=True), "can hold")


def test_plain_file_promising_more_than_its_size(tmp_path):
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 28, 28)
    msg = assert_data_error(write(tmp_path / "p", header + b"\0" * 10), "truncated")
    assert msg.endswith("file has 10")


def test_gzip_bomb_read_is_bounded(tmp_path):
    # Header promises 10 bytes; 50 MB of zeros follow. Reading must stop at the promise + 1.
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 10)
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(header)
        for _ in range(50):
            f.write(b"\0" * (1 << 20))
    assert_data_error(path, "unexpected bytes")
