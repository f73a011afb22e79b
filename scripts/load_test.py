#!/usr/bin/env python3
"""Load and abuse test of `digitnet serve`, on 127.0.0.1 only, bounded in requests and time.

    python scripts/load_test.py MODEL [--requests 2000] [--clients 8]

Starts the server on a free loopback port, sends --requests POST /api/predict requests (real digits
as JSON pixels) from --clients threads, and after every 20th good request one abusive one (oversize
body, non-image bytes, an image claiming 100,000 x 100,000 pixels, wrong JSON shape, a NaN pixel, a
truncated PNG). Good requests must answer 200, abusive ones their 4xx; any 5xx, wrong status or
connection error counts as an error. Prints requests/s and latency percentiles; exits 1 on any error.
"""
import argparse
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np

DEADLINE_S = 300


def png_header_claiming(width, height):
    """A valid PNG signature and IHDR for a huge image, followed by nothing: a decompression-bomb probe."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def abusive_requests():
    """(name, body, content type, expected status or statuses)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buf, "PNG")
    truncated_png = buf.getvalue()[:40]
    return [
        ("oversize body", b"x" * (6 * 1024 * 1024), "application/octet-stream", 413),
        ("non-image bytes", b"this is not an image" * 10, "application/octet-stream", 415),
        # Pillow cannot even identify a header with no image data: "not an image" (415) is a fair answer too
        ("image bomb header", png_header_claiming(100_000, 100_000), "image/png", (413, 415)),
        ("wrong JSON shape", json.dumps({"pixels": [0.5] * 100}).encode(), "application/json", 422),
        ("NaN pixel", ("{\"pixels\": [NaN" + ", 0.0" * 783 + "]}").encode(), "application/json", 422),
        ("malformed JSON", b"{\"pixels\": [0.1, ", "application/json", 422),
        ("truncated PNG", truncated_png, "image/png", (415, 422)),
    ]


def request(port, body, content_type, path="/api/predict", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type} if body is not None else {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    from digitnet.data import load_sample

    digits = load_sample().x_test[:200]
    bodies = [json.dumps({"pixels": d.tolist()}).encode() for d in digits]
    abuse = abusive_requests()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", args.model, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    start = time.monotonic()
    try:
        while True:
            try:
                if request(port, None, None, "/health", "GET") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - start > 60 or server.poll() is not None:
                sys.exit(f"the server did not start: {server.stderr.read().decode() if server.poll() is not None else ''}")
            time.sleep(0.1)

        latencies, errors, abuse_seen, lock = [], [], {}, threading.Lock()
        counter = iter(range(args.requests))
        deadline = time.monotonic() + DEADLINE_S

        def client():
            for i in counter:
                if time.monotonic() > deadline:
                    return
                t0 = time.perf_counter()
                try:
                    status = request(port, bodies[i % len(bodies)], "application/json")
                except OSError as e:
                    status = f"{type(e).__name__}"
                elapsed = time.perf_counter() - t0
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"good request {i}: {status}")
                if i % 20 == 19:
                    name, body, ctype, expected = abuse[(i // 20) % len(abuse)]
                    try:
                        status = request(port, body, ctype)
                    except OSError as e:
                        status = f"{type(e).__name__}"
                    with lock:
                        abuse_seen.setdefault(name, set()).add(status)
                        if status not in (expected if isinstance(expected, tuple) else (expected,)):
                            errors.append(f"{name}: {status}, expected {expected}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        health = request(port, None, None, "/health", "GET")
    finally:
        server.terminate()
        server.wait(timeout=30)

    lat = np.array(latencies) * 1000
    print(f"model {args.model}: {len(latencies):,} good requests from {args.clients} clients in {wall:.1f} s "
          f"= {len(latencies) / wall:.0f} requests/s (abusive ones interleaved)")
    if len(lat):
        print(f"latency ms: p50 {np.percentile(lat, 50):.1f}  p95 {np.percentile(lat, 95):.1f}  "
              f"p99 {np.percentile(lat, 99):.1f}  max {lat.max():.1f}")
    for name, body, ctype, expected in abuse:
        print(f"  {name:18} -> {sorted(map(str, abuse_seen.get(name, {'not sent'})))} (expected {expected})")
    print(f"/health afterwards: {health}; errors: {len(errors)}")
    for e in errors[:10]:
        print("  " + e)
    return 1 if errors or health != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
