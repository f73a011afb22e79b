"""Model files: a NumPy .npz of the parameter arrays plus a JSON header, readable with allow_pickle=False.

The header names the architecture and its constructor arguments, every array's shape and dtype,
a SHA-256 over the array bytes (checked on every load) and free-form training metadata.
"""
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import ModelFileError

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
BUFFER_PREFIX = "buffer."  # batch norm's running statistics: saved, checked and restored like the params


def params_digest(params):
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(params):
        a = np.ascontiguousarray(params[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model(path, net, metadata=None):
    """Write net to path atomically: a crash mid-save leaves any previous file at path intact."""
    from . import __version__

    path = Path(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in net.params.items()}
    arrays.update({BUFFER_PREFIX + k: np.ascontiguousarray(v) for k, v in net.buffers().items()})
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": net.architecture,
        "config": net.config,
        "params": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()},
        "sha256": params_digest(arrays),
        "digitnet_version": __version__,
        "metadata": metadata or {},
    }
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write(path, write):
    """Call write(file) on a temporary file beside path, fsync it, then rename it over path.

    A crash or error mid-write leaves whatever was at path before untouched, and no temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def one_line(error):
    return " ".join(str(error).split())


def read_model_file(path, expected_format=FORMAT):
    """(header, arrays) from a model file, every structural problem raised as a one-line ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:1] == b"\x80":  # how every pickle since protocol 2 begins
        raise ModelFileError(f"{path}: refused: a pickle file, not a digitnet model (pickles can run code)")
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path}: not a digitnet model file (not a NumPy .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{path}: refused: a pickle file, not a digitnet model (pickles can run code)") from None
        raise ModelFileError(f"{path}: not a digitnet model file ({one_line(e)})") from None
    except Exception as e:  # noqa: BLE001  numpy's .npy header parser can raise SyntaxError, TokenError...
        # on a damaged file; whatever it raises, the file is unreadable, and that is all the caller needs
        raise ModelFileError(f"{path}: not a readable digitnet model file ({type(e).__name__}: {one_line(e)})") from None
    if HEADER_KEY not in arrays:
        raise ModelFileError(f"{path}: not a digitnet model file (no {HEADER_KEY} entry)")
    try:
        header = json.loads(str(arrays.pop(HEADER_KEY)))
    except (json.JSONDecodeError, TypeError) as e:
        raise ModelFileError(f"{path}: damaged header ({e})") from None
    if not isinstance(header, dict) or header.get("format") != expected_format:
        raise ModelFileError(f"{path}: not a {expected_format} file (header format is not {expected_format!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version!r} is newer than this digitnet reads "
                             f"({FORMAT_VERSION}); upgrade digitnet")
    if params_digest(arrays) != header.get("sha256"):
        raise ModelFileError(f"{path}: checksum mismatch: the weights were altered or damaged")
    return header, arrays


def load_model(path):
    """(net, header) from a model file; the net is rebuilt from its architecture and checked shape by shape."""
    from .nets import ARCHITECTURES

    header, arrays = read_model_file(path)
    architecture = header.get("architecture")
    cls = ARCHITECTURES.get(architecture) if isinstance(architecture, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: unknown architecture {header.get('architecture')!r} "
                             f"(known: {', '.join(ARCHITECTURES)})")
    buffers = {k[len(BUFFER_PREFIX):]: arrays.pop(k) for k in list(arrays) if k.startswith(BUFFER_PREFIX)}
    dtypes = {a.dtype for a in arrays.values()}
    if not dtypes or not dtypes <= {np.dtype(np.float32), np.dtype(np.float64)} or len(dtypes) > 1:
        raise ModelFileError(f"{path}: parameters must all be float32 or all float64, found {sorted(map(str, dtypes))}")
    try:
        net = cls(**header["config"], dtype=dtypes.pop())
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: architecture settings do not build a {cls.__name__} ({e})") from None
    for kind, found, expected in (("parameters", arrays, net.params), ("buffers", buffers, net.buffers())):
        if set(found) != set(expected):
            raise ModelFileError(f"{path}: {kind} {sorted(found)} do not match {cls.__name__}'s {sorted(expected)}")
        for name, value in found.items():
            if value.shape != expected[name].shape:
                raise ModelFileError(f"{path}: {name} has shape {value.shape}, the architecture needs {expected[name].shape}")
    for name, value in arrays.items():
        net.params[name][...] = value  # in place: the layers hold these very arrays
    net.load_buffers(buffers)
    return net, header
