"""Model files: a NumPy .npz of the parameter arrays plus a JSON header, readable with allow_pickle=False.

The header names the architecture and its constructor arguments, every array's shape and dtype,
a SHA-256 over the array bytes (checked on every load) and free-form training metadata, and
`header_sha256`, a SHA-256 over the rest of the header (architecture, settings, metadata), checked
when present: files from before it was added have none, and still load.

A model file is untrusted input: the loader rebuilds the net only from settings its constructor
takes, refuses settings that would build more weights than the file holds before allocating them,
checks every array (parameters and batch norm's buffers alike) for its dtype, shape and finite values and
every header field it reads for its type, and reports every problem as a one-line ModelFileError naming
the file.

What the digests prove: that the file is as it was written (integrity), not who wrote it (origin). They
use no secret, so anyone who can write a file can re-seal one; the checks above are what keep such a
crafted file from doing harm. digitnet offers no signatures: trust a model file as far as its source.
"""
import errno
import hashlib
import inspect
import json
import operator
import os
import secrets
import warnings
from math import prod
from pathlib import Path

import numpy as np

from .errors import ModelFileError

# BUFFER_PREFIX: batch norm's running statistics, saved, checked and restored like the params
from .nets.base import BUFFER_PREFIX, params_digest

FORMAT = "digitnet-model"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
HEADER_DIGEST = "header_sha256"  # over the header's other fields; optional, so older files still load


def header_digest(header):
    """SHA-256 over a (JSON-decoded) header's fields other than HEADER_DIGEST, as canonical JSON."""
    fields = {k: v for k, v in header.items() if k != HEADER_DIGEST}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def plain_json(value):
    """json.dumps's default= for what a net's settings may hold from NumPy (an np.int64 hidden size from
    np.arange, a float32 dropout ratio, an array of sizes): the Python number or list. Before, the save of
    such a net failed, after its training, with "Object of type int64 is not JSON serializable"."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def seal_header(header):
    """header with HEADER_DIGEST set to the digest of what a reader will decode from it."""
    header = json.loads(json.dumps(header, default=plain_json))  # tuples become lists, keys strings: as loaded
    header[HEADER_DIGEST] = header_digest(header)
    return header


def save_model(path, net, metadata=None):
    """Write a network to a model file (.npz with a JSON header), atomically.

    The file holds the arrays and a header: the format version, the architecture and its settings, each
    array's shape and dtype, a SHA-256 over the arrays and the metadata, the header itself sealed by a second
    SHA-256. A crash mid-save leaves any previous file at path intact. `np.load(path, allow_pickle=False)`
    reads it; nothing in it is a pickle.

    Args:
        path: the file to write (str or Path).
        net: a digitnet network (TwoLayerNet, MultiLayerNet, SimpleConvNet, DeepConvNet).
        metadata: a JSON-serialisable dict stored in the header (e.g. the training settings and accuracy).
            Without a "calibration" entry, the net's own calibration (net.confidence, as load_model or
            calibration.fit_for_net set it) is written, while its weights are still the ones it was fitted
            for; once they have changed it is left out, with a warning.

    Returns:
        The path written, as a Path.

    Examples:
        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> from digitnet import TwoLayerNet, load_model, save_model
        >>> net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
        >>> _ = save_model(path, net, metadata={"note": "untrained"})
        >>> again, header = load_model(path)
        >>> header["architecture"], header["metadata"]["note"], np.array_equal(again.params["W1"], net.params["W1"])
        ('two-layer', 'untrained', True)
    """
    from .version import __version__

    path = Path(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in net.state_arrays().items()}
    digest = params_digest(arrays)
    metadata = _with_calibration(path, net, digest, metadata)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": net.architecture,
        "config": net.config,
        "params": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()},
        "sha256": digest,
        "digitnet_version": __version__,
        "metadata": metadata,
    }
    arrays[HEADER_KEY] = np.array(json.dumps(seal_header(header)))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def _with_calibration(path, net, digest, metadata):
    """metadata (a copy), with net.confidence as its "calibration" entry where it has none and the
    confidence was fitted for these very weights (digest); a warning where they have changed since."""
    metadata = dict(metadata or {})
    confidence = getattr(net, "confidence", None)
    if "calibration" in metadata or confidence is None:
        return metadata
    if confidence.weights not in (None, digest):
        warnings.warn(f"{path}: saved without the net's calibration: it was fitted for other weights (they "
                      "changed since); fit it again with `digitnet calibrate`", stacklevel=3)
        return metadata
    metadata["calibration"] = confidence.as_metadata()
    return metadata


def atomic_write(path, write):
    """Call write(file) on a temporary file beside path, fsync it, then rename it over path.

    A crash or error mid-write leaves whatever was at path before untouched, and no temporary file. A file that
    may not be written (no write permission bit, or none for this user) is not replaced: PermissionError.
    A new file gets the mode any new file gets (0666 less the umask), not mkstemp's private 0600; a file replaced
    keeps its own (a private model stays private). A symbolic link is followed: the file it names is replaced and
    the link kept (latest.npz -> runs/3.npz was turned into a file of its own, runs/3.npz left as it was)."""
    given, path = Path(path), Path(os.path.realpath(path))
    refuse_write_protected(given)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:  # O_EXCL: a name nobody else holds; the kernel applies the umask to 0o666, as for open(path, "wb")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            if path.exists():
                os.fchmod(f.fileno(), path.stat().st_mode & 0o777)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return given


def refuse_write_protected(path):
    """PermissionError (one line, naming path) when path is a file that may not be written: no write permission bit,
    or none for this user. atomic_write's rename needs only the folder's permission, and so replaced a model made
    read-only, unsaid; a command that works a while before it saves asks first (calibrate)."""
    real = Path(os.path.realpath(path))
    if real.is_file() and not (real.stat().st_mode & 0o222 and os.access(real, os.W_OK)):
        raise PermissionError(errno.EACCES, "write-protected, not replaced (chmod u+w to let digitnet write it)",
                              str(path))


def save_png(picture, path):
    """A PIL picture written as a PNG at path through atomic_write: a disk that fills, or Ctrl-C, leaves the file
    there before (or none), never a broken one (what read --show, predict --show-preprocessed and --explain write)."""
    return atomic_write(path, lambda f: picture.save(f, format="PNG"))


def remove_leftovers(path):
    """Delete the temporary files atomic_write leaves beside path when its process is killed outright
    (kill -9 mid-write). Only for a caller that knows no one else is writing path (train holds a lock)."""
    folder, pattern = leftovers_of(path)
    for tmp in Path(folder).glob(pattern):
        tmp.unlink(missing_ok=True)


def leftovers_of(path):
    """(folder, glob pattern) of the temporary files atomic_write makes for path (beside the file a link names)."""
    path = Path(os.path.realpath(path))
    return str(path.parent), f".{glob_escape(path.name)}.*.tmp"


def glob_escape(name):
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def one_line(error, limit=200):
    """str(error) on one line, cut to about limit characters (a damaged file can make messages huge)."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
    _check_unpacked_size(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{path}: refused: a pickle file, not a digitnet model "
                                 "(pickles can run code)") from None
        raise ModelFileError(f"{path}: not a digitnet model file ({one_line(e)})") from None
    except Exception as e:
        # on a damaged file; whatever it raises, the file is unreadable, and that is all the caller needs
        raise ModelFileError(f"{path}: not a readable digitnet model file "
                             f"({type(e).__name__}: {one_line(e)})") from None
    if HEADER_KEY not in arrays:
        raise ModelFileError(f"{path}: not a digitnet model file (no {HEADER_KEY} entry)")
    try:
        header = json.loads(str(arrays.pop(HEADER_KEY)))
    except (ValueError, TypeError, RecursionError) as e:  # bad JSON, an integer of 5,000 digits, deep nesting
        raise ModelFileError(f"{path}: damaged header ({type(e).__name__}: {one_line(e)})") from None
    if not isinstance(header, dict) or header.get("format") != expected_format:
        raise ModelFileError(f"{path}: not a {expected_format} file (header format is not {expected_format!r})")
    version = header.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version!r} is newer than this digitnet reads "
                             f"({FORMAT_VERSION}); upgrade digitnet")
    if type(version) is not int or version < 1:  # not True (an int to isinstance), 0 or a string: no writer's
        raise ModelFileError(f"{path}: format version {one_line(repr(version), 40)} is not one digitnet writes "
                             f"(1 to {FORMAT_VERSION})")
    if params_digest(arrays) != header.get("sha256"):
        raise ModelFileError(f"{path}: checksum mismatch: the weights were altered or damaged")
    if header.get(HEADER_DIGEST) is not None:
        try:
            intact = header_digest(header) == header[HEADER_DIGEST]
        except (ValueError, TypeError, RecursionError):
            intact = False
        if not intact:
            raise ModelFileError(f"{path}: header checksum mismatch: the architecture, settings or metadata "
                                 "were altered or damaged")
    return header, arrays


def _check_unpacked_size(path):
    """ModelFileError for an archive whose members say they unpack to more bytes than the file holds: save_model
    stores its arrays as they are (np.savez), so such a file is no digitnet model but a zip bomb (2 MB of zeros
    compressed 1000 to 1 took 4 GB before the checksum refused it). A member never unpacks past its stated size."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            stated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # damaged: np.load says how
    if stated > path.stat().st_size:
        raise ModelFileError(f"{path}: refused: its arrays would unpack to {stated:,} bytes from a file of "
                             f"{path.stat().st_size:,} (digitnet stores them uncompressed)")


FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))  # what save_model writes
# The header's fields and the types a reader may rely on (metadata: the fields digitnet writes; any other
# metadata key is the writer's own business, passed through unread).
HEADER_TYPES = {"architecture": str, "config": dict, "params": dict, "sha256": str, "digitnet_version": str,
                "metadata": dict}
METADATA_TYPES = {"dataset": str, "settings": dict, "steps": int, "dtype": str, "accuracy": dict,
                  "epoch_kept": int, "training_time_s": (int, float), "created": str}


def _type_names(kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({dict: "a mapping", str: "text", int: "a whole number", float: "a number"}[k] for k in kinds)


def check_header_fields(path, header):
    """ModelFileError unless each known header field, and each known metadata field, has its type."""
    def check(fields, types, where):
        for name, kind in types.items():
            value = fields.get(name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise ModelFileError(f"{path}: the header's {where}{name!r} is {type(value).__name__}, "
                                     f"not {_type_names(kind)}")
    check(header, HEADER_TYPES, "")
    metadata = header.get("metadata") or {}
    check(metadata, METADATA_TYPES, "metadata ")
    for split, value in (metadata.get("accuracy") or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ModelFileError(f"{path}: the header's accuracy {one_line(repr(split), 40)} is "
                                 f"{one_line(repr(value), 40)}, not a fraction between 0 and 1")


def check_listing(path, header, arrays):
    """ModelFileError unless the header's "params" lists exactly the stored arrays, each with its shape and
    dtype (what a reader of the header alone, `digitnet models` or a person, takes the file to hold)."""
    listed = header.get("params")
    if listed is None:
        return
    if set(listed) != set(arrays):
        raise ModelFileError(f"{path}: the header lists arrays {one_line(sorted(listed), 80)}, the file holds "
                             f"{one_line(sorted(arrays), 80)}")
    for name, entry in listed.items():
        a = arrays[name]
        if not isinstance(entry, dict) or entry.get("shape") != list(a.shape) or entry.get("dtype") != a.dtype.str:
            raise ModelFileError(f"{path}: the header lists {one_line(repr(name), 60)} as {one_line(repr(entry), 80)}, "
                                 f"the file holds shape {list(a.shape)} {a.dtype.str}")


def check_arrays(path, arrays):
    """The one float dtype of every array (parameters and buffers); ModelFileError for another dtype, a mix,
    a value that is not finite, or a negative variance (batch norm's running_var)."""
    dtypes = {a.dtype for a in arrays.values()}
    if not dtypes or not dtypes <= set(FLOAT_DTYPES) or len(dtypes) > 1:
        raise ModelFileError(f"{path}: arrays must all be float16, all float32 or all float64, found "
                             f"{one_line(sorted(map(str, dtypes)), 80)}")
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{path}: {one_line(name, 60)} holds values that are not finite (NaN or infinity)")
        if name.endswith("running_var") and np.any(a < 0):
            raise ModelFileError(f"{path}: {one_line(name, 60)} holds a negative variance")
    return dtypes.pop()


# Constructor parameters a file must not set: the loader picks the dtype from the arrays, and no file
# may hand the constructor an object of its choosing.
LOADER_ONLY = frozenset({"rng", "dtype"})


class _TooBig(Exception):
    pass


class _WeightBudget:
    """The rng a net is rebuilt with: each weight shape is checked against what the file holds before it is
    allocated, so a header asking for a 784 x 10**9 layer is refused, not built. Returns zeros (the file's
    values replace them) and leaves np.random's global state alone."""

    def __init__(self, arrays):
        self.elements = sum(a.size for a in arrays)
        self.draws = len(arrays)

    def standard_normal(self, size=None):
        shape = () if size is None else size if isinstance(size, (tuple, list)) else (size,)
        shape = tuple(operator.index(d) for d in shape)  # TypeError for a float or string size
        n = prod(shape)
        self.draws -= 1
        if self.draws < 0 or n > self.elements:
            raise _TooBig
        self.elements -= max(n, 0)
        return np.zeros(shape)


def _ints(value):
    """Every int anywhere in a JSON value (not bools), walked without recursion."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _check_config(path, cls, config, stored):
    """Refuse, before building anything, a config that is not keyword arguments of cls, or that holds an
    integer larger than every dimension of every stored array (no valid file has one)."""
    if config is None:
        raise ModelFileError(f"{path}: the header has no config (the settings that build a {cls.__name__})")
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: the header's config is {type(config).__name__}, not a mapping of "
                             f"{cls.__name__}'s settings")
    parameters = inspect.signature(cls).parameters
    allowed = {name for name, p in parameters.items()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - LOADER_ONLY
    refused = sorted(set(config) - allowed)
    if refused:
        names = one_line(", ".join(map(repr, refused)), 120)
        raise ModelFileError(f"{path}: the header's config sets {names}, which {cls.__name__} does not take "
                             f"from a file (it takes {', '.join(sorted(allowed))})")
    biggest = max((d for a in stored for d in a.shape), default=0)
    too_big = [i for i in _ints(config) if i > biggest]
    if too_big:
        raise ModelFileError(f"{path}: the header's config asks for a size of {one_line(max(too_big), 40)}, "
                             f"larger than any dimension of the stored arrays ({biggest})")


def _build(path, cls, config, stored, dtype):
    """cls(**config) with every failure a one-line ModelFileError, and no weight larger than the file's."""
    budget = _WeightBudget(stored)
    try:
        net = cls(**config, rng=budget, dtype=dtype)
    except _TooBig:
        raise ModelFileError(f"{path}: the header's config builds a {cls.__name__} with more weights than the "
                             "file holds") from None
    except Exception as e:
        # (ZeroDivisionError, IndexError, MemoryError...): the file is what is wrong
        raise ModelFileError(f"{path}: the header's config does not build a {cls.__name__} "
                             f"({type(e).__name__}: {one_line(e)})") from None
    for layer in getattr(net, "layers", {}).values():
        if getattr(layer, "rng", None) is budget:  # dropout keeps the rng: give it what rng=None gives
            layer.rng = np.random.default_rng()
    return net


def load_model(path, calibration=True):
    """Read a model file written by save_model: the network, rebuilt, and the file's header.

    Both SHA-256 digests are checked, and the network is rebuilt from its architecture and settings only within
    what the stored arrays hold, shape by shape. A truncated, altered, foreign or newer-version file raises
    ModelFileError with a one-line message; a pickle is never unpickled.

    Args:
        path: the model file (str or Path).
        calibration: read the header's calibration into net.confidence (a malformed one raises); False
            leaves the net uncalibrated (`digitnet calibrate`, which replaces it).

    Returns:
        (net, header): the network, ready to predict, and the header dict ("architecture", "config",
        "metadata", ...).

    Raises:
        ModelFileError: the file is missing, damaged or not a digitnet model.

    Examples:
        >>> from digitnet import ModelFileError, load_model
        >>> try:
        ...     load_model("no-such-model.npz")
        ... except ModelFileError as e:
        ...     print(e)
        no-such-model.npz: no such model file
    """
    from .nets import ARCHITECTURES

    header, arrays = read_model_file(path)
    architecture = header.get("architecture")
    cls = ARCHITECTURES.get(architecture) if isinstance(architecture, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: unknown architecture {one_line(repr(header.get('architecture')), 60)} "
                             f"(known: {', '.join(ARCHITECTURES)})")
    check_header_fields(path, header)
    check_listing(path, header, arrays)
    dtype = check_arrays(path, arrays)
    buffers = {k[len(BUFFER_PREFIX):]: arrays.pop(k) for k in list(arrays) if k.startswith(BUFFER_PREFIX)}
    config = header.get("config")
    _check_config(path, cls, config, [*arrays.values(), *buffers.values()])
    net = _build(path, cls, config, list(arrays.values()), dtype)
    for kind, found, expected in (("parameters", arrays, net.params), ("buffers", buffers, net.buffers())):
        if set(found) != set(expected):
            raise ModelFileError(f"{path}: {kind} {one_line(sorted(found))} do not match "
                                 f"{cls.__name__}'s {one_line(sorted(expected))}")
        for name, value in found.items():
            if value.shape != expected[name].shape:
                raise ModelFileError(f"{path}: {name} has shape {value.shape}, "
                                     f"the architecture needs {expected[name].shape}")
    net.load_state({**arrays, **{BUFFER_PREFIX + k: v for k, v in buffers.items()}})
    if calibration:
        from .calibration import from_metadata  # the temperature and rejection threshold, checked (calibration.py)

        net.confidence = from_metadata(header.get("metadata"), path, weights=header["sha256"])
    return net, header
