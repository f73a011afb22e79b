"""Fetch the four official MNIST files into a cache folder, verified by size and SHA-256.

Only the standard library is used (urllib), so the library core needs nothing beyond NumPy.
A download never leaves a half-written or unverified file under the final name: bytes go to
a hidden temporary file in the same folder and are moved into place only once they check out.
"""
import contextlib
import hashlib
import http.client
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from digitnet.errors import DataError, DownloadError

__all__ = ["MNIST_FILES", "DEFAULT_MIRRORS", "default_cache_dir", "mnist_cache_dir",
           "offline_requested", "mirror_list", "sha256_of", "download_file", "ensure_mnist_files"]

# The official gzipped files: name -> (size in bytes, SHA-256). Checked on every use of the cache.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

# yann.lecun.com no longer serves the files; these two mirrors hold byte-identical copies.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Per attempt at one mirror. The socket timeout only bounds each single wait, so a server that
# sends a byte every few seconds would otherwise hold us forever; 300 s fetches the largest
# file (9.9 MB) at about 33 KB/s.
DEFAULT_DEADLINE = 300.0
# Cap for a download whose size is not known in advance.
_MAX_UNKNOWN_SIZE = 256 << 20
_CHUNK = 1 << 16
_USER_AGENT = "digitnet (Python urllib)"


def default_cache_dir():
    """$DIGITNET_CACHE_DIR, else $XDG_CACHE_HOME/digitnet, else ~/.cache/digitnet."""
    explicit = os.environ.get("DIGITNET_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative value.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "digitnet"
    return Path.home() / ".cache" / "digitnet"


def mnist_cache_dir():
    """Where the full MNIST files are kept: the mnist/ folder of default_cache_dir()."""
    return default_cache_dir() / "mnist"


def offline_requested():
    """True when the environment variable DIGITNET_OFFLINE is 1, true or yes."""
    return os.environ.get("DIGITNET_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def mirror_list(mirrors=None):
    """The base URLs to try, in order: `mirrors`, else $DIGITNET_MNIST_MIRRORS (comma-separated), else the defaults."""
    if mirrors is None:
        env = os.environ.get("DIGITNET_MNIST_MIRRORS", "")
        mirrors = [m for m in (part.strip() for part in env.split(",")) if m] or DEFAULT_MIRRORS
    elif isinstance(mirrors, str):
        mirrors = [mirrors]
    return tuple(mirrors)


def sha256_of(path):
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _reason(e):
    """A few words for one mirror's failure, fit for a one-line summary."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        if not isinstance(e.reason, BaseException):
            return " ".join(str(e.reason).split())
        e = e.reason
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return " ".join(str(e).split()) or type(e).__name__


class _Refused(Exception):
    """The server sent something we will not keep (too big, wrong size, wrong checksum)."""


class _Watch:
    """Cuts one attempt's connection when its deadline passes. The socket timeout bounds each single wait and the
    body loop checks the deadline, but http.client reads the status line and the headers a line at a time (64 KB a
    line): a server that trickled them held a download for hours, and the next mirror was never tried."""

    def __init__(self, seconds):
        self.sock, self.cut = None, False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True

    def _cut(self):
        self.cut = True
        self.shut(self.sock)

    def shut(self, sock):
        if sock is not None and self.cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def opener(self):
        """A urllib opener whose connections (http, https, each redirect's) this watch can cut."""
        watch = self

        def watched(handler):
            class Watched(handler):
                def do_open(self, http_class, req, **kw):
                    class Connection(http_class):
                        def connect(self):
                            super().connect()
                            watch.sock = self.sock
                            watch.shut(self.sock)  # the deadline passed while it connected
                    return super().do_open(Connection, req, **kw)
            return Watched
        return urllib.request.build_opener(watched(urllib.request.HTTPHandler), watched(urllib.request.HTTPSHandler))

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()


def _fetch(url, out, *, size, sha256, timeout, deadline):
    """Stream url into the open file `out`, enforcing the size cap, deadline and checksum."""
    watch = _Watch(deadline)
    try:
        with watch:
            _stream(url, out, size=size, sha256=sha256, timeout=timeout, deadline=deadline, opener=watch.opener())
    except (_Refused, OSError, http.client.HTTPException):
        if watch.cut:  # a connection cut reads as its end, or as a broken one: it was the deadline
            raise _Refused(f"took longer than {deadline:g} s") from None
        raise


def _stream(url, out, *, size, sha256, timeout, deadline, opener):
    cap = size if size is not None else _MAX_UNKNOWN_SIZE
    stop_at = time.monotonic() + deadline
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    # `timeout` bounds the connect and every single read; `deadline` bounds the whole transfer.
    with opener.open(request, timeout=timeout) as response:
        announced = response.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) > cap:
            raise _Refused(f"server offers {int(announced):,} bytes, expected at most {cap:,}")
        h = hashlib.sha256()
        total = 0
        while True:
            if time.monotonic() > stop_at:
                raise _Refused(f"took longer than {deadline:g} s")
            # read1 returns whatever one socket read brings, so the deadline is checked often
            # even when the server trickles bytes.
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise _Refused(f"server sent more than the expected {cap:,} bytes")
            h.update(chunk)
            out.write(chunk)
    if size is not None and total != size:
        raise _Refused(f"got {total:,} bytes, expected {size:,}")
    digest = h.hexdigest()
    if digest != sha256:
        raise _Refused(f"SHA-256 mismatch (got {digest[:12]}..., expected {sha256[:12]}...)")


def download_file(filename, dest_dir, *, mirrors=None, sha256=None, size=None, timeout=10.0,
                  deadline=None, failed=None):
    """Download `filename` from the first mirror that delivers it intact; returns dest_dir/filename.

    sha256 and size default to MNIST_FILES' entry when both are left out. `timeout` bounds the
    connect and each read; `deadline` (seconds, default DEFAULT_DEADLINE) bounds each mirror's
    whole transfer, headers included. failed: a set of mirrors that failed before (ensure_mnist_files
    shares one between its files), tried last, and added to. Raises DownloadError, naming every
    mirror's reason, if none succeeds. A file gets the mode any new file gets (0666 less the umask).
    """
    if sha256 is None and size is None and filename in MNIST_FILES:
        size, sha256 = MNIST_FILES[filename]
    if sha256 is None:
        raise ValueError(f"no SHA-256 known for {filename!r}; pass sha256= to verify the download")
    deadline = DEFAULT_DEADLINE if deadline is None else deadline
    dest_dir = Path(dest_dir)
    target = dest_dir / filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest_dir}: cannot create the download folder ({_reason(e)})") from None

    _sweep_parts(dest_dir, filename, deadline)
    failures, failed = [], set() if failed is None else failed
    bases = mirror_list(mirrors)
    for base in [b for b in bases if b not in failed] + [b for b in bases if b in failed]:
        url = base.rstrip("/") + "/" + urllib.parse.quote(filename)
        host = urllib.parse.urlsplit(url).netloc or base
        tmp_name, tmp = _part_file(dest_dir, filename, target)
        moved = False
        try:
            with tmp:
                _fetch(url, tmp, size=size, sha256=sha256, timeout=timeout, deadline=deadline)
                tmp.flush()
                # Durable before it gets the real name, so a crash cannot leave a bad file there.
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
            moved = True
            _fsync_dir(dest_dir)
            return target
        except (_Refused, OSError, http.client.HTTPException, ValueError) as e:
            # OSError covers urllib's URLError and socket timeouts; HTTPException a server
            # that breaks the protocol; ValueError a malformed mirror URL.
            failures.append(f"{host}: {_reason(e)}")
            failed.add(base)
            if isinstance(e, urllib.error.HTTPError):
                e.close()  # it holds the error page's open connection
        finally:
            if not moved:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
    err = DownloadError(f"{target}: could not download ({'; '.join(failures) or 'no mirrors configured'})")
    err.reasons = failures  # resolve_dataset quotes these without the path
    raise err


def _part_file(dest_dir, filename, target):
    """(name, open binary file) of a new hidden .part file beside the target, made with the mode a new file gets
    (0666 less the umask: tempfile's 0600 left a cache filled by one user unreadable to the others, who were
    given the sample, told MNIST was missing)."""
    while True:
        name = dest_dir / f".{filename}.{secrets.token_hex(4)}.part"
        try:
            return name, os.fdopen(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
        except FileExistsError:
            continue
        except OSError as e:
            raise DataError(f"{target}: cannot write into {dest_dir} ({_reason(e)})") from None


def _sweep_parts(dest_dir, filename, deadline):
    """Remove the .part files of filename that no download can still be writing (older than twice the deadline):
    a download killed outright (SIGKILL, a power cut) leaves its own behind."""
    for part in dest_dir.glob(f".{filename}*.part"):
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > 2 * deadline + 60:
                part.unlink()


def _fsync_dir(path):
    # Makes the rename itself durable; not every platform lets a folder be opened.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _intact(path, size, sha256):
    try:
        # Size first: it is free and catches most damage without hashing 10 MB.
        return path.stat().st_size == size and sha256_of(path) == sha256
    except PermissionError as e:  # not damaged: said so, not downloaded again over it
        raise DataError(f"{path}: cannot be read ({_reason(e)})") from None
    except OSError:
        return False


def ensure_mnist_files(dest_dir, *, mirrors=None, download=True):
    """Make sure dest_dir holds the four official MNIST files; returns {filename: path}.

    A file that is present and matches its size and SHA-256 is used as is; a missing or
    damaged one is downloaded (replacing the damaged copy) unless `download` is false, in
    which case a DataError says which file is missing or damaged.
    """
    dest_dir = Path(dest_dir)
    paths, failed = {}, set()  # a mirror that failed one file is tried last for the others
    for name, (size, sha256) in MNIST_FILES.items():
        path = dest_dir / name
        if path.is_file() and _intact(path, size, sha256):
            paths[name] = path
            continue
        if not download:
            state = "is damaged (size or SHA-256 differs from the official file)" if path.exists() \
                else "is missing"
            raise DataError(f"{path}: {state}, and downloading is turned off")
        paths[name] = download_file(name, dest_dir, mirrors=mirrors, sha256=sha256, size=size, failed=failed)
    return paths
