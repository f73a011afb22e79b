"""Read IDX files, the format MNIST and its look-alikes (Fashion-MNIST, KMNIST, ...) ship in.

An IDX file is a big-endian header -- two zero bytes, a type code byte, a dimension count
byte, then one uint32 size per dimension -- followed by the raw data. Files may be gzipped.

Every problem with a file is raised as a one-line DataError that starts with the file's path,
so a user who points digitnet at the wrong folder sees what is wrong instead of a traceback.
"""
import gzip
import os
import zlib
from math import prod

import numpy as np

from digitnet.errors import DataError

__all__ = ["read_idx", "read_images", "read_labels", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3-d (count, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1-d (count)

_GZIP_MAGIC = b"\x1f\x8b"
_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
               0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
# No real IDX file has more dimensions than this; a larger count means the bytes are not IDX.
_MAX_NDIM = 8
# Refuse before allocating: MNIST's largest file holds 47 million elements.
MAX_ELEMENTS = 1_000_000_000
# Deflate cannot expand data more than about 1032:1, so a gzip file of n bytes cannot hold
# more than this many times n; a header promising more is lying and we need not allocate it.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


def _fail(path, what):
    # Messages must stay on one line even when a wrapped exception's text does not, and the
    # low-level exception is left out of the chain: the message already says what it meant.
    raise DataError(f"{os.fspath(path)}: {' '.join(str(what).split())}") from None


def _read_exact(stream, n, path, into=None):
    """Read up to n bytes in bounded chunks; returns a bytearray, or the count when filling `into`."""
    buf = bytearray() if into is None else None
    got = 0
    try:
        while got < n:
            want = min(_CHUNK, n - got)
            if into is None:
                chunk = stream.read(want)
                if not chunk:
                    break
                buf += chunk
                got += len(chunk)
            else:
                k = stream.readinto(into[got:got + want])
                if not k:
                    break
                got += k
    except EOFError:
        # gzip's way of saying the compressed stream stops mid-way.
        _fail(path, "truncated: the gzip stream ends before its end marker (the file was cut short)")
    except (gzip.BadGzipFile, zlib.error) as e:
        _fail(path, f"corrupt gzip data ({e})")
    except OSError as e:
        _fail(path, f"cannot read ({e.strerror or e})")
    return buf if into is None else got


def _open(path):
    """Open path, decompressing when its content (not its name) says gzip.

    Returns (raw, stream, size, gzipped); the caller closes raw, which GzipFile leaves open.
    """
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        _fail(path, "no such file")
    except IsADirectoryError:
        _fail(path, "is a folder, not an IDX file")
    except OSError as e:
        _fail(path, f"cannot open ({e.strerror or e})")
    try:
        size = os.fstat(raw.fileno()).st_size
        head = raw.read(2)
        raw.seek(0)
    except OSError as e:
        raw.close()
        _fail(path, f"cannot read ({e.strerror or e})")
    if size == 0:
        raw.close()
        _fail(path, "file is empty")
    if head == _GZIP_MAGIC:
        return raw, gzip.GzipFile(fileobj=raw, mode="rb"), size, True
    return raw, raw, size, False


def _header(stream, path, size, gzipped):
    """Parse and sanity-check the header; returns (magic, dims) without touching the data."""
    head = _read_exact(stream, 4, path)
    if len(head) == 0:
        _fail(path, "file is empty after decompression")
    if head[0:2] == b"\0\0" and len(head) < 4:
        _fail(path, f"truncated: an IDX header needs at least 4 bytes, file has {len(head)}")
    if len(head) < 4 or head[0] or head[1]:
        _fail(path, f"not an IDX file (starts with bytes {head.hex(' ')}, expected 00 00 <type> <ndim>)")
    type_code, ndim = head[2], head[3]
    if type_code != 0x08:
        name = _TYPE_NAMES.get(type_code, "unknown")
        _fail(path, f"IDX type code 0x{type_code:02X} ({name}) is not supported; "
                    "only 0x08 (unsigned byte), which MNIST-style files use")
    if not 1 <= ndim <= _MAX_NDIM:
        _fail(path, f"IDX header claims {ndim} dimensions; expected 1 to {_MAX_NDIM}")
    raw_dims = _read_exact(stream, 4 * ndim, path)
    if len(raw_dims) < 4 * ndim:
        _fail(path, f"truncated: the header needs {4 + 4 * ndim} bytes, file has {4 + len(raw_dims)}")
    dims = tuple(int(d) for d in np.frombuffer(bytes(raw_dims), dtype=">u4"))
    if 0 in dims:
        _fail(path, f"IDX header has a zero size in its dimensions {dims}")
    n = prod(dims)
    if n > MAX_ELEMENTS:
        _fail(path, f"IDX header promises {n:,} elements {dims}, more than the {MAX_ELEMENTS:,} "
                    "digitnet accepts; the file is damaged or not a dataset")
    header_len = 4 + 4 * ndim
    if gzipped and n > size * _MAX_DEFLATE_RATIO:
        _fail(path, f"IDX header promises {n:,} bytes {dims}, more than a {size:,}-byte gzip file can "
                    "hold; the file is damaged")
    if not gzipped and header_len + n != size:
        # Plain files give us the exact size up front, so say precisely what is off.
        if header_len + n > size:
            _fail(path, f"truncated: header promises {n:,} bytes, file has {size - header_len:,}")
        _fail(path, f"{size - header_len - n:,} unexpected bytes after the {n:,} data bytes the header promises")
    return (type_code << 8) | ndim, dims


def _read(path, expect=None):
    raw, stream, size, gzipped = _open(path)
    with raw, stream:
        magic, dims = _header(stream, path, size, gzipped)
        if expect is not None:
            expect(magic, dims)
        n = prod(dims)
        # Fill a preallocated array: the header was bounded above, so this is safe, and it
        # avoids holding the data twice. Reading one byte past the promise both detects
        # trailing garbage and makes gzip verify its CRC at the end of the stream.
        data = np.empty(n, dtype=np.uint8)
        got = _read_exact(stream, n, path, into=memoryview(data))
        if got < n:
            where = "gzip content has" if gzipped else "file has"
            _fail(path, f"truncated: header promises {n:,} bytes, {where} {got:,}")
        if _read_exact(stream, 1, path):
            _fail(path, f"unexpected bytes after the {n:,} data bytes the header promises")
    return data.reshape(dims)


def read_idx(path):
    """Read an unsigned-byte IDX file (plain or gzipped) into a uint8 array of the header's shape."""
    return _read(path)


def _kind(magic):
    return {IMAGES_MAGIC: "an images file (magic 2051)",
            LABELS_MAGIC: "a labels file (magic 2049)"}.get(magic, f"a {magic & 0xFF}-d IDX file (magic {magic})")


def read_images(path):
    """Read an IDX images file: uint8 array of shape (count, rows, cols)."""
    def expect(magic, dims):
        if magic != IMAGES_MAGIC:
            _fail(path, f"expected an IDX images file (magic 2051, 3-d), but this is {_kind(magic)}")
    return _read(path, expect)


def read_labels(path):
    """Read an IDX labels file: uint8 array of shape (count,), every value a digit class 0..9."""
    def expect(magic, dims):
        if magic != LABELS_MAGIC:
            _fail(path, f"expected an IDX labels file (magic 2049, 1-d), but this is {_kind(magic)}")
    labels = _read(path, expect)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        i = int(bad[0])
        more = f" (and {bad.size - 1:,} more)" if bad.size > 1 else ""
        _fail(path, f"label {int(labels[i])} at index {i:,} is outside 0..9{more}")
    return labels
