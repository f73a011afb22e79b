#!/usr/bin/env python3
"""Load and abuse test for `digitnet serve`: a real server in a subprocess, real digits, hostile clients.

    python scripts/load_test.py MODEL [--requests 2000] [--clients 8] [--kind pixels|png|mix] [--port 0]
                                      [--abuse-every 20] [--time-limit 300] [--json REPORT] [--server-log FILE]

Starts `digitnet serve MODEL` on 127.0.0.1 (port 0: the server picks a free one, read from digitnet's start-up
line), waits for GET /health, then sends --requests good POST /api/predict requests from --clients threads,
each on its own keep-alive connection: the sample's test digits as JSON {"pixels": [784]} (--kind pixels),
drawn large, dark on light, and uploaded as a multipart PNG (--kind png), or alternately both (--kind mix).
One abusive request per --abuse-every good ones, and every abusive kind at least once, is spread through the
same queue and sent on a fresh socket by whichever thread takes it (see ABUSE below: oversize bodies, non-images,
PNG bombs, bad JSON, broken multipart, bad headers, a client trickling its body and one hanging up mid-body).

An error is: a good request that is not a 200 with a well-formed answer, an abusive request that does not get
its expected status (and a one-line JSON {"error"} where the app answers), a connection error or timeout, a
request the time limit left unsent, a 5xx or a traceback in the server's log, or the server not answering
/health and the first digit the same way after the load. Prints requests/s, the good requests' latency
percentiles and each abusive kind's statuses; --json writes the report as JSON too. Exit status: 0 no error,
1 any error, 2 the server did not start, 3 the hard --time-limit (the whole script) ran out. Only 127.0.0.1
is contacted; every loop is bounded in count and time.
"""
import argparse
import http.client
import io
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads; the server inherits it

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402  (after OPENBLAS_NUM_THREADS and sys.path are set above)

HOST = "127.0.0.1"
PATH = "/api/predict"
UPLOAD_LIMIT = 5 * 1024 * 1024      # digitnet.serve.MAX_UPLOAD_BYTES
REQUEST_TIMEOUT = 30.0              # per request, never past the deadline
START_TIMEOUT = 90.0                # for the server to answer /health
SHUTDOWN_RESERVE = 30.0             # of the time limit, kept for the checks after the load and stopping the server
GRACE = 3.0                         # a request started before the deadline may take this long past it
MAX_RESPONSE = 4 * 1024 * 1024      # read no further than this
HANG_UP_LOG = "client hung up"      # the one line digitnet.serve logs for a client that hangs up mid-body


# ------------------------------------------------------------------------------------------- bodies

def digit_png(pixels, size=280):
    """An MNIST digit (white on black, 784 floats in 0..1) drawn large, dark on light, as a PNG."""
    from PIL import Image

    grey = np.round(255 * (1 - np.asarray(pixels, dtype=np.float64).reshape(28, 28))).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).resize((size, size), Image.BICUBIC).save(buf, "PNG")
    return buf.getvalue()


def blank_png(side):
    """A white side x side PNG: 6,400 gives 41 megapixels (over the server's 40) in about 50 KB."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (side, side), 255).save(buf, "PNG")
    return buf.getvalue()


def png_claiming(width, height):
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def multipart(data, filename="digit.png", boundary="digitnetLoadTest7f3a"):
    """(body, Content-Type) of a multipart/form-data form with one PNG file field "image"."""
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def pixels_json(pixels):
    return json.dumps({"pixels": [round(float(v), 4) for v in np.asarray(pixels).reshape(-1)]}).encode()


# -------------------------------------------------------------------------------------- the abuse

class HungUp(Exception):
    """A client that hangs up on purpose gets no response."""


def request_head(content_type, length=None, extra=()):
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Type: {content_type}",
             *([f"Content-Length: {length}"] if length is not None else []), *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def pieces(data, size=65536):
    return [data[i:i + size] for i in range(0, len(data), size)]


class Abuse:
    """One kind of abusive request: the bytes to send (in pieces, with pauses), the status it must get
    (None: the client hangs up after sending), and whether that answer comes from the app (JSON)."""

    def __init__(self, name, status, what, head, body=(), pause=0.0, json_error=True):
        self.name, self.status, self.what = name, status, what
        self.head, self.body, self.pause, self.json_error = head, body, pause, json_error

    def send(self, port, deadline):
        """(status, body) of the answer, read until the server closes (every request asks it to)."""
        with socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT) as sock:
            sock.sendall(self.head)
            for i, piece in enumerate(self.body):
                if select.select([sock], [], [], 0)[0]:
                    break  # answered (a 413 before the whole body went) or closed: read it
                if time.monotonic() > deadline:
                    raise TimeoutError("deadline while sending the body")
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    break
                if self.pause and i + 1 < len(self.body):
                    time.sleep(self.pause)
            if self.status is None:
                raise HungUp()
            data = b""
            while len(data) <= MAX_RESPONSE:
                sock.settimeout(max(0.1, min(REQUEST_TIMEOUT, deadline - time.monotonic())))
                try:
                    more = sock.recv(65536)
                except ConnectionResetError:  # the server closed with our body unread; its answer came first
                    more = b""
                if not more:
                    break
                data += more
        head, found, body = data.partition(b"\r\n\r\n")
        if not found:
            raise ConnectionError(f"connection closed after {len(data)} bytes of response")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length and len(body) < int(length.group(1)):
            raise ConnectionError(f"response body cut short: {len(body)} of {int(length.group(1))} bytes")
        return int(head.split()[1]), body


# long: one table of every abusive request, each a few lines, read top to bottom
def abuse_kinds(pixels):
    """Every abusive request, built once."""
    good = [round(float(v), 4) for v in pixels]
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (UPLOAD_LIMIT + 1024 * 1024)
    png = digit_png(pixels)
    slow = pixels_json(pixels)
    twentieth = -(-len(slow) // 20)
    nan = json.dumps({"pixels": good[:100] + [float("nan")] + good[101:]}).encode()  # Python writes a raw NaN
    flood = request_head("application/json", 2, ["X-Junk: " + "a" * 100_000]) + b"{}"

    def body(content_type, data):
        return {"head": request_head(content_type, len(data)), "body": pieces(data)}

    def upload(data):
        form, content_type = multipart(data, "drawing.png")
        return body(content_type, form)

    def as_json(value):
        return body("application/json", value if isinstance(value, bytes) else json.dumps(value).encode())

    table = [  # name, status, what, how it is sent
        ("oversize-declared", 413, "6 MiB image/png body, Content-Length over the 5 MiB limit", body("image/png", big)),
        ("oversize-multipart", 413, "6 MiB PNG file in a multipart form", upload(big)),
        ("oversize-chunked", 413, "chunked image/png body with no Content-Length, 6 MiB: past the 5 MiB limit",
         {"head": request_head("image/png", extra=["Transfer-Encoding: chunked"]),
          "body": [b"10000\r\n" + b"\0" * 65536 + b"\r\n"] * 96 + [b"0\r\n\r\n"]}),
        ("not-an-image", 415, "multipart upload of 240 bytes of text", upload(b"GIF? no, just some text\n" * 10)),
        ("not-an-image-raw", 415, "application/octet-stream body of 4 KB of random bytes",
         body("application/octet-stream", np.random.default_rng(0).bytes(4096))),
        ("bomb-header", 413, "PNG header claiming 100,000 x 100,000 pixels (~300 bytes)",
         upload(png_claiming(100_000, 100_000))),
        ("bomb-real", 413, "real 6,400 x 6,400 PNG (41 megapixels, ~50 KB)", upload(blank_png(6400))),
        ("truncated-png", 422, "the first half of a digit's PNG", upload(png[:len(png) // 2])),
        ("empty-upload", 415, "multipart upload of 0 bytes", upload(b"")),
        ("json-783", 422, "783 pixels", as_json({"pixels": good[:783]})),
        ("json-28x27", 422, "28 rows of 27", as_json({"pixels": [good[r * 28:r * 28 + 27] for r in range(28)]})),
        ("json-3d", 422, "1 x 28 x 28", as_json({"pixels": [[good[r * 28:(r + 1) * 28] for r in range(28)]]})),
        ("json-not-object", 422, "a bare list of 784", as_json(good)),
        ("json-missing-field", 422, '{"image": [784]} instead of "pixels"', as_json({"image": good})),
        ("json-string-pixel", 422, '"0.5" among 784 numbers', as_json({"pixels": ["0.5"] + good[1:]})),
        ("json-0-255", 422, "784 values in 0..255", as_json({"pixels": [255 * v for v in good]})),
        ("json-nan", 422, "784 pixels, one a raw NaN", as_json(nan)),
        ("json-infinity", 422, "784 pixels, one a raw Infinity", as_json({"pixels": [float("inf")] + good[1:]})),
        ("json-malformed", 422, "JSON cut off in the middle", as_json(slow[:1000])),
        ("json-deep-nesting", 422, "100,000 nested brackets",
         as_json(b'{"pixels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        ("json-huge-integer", 422, "a 5,000-digit integer pixel",
         as_json(b'{"pixels": [' + b"9" * 5000 + b", 0" * 783 + b"]}")),
        ("wrong-content-type", 415, "text/plain body", body("text/plain", b"pixels=1")),
        ("broken-multipart", 400, "multipart/form-data that is garbage",
         body("multipart/form-data", b"--x\r\ngarbage")),
        ("bad-content-length", 400, "Content-Length: abc (uvicorn's parser answers, in plain text)",
         {"head": request_head("application/json", extra=["Content-Length: abc"]), "json_error": False}),
        ("header-flood", 400, "100 KB header line in 4 KB pieces 2 ms apart (uvicorn answers, in plain text)",
         {"head": b"", "body": pieces(flood, 4096), "pause": 0.002, "json_error": False}),
        ("slow-body", 200, f"pixels JSON ({len(slow):,} B) in 20 pieces 25 ms apart, within the server's deadline",
         {"head": request_head("application/json", len(slow)), "body": pieces(slow, twentieth), "pause": 0.025}),
        ("slow-abandon", None, "half a pixels JSON in 10 pieces 25 ms apart, then hangs up",
         {"head": request_head("application/json", len(slow)), "body": pieces(slow[:10 * twentieth], twentieth),
          "pause": 0.025}),
    ]
    assert b"NaN" in nan and len({name for name, *_ in table}) == len(table)
    return [Abuse(name, status, what, **how) for name, status, what, how in table]


# ------------------------------------------------------------------------------------- the server

class Server:
    """`digitnet serve MODEL` in a subprocess, its output in a log file."""

    def __init__(self, model, port, log_path):
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                   PYTHONUNBUFFERED="1")
        model = Path(model).resolve()  # the server runs in the repository: a path relative to here was not found
        self.proc = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", str(model), "--host", HOST,
                                      "--port", str(port)], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=REPO)
        self.port = port or None

    def text(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout):
        """/health's answer, once the port is known (from digitnet's "serving ... at" line when port 0)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}:\n{self.text()[-3000:]}")
            if self.port is None:
                found = re.search(r" at http://127\.0\.0\.1:(\d+)/", self.text())
                self.port = int(found.group(1)) if found else None
            if self.port is not None:
                try:
                    status, info = http_request(self.port, "/health", 2.0)
                    if status == 200:
                        return json.loads(info)
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /health within {timeout:.0f} s:\n{self.text()[-3000:]}")

    def stop(self):
        """SIGINT (uvicorn's graceful shutdown), then SIGTERM, then SIGKILL, to this process only."""
        for sig, wait in ((signal.SIGINT, 6), (signal.SIGTERM, 3), (signal.SIGKILL, 3)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        self.log.close()
        return self.proc.returncode


def http_request(port, path, timeout, body=None, content_type=None):
    """(status, body) of one request on a fresh connection: GET, or POST when there is a body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET" if body is None else "POST", path, body, {"Content-Type": content_type} if body else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def check_prediction(body):
    """The digit of a well-formed /api/predict answer; raises ValueError otherwise."""
    answer = json.loads(body)
    digit, probabilities, seen = answer["digit"], answer["probabilities"], answer["preprocessed"]
    if not (isinstance(digit, int) and 0 <= digit <= 9 and len(probabilities) == 10 and len(seen) == 784):
        raise ValueError(f"malformed answer: {body[:120]!r}")
    if abs(sum(probabilities) - 1) > 1e-4 or int(np.argmax(probabilities)) != digit:
        raise ValueError(f"probabilities do not add up or do not match the digit: {body[:120]!r}")
    return digit


def predict_once(port, good):
    """(digit, probabilities rounded to 6 places) for one good request on a fresh connection."""
    status, data = http_request(port, PATH, 5.0, good[0], good[1])
    if status != 200:
        raise ValueError(f"HTTP {status}: {data[:200]!r}")
    return check_prediction(data), [round(p, 6) for p in json.loads(data)["probabilities"]]


# --------------------------------------------------------------------------------------- the load

def make_plan(n_good, n_abuse_kinds, abuse_every):
    """The order of the requests: ("good", i), with ("abuse", kind) spread evenly among them, every kind at
    least once."""
    n_abuse = max(n_abuse_kinds, n_good // abuse_every) if abuse_every > 0 else 0
    items = [(i / max(n_good, 1), ("good", i)) for i in range(n_good)]
    items += [((j + 0.5) / n_abuse, ("abuse", j % n_abuse_kinds)) for j in range(n_abuse)]
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def build_goods(sample, n, kind):
    """(body, Content-Type, label) for n good requests, cycling through up to 500 distinct test digits."""
    goods = []
    for i in range(min(n, 500)):
        pixels = sample.x_test[i]
        if kind == "png" or (kind == "mix" and i % 2):
            goods.append((*multipart(digit_png(pixels), f"digit{i}.png"), int(sample.t_test[i])))
        else:
            goods.append((pixels_json(pixels), "application/json", int(sample.t_test[i])))
    return [goods[i % len(goods)] for i in range(n)]


class Run:
    """The client threads' shared state: the queue of work, the results, the errors."""

    def __init__(self, port, plan, goods, abuses, deadline):
        self.port, self.plan, self.goods, self.abuses, self.deadline = port, plan, goods, abuses, deadline
        self.lock = threading.Lock()
        self.next = self.done = self.good_ok = self.correct = 0
        self.latencies, self.errors = [], []
        self.abuse_statuses = {a.name: Counter() for a in abuses}
        self.abuse_ms = Counter()

    def take(self):
        with self.lock:
            if self.next >= len(self.plan) or time.monotonic() > self.deadline:
                return None
            self.next += 1
            return self.plan[self.next - 1]

    def error(self, message):
        with self.lock:
            self.errors.append(message[:300])

    def client(self):
        conn = None  # this thread's keep-alive connection for the good requests
        while (item := self.take()) is not None:
            kind, i = item
            start = time.monotonic()
            if kind == "good":
                conn = self.good(conn, *self.goods[i], start)
            else:
                self.abuse(self.abuses[i], start)
            with self.lock:
                self.done += 1
        if conn is not None:
            conn.close()

    def good(self, conn, body, content_type, label, start):
        try:
            timeout = max(0.1, min(REQUEST_TIMEOUT, self.deadline + GRACE - start))
            conn = conn or http.client.HTTPConnection(HOST, self.port)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.request("POST", PATH, body, {"Content-Type": content_type})
            r = conn.getresponse()
            data = r.read()
            elapsed = time.monotonic() - start
            if r.status != 200:
                raise ValueError(f"HTTP {r.status}: {data[:200]!r}")
            digit = check_prediction(data)
        except Exception as e:
            self.error(f"good request ({content_type.split(';')[0]}): {type(e).__name__}: {e}")
            conn.close()
            return None
        with self.lock:
            self.good_ok += 1
            self.correct += digit == label
            self.latencies.append(elapsed)
        return conn

    def abuse(self, abuse, start):
        problem = None
        try:
            status, data = abuse.send(self.port, min(self.deadline + GRACE, start + REQUEST_TIMEOUT))
        except HungUp:
            status = None
        except Exception as e:
            status, problem = "connection error", f"{type(e).__name__}: {e}"
        else:
            if status != abuse.status:
                problem = f"got {status}, expected {abuse.status}: {data[:200]!r}"
            elif status == 200:
                try:
                    check_prediction(data)
                except Exception as e:
                    problem = str(e)
            elif abuse.json_error:
                try:
                    message = json.loads(data)["error"]
                except Exception:
                    message = None
                if not (isinstance(message, str) and message and "\n" not in message):
                    problem = f"not a one-line JSON {{\"error\"}} body: {data[:200]!r}"
        if problem:
            self.error(f"abusive {abuse.name}: {problem}")
        with self.lock:
            self.abuse_statuses[abuse.name][status] += 1
            self.abuse_ms[abuse.name] = max(self.abuse_ms[abuse.name], 1000 * (time.monotonic() - start))


def percentile_ms(values, q):
    return round(1000 * float(np.percentile(values, q)), 2) if values else None


# -------------------------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a digitnet model file (.npz)")
    parser.add_argument("--requests", type=int, default=2000, help="good requests to send (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--kind", choices=("pixels", "png", "mix"), default="pixels",
                        help="good requests as JSON pixels, PNG uploads, or alternately both (default pixels)")
    parser.add_argument("--port", type=int, default=0, help="server port; 0 (default) lets the server pick a free one")
    parser.add_argument("--abuse-every", type=int, default=20,
                        help="one abusive request per this many good ones, every kind at least once (0: none)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="hard limit for the whole script, s (300)")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    parser.add_argument("--server-log", type=Path,
                        help="keep the server's output here (default: a temporary file, kept on failure)")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 1_000_000 or not 1 <= args.clients <= 256 or args.abuse_every < 0:
        parser.error("--requests must be 1..1000000, --clients 1..256, --abuse-every >= 0")
    if not 2 * SHUTDOWN_RESERVE <= args.time_limit <= 3600:
        parser.error(f"--time-limit must be {2 * SHUTDOWN_RESERVE:.0f}..3600 s")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if not args.model.is_file():
        parser.error(f"no such model file: {args.model}")
    return args


# long: the load test's phases in order (start, warm up, load, abuse, report), each a short block
def main(argv=None):
    args = parse_args(argv)
    hard_end = time.monotonic() + args.time_limit
    server = None

    def out_of_time():  # stop the server, say so, and leave whatever the threads are doing
        print(f"load_test: hard time limit of {args.time_limit:.0f} s reached; stopping", file=sys.stderr, flush=True)
        if server is not None and server.proc.poll() is None:
            server.proc.kill()
        os._exit(3)

    watchdog = threading.Timer(args.time_limit, out_of_time)
    watchdog.daemon = True
    watchdog.start()

    from digitnet.data import load_sample

    sample = load_sample()
    abuses = abuse_kinds(sample.x_test[0])
    goods = build_goods(sample, args.requests, args.kind)
    plan = make_plan(args.requests, len(abuses), args.abuse_every)
    n_abuse = len(plan) - args.requests

    log_path = args.server_log or Path(tempfile.mkstemp(prefix="digitnet-serve-", suffix=".log")[1])
    started = time.monotonic()
    server = Server(args.model, args.port, log_path)
    try:
        try:
            info = server.wait_ready(min(START_TIMEOUT, hard_end - time.monotonic() - SHUTDOWN_RESERVE))["model"]
        except RuntimeError as e:
            print(f"load_test: {e}\nserver log at {log_path}", file=sys.stderr)
            return 2
        try:  # the same request after the load must answer the same
            before = predict_once(server.port, goods[0])
        except Exception as e:
            print(f"load_test: the first prediction, before any load, failed: {type(e).__name__}: {e}\n"
                  f"server log at {log_path}", file=sys.stderr)
            return 1
        startup_s = round(time.monotonic() - started, 2)
        print(f"server: {info['architecture']} from {args.model} on http://{HOST}:{server.port}/ "
              f"(ready after {startup_s} s)")
        print(f"load: {args.requests} good ({args.kind}) + {n_abuse} abusive requests from {args.clients} clients",
              flush=True)

        run = Run(server.port, plan, goods, abuses, deadline=hard_end - SHUTDOWN_RESERVE)
        threads = [threading.Thread(target=run.client, daemon=True) for _ in range(args.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, run.deadline + GRACE + 2 - time.monotonic()))
        elapsed = time.monotonic() - t0
        if any(t.is_alive() for t in threads):
            run.error(f"{sum(t.is_alive() for t in threads)} client threads still busy at the deadline")
        if run.next < len(plan):
            run.error(f"{len(plan) - run.next} requests not sent: the time limit ran out")

        try:  # afterwards the server must still be up, and answer as before
            status, body = http_request(server.port, "/health", 5.0)
            health_ok = status == 200 and json.loads(body)["status"] == "ok"
        except Exception as e:
            health_ok, body = False, f"{type(e).__name__}: {e}"
        if not health_ok:
            run.error(f"/health after the load: {body!r}")
        try:
            after = predict_once(server.port, goods[0]) == before
        except Exception:
            after = False
        if not after:
            run.error("the first digit, predicted again after the load, failed or gave other probabilities")
        alive = server.proc.poll() is None
    finally:
        server_exit = server.stop()

    log = server.text()
    server_5xx = len(re.findall(r'HTTP/1\.[01]" 5\d\d', log))
    tracebacks = log.count("Traceback (most recent call last)")
    if server_5xx:
        run.error(f"the server's log shows {server_5xx} responses with a 5xx status")
    if tracebacks:
        run.error(f"the server's log holds {tracebacks} tracebacks")

    report = {
        "model": str(args.model), "architecture": info["architecture"], "model_test_accuracy": info["test_accuracy"],
        "kind": args.kind, "clients": args.clients, "port": server.port, "startup_s": startup_s,
        "good_requests": args.requests, "good_ok": run.good_ok, "abusive_requests": n_abuse,
        "requests_done": run.done, "errors": len(run.errors), "elapsed_s": round(elapsed, 2),
        "requests_per_s": round(run.done / elapsed, 1), "good_per_s": round(run.good_ok / elapsed, 1),
        "latency_ms": {"p50": percentile_ms(run.latencies, 50), "p95": percentile_ms(run.latencies, 95),
                       "p99": percentile_ms(run.latencies, 99), "max": percentile_ms(run.latencies, 100)},
        "served_accuracy": round(run.correct / run.good_ok, 4) if run.good_ok else None,
        "health_after": health_ok, "prediction_after": after, "server_alive_at_end": alive,
        "server_exit_status": server_exit, "server_5xx_in_log": server_5xx, "server_tracebacks": tracebacks,
        "server_hang_ups_logged": log.count(HANG_UP_LOG),
        "abuse": {a.name: {"what": a.what, "expected": a.status, "count": sum(run.abuse_statuses[a.name].values()),
                           "statuses": {str(k): v for k, v in sorted(run.abuse_statuses[a.name].items(), key=str)},
                           "max_ms": round(run.abuse_ms[a.name], 1)} for a in abuses},
        "error_samples": run.errors[:20],
    }
    print_report(report)
    for message in run.errors[:20]:
        print(f"ERROR {message}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if run.errors and not args.server_log:
        print(f"server log kept at {log_path}", file=sys.stderr)
    elif not args.server_log:
        os.unlink(log_path)
    watchdog.cancel()
    print("result: " + ("FAILED" if run.errors else "ok"))
    return 1 if run.errors else 0


def print_report(r):
    lat = r["latency_ms"]
    print(f"good requests: {r['good_ok']} of {r['good_requests']} answered 200 "
          f"(served digits {100 * (r['served_accuracy'] or 0):.1f}% correct)")
    print(f"abusive requests: {sum(a['count'] for a in r['abuse'].values())} sent of {r['abusive_requests']} "
          f"({len(r['abuse'])} kinds)")
    print(f"errors: {r['errors']}")
    print(f"throughput: {r['requests_per_s']} requests/s ({r['good_per_s']} good/s) over {r['elapsed_s']:.2f} s")
    print(f"latency of good requests: p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms, "
          f"max {lat['max']} ms")
    print(f"after the load: /health {'ok' if r['health_after'] else 'FAILED'}, "
          f"prediction {'ok' if r['prediction_after'] else 'FAILED'}; server log: {r['server_5xx_in_log']} 5xx, "
          f"{r['server_tracebacks']} tracebacks, {r['server_hang_ups_logged']} client hang-ups")
    print(f"{'abusive request':<20} {'expected':>8}  {'got':<16} {'max ms':>8}  what")
    for name, a in r["abuse"].items():
        expected = a["expected"] if a["expected"] is not None else "-"
        got = ", ".join(f"{k} x{v}" if k != "None" else f"hung up x{v}" for k, v in a["statuses"].items()) or "-"
        print(f"{name:<20} {expected:>8}  {got:<16} {a['max_ms']:>8.1f}  {a['what']}")


if __name__ == "__main__":
    sys.exit(main())
