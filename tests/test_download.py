"""download.py against a real HTTP server on 127.0.0.1 serving small fake payloads."""
import contextlib
import hashlib
import http.server
import io
import os
import signal
import socket
import threading
import time

import pytest

from digitnet.data import download
from digitnet.data.download import (
    DEFAULT_MIRRORS,
    default_cache_dir,
    download_file,
    ensure_mnist_files,
    mirror_list,
    offline_requested,
    sha256_of,
)
from digitnet.errors import DataError, DownloadError

pytestmark = pytest.mark.usefixtures("isolated_data_env")


def sha(data):
    return hashlib.sha256(data).hexdigest()


class LocalServer:
    """Routes: name -> bytes (served normally) or (mode, bytes) with mode 'nolength', 'trickle' (the body a byte
    at a time), 'slow-headers' (the headers a byte at a time) or 'stall' (part of the body announced, then
    nothing until release is set)."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.trickled = []  # bytes each trickle sent before it ended, appended when it ends
        self.trickle_ended = threading.Event()
        self.release, self.stall_length = threading.Event(), 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_of(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        # A short poll interval keeps shutdown() (and so each test's teardown) quick.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def trickle(self, wfile, pieces):
        """Write the pieces one by one, 0.1 s apart, until the client hangs up; record how many went."""
        sent = 0
        try:
            for piece in pieces:
                wfile.write(piece)
                wfile.flush()
                sent += 1
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.trickled.append(sent)
        self.trickle_ended.set()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def handler_of(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            server.requests.append(name)
            route = server.routes.get(name)
            if route is None:
                self.send_error(404)
                return
            mode, data = route if isinstance(route, tuple) else ("plain", route)
            if mode == "slow-headers":  # a status line, then a header a byte at a time, for a minute
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                server.trickle(self.wfile, [b"a"] * 600)
                return
            self.send_response(200)
            if mode != "nolength":
                self.send_header("Content-Length", str(server.stall_length if mode == "stall" else len(data)))
            self.end_headers()
            if mode == "stall":  # part of what it announced, then nothing until the test lets go
                self.wfile.write(data)
                self.wfile.flush()
                server.release.wait(120)
            elif mode == "trickle":  # one byte at a time, each well inside the client's read timeout
                server.trickle(self.wfile, [bytes([b]) for b in data])
            else:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        def log_message(self, *args):
            pass
    return Handler


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def hanging_mirror():
    """Accepts connections (the kernel does, via the backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    s.close()


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "dest"


PAYLOAD = os.urandom(50_000)


def assert_one_line(err):
    assert "\n" not in str(err)


def assert_left_nothing(dest, allowed=()):
    assert sorted(p.name for p in dest.iterdir()) == sorted(allowed)


def test_good_file(server, dest):
    server.routes["f.bin"] = PAYLOAD
    path = download_file("f.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))
    assert path == dest / "f.bin"
    assert path.read_bytes() == PAYLOAD
    assert_left_nothing(dest, ["f.bin"])  # no temp file
    assert server.requests == ["f.bin"]


def test_checksum_mismatch_leaves_nothing(server, dest):
    bad = bytes([PAYLOAD[0] ^ 1]) + PAYLOAD[1:]
    server.routes["f.bin"] = bad
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))
    assert "SHA-256 mismatch" in str(info.value)
    assert str(dest / "f.bin") in str(info.value)
    assert_one_line(info.value)
    assert_left_nothing(dest)


def test_bad_download_keeps_existing_file(server, dest):
    dest.mkdir()
    (dest / "f.bin").write_bytes(b"old")
    server.routes["f.bin"] = b"x" * len(PAYLOAD)
    with pytest.raises(DownloadError):
        download_file("f.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))
    assert (dest / "f.bin").read_bytes() == b"old"
    assert_left_nothing(dest, ["f.bin"])


def test_dead_mirror_then_good(server, dest, dead_mirror):
    server.routes["f.bin"] = PAYLOAD
    path = download_file("f.bin", dest, mirrors=[dead_mirror, server.url], sha256=sha(PAYLOAD))
    assert path.read_bytes() == PAYLOAD


def test_all_mirrors_fail_lists_each(server, dest, dead_mirror):
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", dest, mirrors=[dead_mirror, server.url], sha256=sha(PAYLOAD))
    msg = str(info.value)
    assert_one_line(msg)
    assert dead_mirror.split("/")[2] + ": connection refused" in msg
    assert server.url.split("/")[2] + ": HTTP 404" in msg
    assert info.value.reasons == msg[msg.index("(") + 1:-1].split("; ")
    assert_left_nothing(dest)


def record_failures(monkeypatch):
    """The exception each mirror's transfer raised, in order: what download_file hides behind the next mirror."""
    failures = []
    original = download._fetch

    def fetch(url, *args, **kwargs):
        try:
            return original(url, *args, **kwargs)
        except Exception as e:
            failures.append((url, e))
            raise
    monkeypatch.setattr(download, "_fetch", fetch)
    return failures


def test_hanging_mirror_times_out_and_falls_through(server, dest, hanging_mirror, monkeypatch):
    # No clock here (a busy machine makes any time limit flaky): the hanging mirror must have ended in the
    # client's read timeout, not in some other failure, before the second mirror delivered.
    server.routes["f.bin"] = PAYLOAD
    failures = record_failures(monkeypatch)
    path = download_file("f.bin", dest, mirrors=[hanging_mirror, server.url], sha256=sha(PAYLOAD), timeout=0.5)
    assert path.read_bytes() == PAYLOAD
    [(url, error)] = failures
    assert url.startswith(hanging_mirror) and isinstance(error, TimeoutError), repr(error)


def test_hanging_mirror_alone_fails_with_a_timeout(dest, hanging_mirror, monkeypatch):
    failures = record_failures(monkeypatch)
    with pytest.raises(DownloadError, match="timed out"):
        download_file("f.bin", dest, mirrors=[hanging_mirror], sha256=sha(PAYLOAD), timeout=0.5)
    assert len(failures) == 1 and isinstance(failures[0][1], TimeoutError), failures
    assert_left_nothing(dest)


def test_trickling_server_hits_deadline(server, dest):
    server.routes["slow.bin"] = ("trickle", PAYLOAD[:200])  # 20 s at 10 bytes/s
    with pytest.raises(DownloadError, match="took longer than 1 s"):
        download_file("slow.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD[:200]),
                      timeout=0.5, deadline=1.0)
    assert_left_nothing(dest)
    # the client hung up: the server's writes fail and its trickle ends long before the 200th byte
    assert server.trickle_ended.wait(60)
    assert server.trickled[0] < 200


def test_oversize_announced_is_refused(server, dest):
    server.routes["big.bin"] = PAYLOAD + b"extra"
    with pytest.raises(DownloadError, match="offers 50,005 bytes, expected at most 50,000"):
        download_file("big.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))
    assert_left_nothing(dest)


def test_oversize_unannounced_is_cut_off(server, dest):
    server.routes["big.bin"] = ("nolength", PAYLOAD * 4)
    with pytest.raises(DownloadError, match="more than the expected 50,000 bytes"):
        download_file("big.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))
    assert_left_nothing(dest)


def test_short_payload_is_refused(server, dest):
    server.routes["short.bin"] = ("nolength", PAYLOAD[:1000])
    with pytest.raises(DownloadError, match="got 1,000 bytes, expected 50,000"):
        download_file("short.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD), size=len(PAYLOAD))


def test_no_checksum_is_a_usage_error(dest, server):
    with pytest.raises(ValueError, match="SHA-256"):
        download_file("unknown.bin", dest, mirrors=[server.url])
    assert server.requests == []


@pytest.fixture
def fake_mnist(monkeypatch, server):
    """Four small stand-ins for the official files, registered in MNIST_FILES and served."""
    files = {name: os.urandom(1000 + i) for i, name in enumerate(download.MNIST_FILES)}
    monkeypatch.setattr(download, "MNIST_FILES", {n: (len(d), sha(d)) for n, d in files.items()})
    server.routes.update(files)
    return files


def test_ensure_downloads_then_uses_cache(server, fake_mnist, dest):
    paths = ensure_mnist_files(dest, mirrors=[server.url])
    assert sorted(server.requests) == sorted(fake_mnist)
    assert {n: p.read_bytes() for n, p in paths.items()} == fake_mnist
    server.requests.clear()
    assert ensure_mnist_files(dest, mirrors=[server.url]) == paths
    assert server.requests == []  # intact files are used without asking anyone


def test_ensure_redownloads_corrupt_file(server, fake_mnist, dest):
    ensure_mnist_files(dest, mirrors=[server.url])
    server.requests.clear()
    victim = dest / "t10k-labels-idx1-ubyte.gz"
    damaged = bytearray(victim.read_bytes())
    damaged[500] ^= 0xFF  # same size, so only the checksum can tell
    victim.write_bytes(bytes(damaged))
    ensure_mnist_files(dest, mirrors=[server.url])
    assert server.requests == [victim.name]
    assert victim.read_bytes() == fake_mnist[victim.name]
    assert_left_nothing(dest, fake_mnist)


def test_ensure_offline_missing_file(server, fake_mnist, dest):
    with pytest.raises(DataError) as info:
        ensure_mnist_files(dest, mirrors=[server.url], download=False)
    assert "train-images-idx3-ubyte.gz: is missing, and downloading is turned off" in str(info.value)
    assert server.requests == []


def test_ensure_offline_corrupt_file(server, fake_mnist, dest):
    ensure_mnist_files(dest, mirrors=[server.url])
    (dest / "train-labels-idx1-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: is damaged"):
        ensure_mnist_files(dest, mirrors=[server.url], download=False)


def test_ensure_all_mirrors_down(fake_mnist, dest, dead_mirror):
    with pytest.raises(DownloadError, match="connection refused"):
        ensure_mnist_files(dest, mirrors=[dead_mirror])


def test_mirror_list(monkeypatch):
    monkeypatch.delenv("DIGITNET_MNIST_MIRRORS")
    assert mirror_list() == DEFAULT_MIRRORS
    monkeypatch.setenv("DIGITNET_MNIST_MIRRORS", " http://a/x/ , http://b/,, ")
    assert mirror_list() == ("http://a/x/", "http://b/")
    assert mirror_list(["http://c/"]) == ("http://c/",)
    monkeypatch.setenv("DIGITNET_MNIST_MIRRORS", " , ")
    assert mirror_list() == DEFAULT_MIRRORS


def test_mirrors_from_environment(server, fake_mnist, dest, monkeypatch, dead_mirror):
    monkeypatch.setenv("DIGITNET_MNIST_MIRRORS", f"{dead_mirror},{server.url}")
    ensure_mnist_files(dest)
    assert len(server.requests) == 4


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("DIGITNET_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "digitnet"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "digitnet"
    assert download.mnist_cache_dir() == tmp_path / "home" / ".cache" / "digitnet" / "mnist"


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True),
                                            ("0", False), ("no", False), ("", False)])
def test_offline_requested(monkeypatch, value, expected):
    monkeypatch.setenv("DIGITNET_OFFLINE", value)
    assert offline_requested() is expected


def test_sha256_of(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(PAYLOAD)
    assert sha256_of(p) == sha(PAYLOAD)



def test_a_mirror_trickling_its_headers_hits_the_deadline_too(server, dest, monkeypatch):
    """The deadline was checked only between reads of the body: a server that sent its headers a byte every 2 s
    held the download for hours (http.client reads a header line up to 64 KB), its next mirror never tried."""
    slow = LocalServer()
    try:
        slow.routes["f.bin"] = ("slow-headers", b"")
        server.routes["f.bin"] = PAYLOAD
        failures = record_failures(monkeypatch)
        path = download_file("f.bin", dest, mirrors=[slow.url, server.url], sha256=sha(PAYLOAD), timeout=0.5,
                             deadline=1.0)
        assert path.read_bytes() == PAYLOAD
        [(url, error)] = failures
        assert url.startswith(slow.url) and "took longer than 1 s" in str(error), repr(error)
        assert slow.trickle_ended.wait(60) and slow.trickled[0] < 600  # the client hung up, not the server
    finally:
        slow.close()


def test_a_mirror_that_failed_one_file_is_tried_last_for_the_others(server, fake_mnist, dest, dead_mirror,
                                                                    monkeypatch):
    """Each of the four files began again at the first mirror: a dead or trickling one cost its timeout (its
    deadline: 5 minutes) four times over."""
    failures = record_failures(monkeypatch)
    ensure_mnist_files(dest, mirrors=[dead_mirror, server.url])
    assert len(server.requests) == 4 and [url.startswith(dead_mirror) for url, _ in failures] == [True]


def test_a_downloaded_file_gets_the_mode_of_a_new_file_and_old_part_files_go(server, dest):
    """Downloads were 0600 whatever the umask (tempfile's mode, kept by the rename): a cache filled by one user
    was unreadable to the others, who got the sample, told MNIST was missing. And a download killed outright
    left its part file for good; one older than any download can still be writing is swept away now."""
    server.routes["f.bin"] = PAYLOAD
    dest.mkdir()
    old, fresh = dest / ".f.bin.0badcafe.part", dest / ".f.bin.5eed5eed.part"
    old.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(old, (time.time() - 86400, time.time() - 86400))
    before = os.umask(0o022)
    try:
        path = download_file("f.bin", dest, mirrors=[server.url], sha256=sha(PAYLOAD))
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == 0o644
    assert not old.exists() and fresh.exists()


def test_a_cache_file_that_cannot_be_read_is_said_not_called_damaged(server, fake_mnist, dest, monkeypatch):
    """A cache file this user may not read was taken for a damaged one (and downloaded again over, or, offline,
    "is missing"): it is said now."""
    ensure_mnist_files(dest, mirrors=[server.url])

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(download, "sha256_of", refuse)
    with pytest.raises(DataError, match="cannot be read \\(permission denied\\)"):
        ensure_mnist_files(dest, mirrors=[server.url], download=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_download_stopped_by_sigterm_or_sighup_says_so_and_leaves_no_part_file(server, tmp_path, signum):
    """Ctrl-C in the middle of the download said "interrupted" and took its part file away; SIGTERM (a batch
    system) and SIGHUP (a closed terminal) killed digitnet outright: nothing said, exit -15, and 800 KB of a part
    file left in the cache for good. They end it as Ctrl-C does now."""
    from faultkit import TIMEOUT_S, start

    name = "train-images-idx3-ubyte.gz"  # the first file fetched
    body = b"\x1f\x8b" + os.urandom(100_000)
    server.routes[name] = ("stall", body)
    server.stall_length = download.MNIST_FILES[name][0]
    # all of the body on disk but what the part file's buffer may still hold (it once waited for all of it, and the
    # client's read timeout, 10 s, came first: it fell back to the sample and trained, and the test failed)
    written = len(body) - io.DEFAULT_BUFFER_SIZE
    cache = tmp_path / "cache"
    env = dict(os.environ, DIGITNET_CACHE_DIR=str(cache), DIGITNET_MNIST_MIRRORS=server.url, OPENBLAS_NUM_THREADS="1")
    run = start("train", "--iters", "1", "--out", str(tmp_path / "m.npz"), env=env)
    deadline = time.monotonic() + TIMEOUT_S  # a safety net: the loop ends on the event (the part file filled)
    while not [p for p in cache.glob("mnist/*.part") if p.stat().st_size >= written] and time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        time.sleep(0.05)
    run.send_signal(signum)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130 and "interrupted" in err and "Traceback" not in err, (run.returncode, err)
    assert list(cache.glob("mnist/*.part")) == []
