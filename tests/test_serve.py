"""`digitnet serve`: the FastAPI app in-process (TestClient): health, predictions from pixels and
uploads, every kind of bad input refused with a 4xx and a JSON message, and the click command; under
a real uvicorn on 127.0.0.1 (in a thread), clients that trickle their body or hang up half-way."""
import io
import json
import logging
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("PIL")
pytest.importorskip("python_multipart")
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

import digitnet
from digitnet.cli.serve import command as serve_command
from digitnet.data import load_sample
from digitnet.predict import predict_images
from digitnet.serve import MAX_UPLOAD_BYTES, create_app
from digitnet.serve import app as serve


@pytest.fixture(scope="session")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def client(model_file):
    # raise_server_exceptions: any unhandled error (a would-be 500) fails the test with its traceback
    with TestClient(create_app(model_file), raise_server_exceptions=True) as c:
        yield c


def large_png(pixels, size=280, fmt="PNG"):
    """An MNIST digit (white on black, 784 floats) as a big dark-on-light picture, the way a person draws."""
    grey = np.round(255 * (1 - np.asarray(pixels).reshape(28, 28))).astype(np.uint8)
    img = Image.fromarray(grey).resize((size, size), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def png_claiming(width, height, colour=0):
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def assert_error(response, status, *words):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


# ------------------------------------------------------------------------------------ the good path

def test_health_reports_the_model(client, sample):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    model = body["model"]
    assert model["architecture"] == "two-layer"
    assert model["dataset"] == sample.describe()
    assert 0.85 <= model["test_accuracy"] <= 1
    assert model["file"] == "model.npz"


def test_the_page_and_its_assets_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for needle in ('id="digit"', 'id="bars"', 'id="pad"', 'id="seen"', 'id="clear"', "/static/app.js",
                   "/static/style.css", 'name="viewport"'):
        assert needle in html
    assert "script-src 'self'" in r.headers["content-security-policy"]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    for needle in ("pointerdown", "setPointerCapture", "/api/predict", "toBlob", "FormData"):
        assert needle in js.text
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "touch-action: none" in css.text


def test_predict_from_json_pixels(client, sample):
    digits = []
    for i in range(20):
        r = client.post("/api/predict", json={"pixels": sample.x_test[i].tolist()})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"digit", "probabilities", "rejected", "preprocessed"}
        assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-6
        assert body["digit"] == int(np.argmax(body["probabilities"]))
        # the pixels are already MNIST's form: the network sees them as sent
        np.testing.assert_allclose(body["preprocessed"], sample.x_test[i], atol=1e-5)
        digits.append(body["digit"])
    assert digits[0] == sample.t_test[0]
    assert np.mean(np.array(digits) == sample.t_test[:20]) >= 0.85, (digits, sample.t_test[:20])


def test_28_rows_of_28_read_the_same_as_784(client, sample):
    flat = client.post("/api/predict", json={"pixels": sample.x_test[1].tolist()}).json()
    rows = client.post("/api/predict", json={"pixels": sample.x_test[1].reshape(28, 28).tolist()}).json()
    assert rows == flat


def test_predict_from_a_large_png_upload(client, sample, model_file):
    net = digitnet.load_model(model_file)[0]
    for i in range(5):
        data = large_png(sample.x_test[i])
        r = client.post("/api/predict", files={"image": ("digit.png", data, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["digit"] == sample.t_test[i]
        seen = np.array(body["preprocessed"]).reshape(28, 28)
        assert seen.max() == pytest.approx(1) and seen.min() >= 0
        # the same preparation and network as `digitnet predict`
        expected = predict_images(net, [data])[0]
        assert body["digit"] == expected["digit"]
        np.testing.assert_allclose(body["probabilities"], expected["probabilities"], atol=1e-6)


def test_a_raw_image_body_and_a_jpeg_work_too(client, sample):
    r = client.post("/api/predict", content=large_png(sample.x_test[2], fmt="JPEG"),
                    headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == sample.t_test[2]


def test_create_app_takes_a_net_or_what_load_model_returns(model_file, sample):
    net, header = digitnet.load_model(model_file)
    for model, accuracy in ((net, None), ((net, header), header["metadata"]["accuracy"]["test"])):
        with TestClient(create_app(model)) as c:
            info = c.get("/health").json()["model"]
            assert info["architecture"] == "two-layer" and info["test_accuracy"] == accuracy
            r = c.post("/api/predict", json={"pixels": sample.x_test[0].tolist()})
            assert r.json()["digit"] == sample.t_test[0]


def test_create_app_refuses_a_model_that_does_not_read_28x28_digits(tmp_path):
    with pytest.raises(digitnet.DigitnetError, match="784"):
        create_app(digitnet.TwoLayerNet(100, 10, 10))
    with pytest.raises(digitnet.DigitnetError, match="10 classes"):
        create_app(digitnet.TwoLayerNet(784, 10, 3))
    with pytest.raises(digitnet.ModelFileError, match="no such model file"):
        create_app(tmp_path / "missing.npz")


def test_create_app_refuses_readers_and_classifiers_that_do_not_read_28x28_digits():
    """Before: a reader of 100 inputs was taken, and every /api/read answered 422, blaming the client; a classifier
    of 100 inputs failed with NumPy's ValueError."""
    good, small, three = (digitnet.TwoLayerNet(784, 10, 10), digitnet.TwoLayerNet(100, 10, 10),
                          digitnet.TwoLayerNet(784, 10, 3))
    for kind in ("readers", "classifiers"):
        for bad, words in ((small, "784"), (three, "10 classes")):
            with pytest.raises(digitnet.DigitnetError, match=words):
                create_app(good, **{kind: [good, bad]})


# ------------------------------------------------------------------------------------- bad input

def nan_body():
    # Python's json writes NaN, which JSON does not have; a server must refuse it, not compute with it
    pixels = [0.0] * 784
    pixels[5] = float("nan")
    return json.dumps({"pixels": pixels})


BAD_JSON = [
    ("malformed", b'{"pixels": [0.1, 0.2', 422, ["malformed JSON"]),
    ("not UTF-8", b'{"pixels": "\xff"}', 422, ["malformed JSON"]),
    ("not an object", b"[0.5, 0.5]", 422, ["object"]),
    ("missing field", b'{"image": [0, 0]}', 422, ['missing field "pixels"']),
    ("not a list", b'{"pixels": "0.5"}', 422, ["784", "not a str"]),
    ("783 numbers", json.dumps({"pixels": [0.0] * 783}).encode(), 422, ["784", "783"]),
    ("28 rows of 27", json.dumps({"pixels": [[0.0] * 27] * 28}).encode(), 422, ["28 rows of 27"]),
    ("3-D", json.dumps({"pixels": [[[0.0] * 28] * 28]}).encode(), 422, ["784"]),
    ("NaN", nan_body().encode(), 422, ["NaN"]),
    ("Infinity", b'{"pixels": [Infinity' + b", 0" * 783 + b"]}", 422, ["Infinity"]),
    ("1e999", b'{"pixels": [1e999' + b", 0" * 783 + b"]}", 422, ["finite"]),
    ("255", json.dumps({"pixels": [255] * 784}).encode(), 422, ["pixel 0", "0..1"]),
    ("negative", json.dumps({"pixels": [0.0] * 783 + [-0.25]}).encode(), 422, ["pixel 783", "-0.25", "0..1"]),
    ("huge integer", b'{"pixels": [' + b"9" * 400 + b", 0" * 783 + b"]}", 422, ["0..1"]),
    ("5000-digit integer", b'{"pixels": [' + b"9" * 5000 + b", 0" * 783 + b"]}", 422,
     ["malformed JSON: a number has too many digits"]),  # not Python's advice to call sys.set_int_max_str_digits
    # a blank field was answered with a confident digit (a 1 at 69 %), where a blank picture is a 422
    ("blank pixels", json.dumps({"pixels": [0.0] * 784}).encode(), 422, ["no digit found", "blank", "0 of 784"]),
    ("one inked pixel", json.dumps({"pixels": [0.0] * 400 + [1.0] + [0.0] * 383}).encode(), 422,
     ["no digit found", "1 of 784"]),
    ("a string pixel", json.dumps({"pixels": ["0.5"] + [0] * 783}).encode(), 422, ["pixel 0", "not a number"]),
    ("a boolean pixel", json.dumps({"pixels": [[True] + [0] * 27] + [[0] * 28] * 27}).encode(), 422,
     ["pixel [0][0]", "not a number"]),
    ("a list among 784", json.dumps({"pixels": [[0.5]] + [0] * 783}).encode(), 422, ["pixel 0 is list"]),
    ("null pixel", json.dumps({"pixels": [0] * 100 + [None] + [0] * 683}).encode(), 422, ["pixel 100", "null"]),
    ("deep nesting", b'{"pixels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 422, []),
]


ROUTES = ["/api/predict", "/api/explain", "/api/read"]  # the same bodies, limits and errors


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("body,status,words", [case[1:] for case in BAD_JSON], ids=[case[0] for case in BAD_JSON])
def test_bad_json_is_refused_with_a_message(client, body, status, words, route):
    r = client.post(route, content=body, headers={"content-type": "application/json"})
    assert_error(r, status, *words)


def blank_png():
    buf = io.BytesIO()
    Image.new("L", (280, 280), 255).save(buf, "PNG")
    return buf.getvalue()


def real_bomb_png():
    """A real 6,400 x 6,400 PNG (41 megapixels, over to_mnist's 40) that compresses to about 50 KB."""
    buf = io.BytesIO()
    Image.new("L", (6400, 6400), 255).save(buf, "PNG")
    return buf.getvalue()


def truncated_png():
    whole = large_png(load_sample().x_test[0])
    return whole[:len(whole) // 2]


BAD_UPLOADS = [  # (name, a function making the bytes, status, words the message must hold)
    ("not an image", lambda: b"GIF? no, just some text\n" * 10, 415, ["not an image"]),
    ("empty file", lambda: b"", 415, ["empty", "not an image"]),  # 422 before: "not an image" is a 415
    ("EPS (PostScript)", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n{} loop\n", 415, ["not an image"]),
    ("truncated PNG", truncated_png, 422, ["unreadable"]),
    ("blank page", blank_png, 422, ["no digit"]),
    ("header claims 100000x100000", lambda: png_claiming(100_000, 100_000), 413, ["too large"]),
    ("RGBA 5000x5000: 100 MB decoded", lambda: png_claiming(5000, 5000, colour=6), 413, ["too large", "MB"]),
    ("real 41-megapixel image", real_bomb_png, 413, ["too large", "6400x6400"]),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("make,status,words", [case[1:] for case in BAD_UPLOADS], ids=[case[0] for case in BAD_UPLOADS])
def test_bad_uploads_are_refused_with_a_message(client, make, status, words, route):
    data = make()
    r = client.post(route, files={"image": ("drawing.png", data, "image/png")})
    message = assert_error(r, status, *words)
    if data:
        assert "drawing.png" in message  # says which upload it means


@pytest.mark.parametrize("route", ROUTES)
def test_an_oversize_body_is_refused_before_it_is_read(client, route):
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_UPLOAD_BYTES
    assert_error(client.post(route, files={"image": ("big.png", data, "image/png")}), 413, "limit")
    assert_error(client.post(route, content=data, headers={"content-type": "image/png"}), 413, "limit")


def test_an_oversize_body_without_content_length_is_cut_off_while_reading(model_file):
    sent = []

    def chunks():  # a chunked body: no Content-Length; the server must count as it reads
        for _ in range(100):
            sent.append(1)
            yield b"\0" * 1000

    with TestClient(create_app(model_file, max_upload_bytes=10_000)) as c:
        r = c.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert_error(r, 413, "10,000-byte limit")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_unsupported_content_types_are_refused(client, content_type, route):
    headers = {"content-type": content_type} if content_type else {}
    r = client.post(route, content=b"pixels=1", headers=headers)
    assert_error(r, 415, "multipart/form-data", "application/json")


def test_a_form_without_an_image_file_is_refused(client):
    assert_error(client.post("/api/predict", files={"picture": ("a.png", blank_png(), "image/png")}), 422, '"image"')
    r = client.post("/api/predict", files={"other": ("a.txt", b"x", "text/plain")}, data={"image": "not a file"})
    assert_error(r, 422, '"image"', "file")


def test_broken_multipart_is_a_400_not_a_500(client):
    r = client.post("/api/predict", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data"})
    assert_error(r, 400)
    files = {"image": ("a.png", blank_png(), "image/png"), "image2": ("b.png", blank_png(), "image/png")}
    assert_error(client.post("/api/predict", files=files), 400)  # one file per request


def test_a_multipart_body_cut_short_is_a_400_that_says_so(client, sample):
    """A form whose closing boundary was left off, or cut short in the picture, was told it had no field "image"
    (a 422 pointing at the wrong fix): the parser drops a part left open. Broken multipart is a 400, as a wrong
    boundary is."""
    head = (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    png = large_png(sample.x_test[0])
    headers = {"content-type": "multipart/form-data; boundary=XX"}
    for route in ("/api/predict", "/api/read"):
        assert client.post(route, content=head + png + b"\r\n--XX--\r\n", headers=headers).status_code == 200
        for body in (head + png + b"\r\n", head + png[:len(png) // 2]):
            assert_error(client.post(route, content=body, headers=headers), 400, "closing boundary")


def test_broken_multipart_leaves_no_stray_line_on_the_console(model_file):
    # a fresh interpreter, where no handler is set up (pytest sets some): python-multipart logged its refusal
    # ("Expected boundary character 45, got 103 at index 2"), and Python printed it bare on stderr
    code = ("from fastapi.testclient import TestClient; from digitnet.serve.app import create_app; "
            f"c = TestClient(create_app({str(model_file)!r})); "
            "r = c.post('/api/predict', content=b'garbage', "
            "headers={'content-type': 'multipart/form-data; boundary=XX'}); "
            "print(r.status_code)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, "400"), r.stderr
    assert r.stderr == ""


def test_other_routes_and_methods_answer_json_errors(client):
    r = client.get("/api/predict")
    assert_error(r, 405)
    assert r.headers["allow"] == "POST"
    assert_error(client.put("/api/predict", content=b"{}"), 405)
    assert_error(client.post("/api/nothing", json={"pixels": []}), 404)
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.get("/static/nothing.js"), 404)
    assert_error(client.post("/api/read/", json={"pixels": []}), 404)  # it was a bare 307 to /api/read
    head = client.head("/")  # it was a 405
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html") and not head.content


def test_a_bug_is_a_json_500_not_plain_text(model_file, sample):
    net = digitnet.load_model(model_file)[0]
    app = create_app(net)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    net.predict = net.infer = broken  # after create_app's first run of the model (serving runs infer)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/predict", json={"pixels": sample.x_test[0].tolist()})
        assert_error(r, 500, "internal server error")
        assert "a bug" not in r.text  # the details go to the server's log, not to the client


def test_a_model_whose_outputs_overflow_is_said_not_answered_with_nan(sample):
    """A model whose weights overflow (finite, so it loads) gave a 500 "internal server error" and a traceback on
    /api/predict and /api/read: its NaN probabilities could not be written as JSON. It is said now, in one line,
    a 500 as the server's model is at fault; the server still starts and answers /health. (One that overflows
    on a blank picture too is refused at start-up, as any model that cannot run is.)"""
    net = digitnet.pretrained("two-layer")
    for name in ("W1", "W2"):  # a blank picture still gives finite outputs (the biases alone), a digit infinite ones
        net.params[name][...] *= np.float32(1e30)
    with TestClient(create_app(net), raise_server_exceptions=True) as c:
        assert c.get("/health").json()["status"] == "ok"
        for route in ("/api/predict", "/api/read"):
            r = c.post(route, files={"image": ("digit.png", large_png(sample.x_test[0]), "image/png")})
            assert_error(r, 500, "outputs are not finite")
    from digitnet.committee import NotFinite

    net.params["b1"][...] = np.float32(1e30)
    with pytest.raises(NotFinite):
        create_app(net)


def test_the_server_still_answers_after_all_that(model_file, sample):
    # its own app, given every bad body above itself: true whichever tests run, in whatever order
    with TestClient(create_app(model_file), raise_server_exceptions=True) as c:
        for route in ROUTES:
            for _name, body, status, _ in BAD_JSON:
                assert c.post(route, content=body, headers={"content-type": "application/json"}).status_code == status
            for _name, make, status, _ in BAD_UPLOADS[:4]:  # the cheap ones
                assert c.post(route, files={"image": ("drawing.png", make(), "image/png")}).status_code == status
        assert c.get("/health").json()["status"] == "ok"
        r = c.post("/api/predict", json={"pixels": sample.x_test[0].tolist()})
        assert r.status_code == 200 and r.json()["digit"] == sample.t_test[0]


# ------------------------------------------------------------------------------ a real server

@contextmanager
def live_server(app):
    """`app` under uvicorn on a free 127.0.0.1 port, in a thread; yields the port. Logs go to the root
    logger (log_config=None), where caplog sees them."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(15)


def raw_post(port, body_length, close=False):
    """A socket that has sent the head of a JSON POST /api/predict announcing a body of body_length bytes;
    close: ask the server to close the connection after its answer (otherwise it is kept alive)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    close_header = "Connection: close\r\n" if close else ""
    sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {body_length}\r\n{close_header}\r\n".encode())
    return sock


def read_until_closed(sock):
    data = b""
    while more := sock.recv(65536):
        data += more
    return data


def wait_for(condition, seconds=20):
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


def test_a_body_trickled_in_past_the_deadline_is_a_408_and_the_connection_is_closed(model_file, sample):
    body = json.dumps({"pixels": sample.x_test[0].tolist()}).encode()
    # a deadline long enough for any body sent at once on a busy machine; the client below trickles for as
    # long as it takes the server to answer, never the whole body, so only the deadline can end the request
    with live_server(create_app(model_file, body_timeout=3.0)) as port:
        with raw_post(port, len(body)) as sock:
            sent = 0
            # 10 bytes, then up to 0.1 s waiting for the answer: a slow-loris client
            while sent < len(body) - 10 and not select.select([sock], [], [], 0.1)[0]:
                try:
                    sock.sendall(body[sent:sent + 10])
                except (BrokenPipeError, ConnectionResetError):
                    break  # answered and closed; the answer is still there to read
                sent += 10
            assert sent < len(body) - 10, "the server never answered"
            response = read_until_closed(sock)  # a timeout here: the server kept the connection open
        head, _, json_body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), response[:300]
        assert b"connection: close" in head.lower()
        message = json.loads(json_body)["error"]
        assert "did not arrive within 3 s" in message and f" of {len(body):,} bytes came" in message
        assert "\n" not in message

        # the same body sent at once is answered as usual
        with raw_post(port, len(body), close=True) as sock:
            sock.sendall(body)
            response = read_until_closed(sock)
        assert response.startswith(b"HTTP/1.1 200 "), response[:300]


def test_a_body_a_little_over_the_limit_is_read_to_its_end_so_that_the_413_is_not_lost(model_file):
    """The load test once got "connection reset" instead of a 413: the server answered and closed with part of a
    6 MiB body unread, and the kernel's reset destroyed the answer. A body up to twice the limit is now read to
    its end (and dropped) before the answer, so the client that sends it all first still reads the 413."""
    limit = 1_000_000
    with live_server(create_app(model_file, max_upload_bytes=limit)) as port:
        body = b"[" + b"0," * (limit // 4) + b"0]" + b" " * (limit // 2)  # 1.5 MB: far more than the socket buffers
        with raw_post(port, len(body)) as sock:
            sock.sendall(body)  # a reset here, or in the read below: the server closed with the body unread
            response = read_until_closed(sock)
        head, _, json_body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), response[:300]
        assert json.loads(json_body) == {"error": f"the request body is {len(body):,} bytes; the limit is {limit:,}"}
        with raw_post(port, 3 * limit) as sock:  # over twice the limit: refused at once, nothing of it read
            head, _, json_body = read_until_closed(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head.lower()
        assert json.loads(json_body)["error"] == f"the request body is {3 * limit:,} bytes; the limit is {limit:,}"


def test_a_client_hanging_up_mid_body_is_one_log_line_not_a_traceback(model_file, sample, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    body = json.dumps({"pixels": sample.x_test[0].tolist()}).encode()
    reading = threading.Event()
    read_body = serve._read_body

    async def read_body_and_say_so(request, *args, **kwargs):
        reading.set()
        return await read_body(request, *args, **kwargs)
    monkeypatch.setattr(serve, "_read_body", read_body_and_say_so)
    with live_server(create_app(model_file)) as port:
        with raw_post(port, len(body)) as sock:
            sock.sendall(body[:1000])
            assert reading.wait(60)  # the handler is reading the body when the client goes
        assert wait_for(lambda: any("hung up" in r.getMessage() for r in caplog.records)), caplog.text
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # and it goes on serving
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")
    hang_ups = [r.getMessage() for r in caplog.records if "hung up" in r.getMessage()]
    assert len(hang_ups) == 1 and re.search(rf"sending [\d,]+ of {len(body):,} body bytes", hang_ups[0]), hang_ups
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text and "ClientDisconnect" not in caplog.text
    assert " 500" not in caplog.text and "POST /api/predict HTTP/1.1" not in caplog.text  # no response logged


def test_a_reading_stops_when_its_client_hangs_up(model_file, sample, caplog, monkeypatch):
    """The server went on reading a picture whose client had gone (a scribble: seconds of a thread and the
    nets' lock for nobody). The reading now asks whether its client is there, and stops at its next batch."""
    caplog.set_level(logging.INFO)
    batches, classifying, taking_turns = [], threading.Event(), serve._TakingTurns.logits

    def logits(self, net, x):  # the reading's first batch waits until the server has noticed the hang-up
        batches.append(len(x))
        if self.gone is not None and len(batches) == 1:
            classifying.set()
            assert self.gone.wait(60), "the server did not notice its client hang up"
        return taking_turns(self, net, x)
    monkeypatch.setattr(serve._TakingTurns, "logits", logits)
    image = io.BytesIO()
    Image.fromarray((255 - 255 * sample.x_test[:3].reshape(3, 28, 28).transpose(1, 0, 2).reshape(28, 84))
                    .astype(np.uint8)).resize((252, 84)).save(image, format="PNG")
    body = image.getvalue()
    with live_server(create_app(model_file)) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(f"POST /api/read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert classifying.wait(60)  # the picture is being read ...
        sock.close()  # ... when the client goes
        assert wait_for(lambda: any("hung up while its picture was read" in r.getMessage() for r in caplog.records))
        assert len(batches) == 1  # the reading ended there
        with TestClient(create_app(model_file)) as client:  # the same picture, its client there: read whole
            r = client.post("/api/read", content=body, headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and len(r.json()["text"]) == 3 and len(batches) > 1, r.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text


# ------------------------------------------------------------------------------------ the command

def test_serve_command_runs_uvicorn_with_the_loaded_app(model_file, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: calls.append((self.config, sockets)))
    r = CliRunner().invoke(serve_command, [str(model_file), "--port", "0"])
    assert r.exit_code == 0, r.output
    (config, sockets), = calls
    port = sockets[0].getsockname()[1]
    sockets[0].close()
    assert f"http://127.0.0.1:{port}/" in r.output and port != 0 and "two-layer" in r.output
    assert config.host == "127.0.0.1" and config.port == port
    assert config.app.state.model_info["architecture"] == "two-layer"


def test_serve_command_reports_a_bad_model_in_one_line(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    r = CliRunner().invoke(serve_command, [str(bad)])
    assert r.exit_code == 1
    assert "Error:" in r.output and str(bad) in r.output and "Traceback" not in r.output


def test_serve_command_says_how_to_install_what_is_missing(model_file, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    r = CliRunner().invoke(serve_command, [str(model_file)])
    assert r.exit_code == 1
    assert "uvicorn" in r.output and "pip install 'digitnet[serve]'" in r.output


def test_importing_digitnet_and_its_serve_module_loads_no_web_framework():
    code = ("import sys, digitnet, digitnet.serve, digitnet.cli; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'PIL') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------ /api/explain

def test_explain_answers_the_reading_the_gradient_and_each_layer(client, sample, model_file):
    from digitnet.explain import input_gradient

    pixels = sample.x_test[0]
    net = digitnet.load_model(model_file)[0]
    body = {"pixels": [float(v) for v in pixels]}
    predicted = client.post("/api/predict", json=body).json()
    r = client.post("/api/explain", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert {k: data[k] for k in predicted} == predicted  # /api/predict's answer, and more
    assert data["target"] == data["digit"] and data["score"] == "logit"
    want = input_gradient(net, pixels.reshape(1, -1).astype(np.float32), data["digit"], "logit").reshape(-1)
    assert np.allclose(data["gradient"], want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
    assert data["gradient_max_abs"] == pytest.approx(np.abs(want).max(), rel=1e-5)
    assert [layer["name"] for layer in data["layers"]] == ["Affine1 + Relu1", "Affine2"]
    hidden, scores = data["layers"]
    assert hidden["kind"] == "affine" and hidden["shape"] == [net.params["W1"].shape[1]] and hidden["min"] >= 0
    assert np.allclose(scores["values"], net.predict(pixels.reshape(1, -1))[0], rtol=1e-4, atol=1e-4)
    for layer in data["layers"]:
        assert layer["image"].startswith("data:image/png;base64,")
        png = Image.open(io.BytesIO(__import__("base64").b64decode(layer["image"].split(",", 1)[1])))
        assert png.size == (layer["shape"][0], 1)  # an affine layer's units: a strip, one pixel each

    other = (data["digit"] + 3) % 10
    r = client.post(f"/api/explain?digit={other}&score=log-probability", json=body)
    assert r.status_code == 200 and r.json()["target"] == other and r.json()["score"] == "log-probability"
    want = input_gradient(net, pixels.reshape(1, -1).astype(np.float32), other, "log-probability").reshape(-1)
    assert np.allclose(r.json()["gradient"], want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_explain_from_an_upload_of_a_conv_net(sample):
    rng = np.random.default_rng(0)
    net = digitnet.SimpleConvNet(rng=rng, dtype=np.float32)
    with TestClient(create_app(net), raise_server_exceptions=True) as c:
        r = c.post("/api/explain?digit=4", files={"image": ("d.png", large_png(sample.x_test[1]), "image/png")})
    assert r.status_code == 200, r.text
    kinds = [(layer["kind"], layer["shape"]) for layer in r.json()["layers"]]
    assert kinds == [("conv", [30, 24, 24]), ("pool", [30, 12, 12]), ("affine", [100]), ("affine", [10])]
    png = Image.open(io.BytesIO(__import__("base64").b64decode(r.json()["layers"][0]["image"].split(",", 1)[1])))
    assert png.size == (8 * 25 - 1, 4 * 25 - 1)  # 30 maps of 24x24 as tiles, 8 to a row, 1 pixel apart


@pytest.mark.parametrize("query,words", [
    ("digit=10", ["digit must be 0 to 9", "'10'"]),
    ("digit=-1", ["digit must be 0 to 9"]),
    ("digit=seven", ["digit must be 0 to 9"]),
    ("digit=", ["digit must be 0 to 9"]),
    ("score=probability", ["score must be logit or log-probability", "'probability'"]),
    ("target=3", ["unknown query parameter 'target'"]),  # a 400 (below), as /api/predict's and /api/read's
    ("digit=" + "0" * 4300 + "3", []),  # zeros before a 3 are a 3: the answer is a 200 (below)
    ("digit=" + "9" * 4301, ["digit must be 0 to 9"]),  # int() of it raised ValueError: a 500
])
def test_explain_refuses_a_bad_query_in_one_line(client, sample, query, words):
    body = {"pixels": [float(v) for v in sample.x_test[0]]}
    if not words:
        r = client.post(f"/api/explain?{query}", json=body)
        assert r.status_code == 200 and r.json()["target"] == 3
        return
    assert_error(client.post(f"/api/explain?{query}", json=body), 400 if query == "target=3" else 422, *words)


def test_explain_explains_the_digit_it_answers_and_every_query_is_checked(sample):
    """With several nets answering, the explained target came from the first net alone, and could differ from
    the digit answered (a K: target 9, digit 1). /api/read ignored ?reject; a misspelt parameter did nothing."""
    from digitnet.pretrained import bundled_path, default_committee

    letter = (Path(__file__).parent / "fixtures" / "nondigits" / "letter-cap-K.png").read_bytes()
    app = create_app(bundled_path("fast-cnn"), classifiers=default_committee("predict"),
                     readers=default_committee("read"))
    with TestClient(app, raise_server_exceptions=True) as c:
        r = c.post("/api/explain", content=letter, headers={"content-type": "image/png"})
        assert r.status_code == 200 and r.json()["target"] == r.json()["digit"]
        upload = {"files": {"image": ("k.png", letter, "image/png")}}
        strict, free = c.post("/api/read", **upload).json(), c.post("/api/read?reject=false", **upload).json()
        assert "?" in strict["text"] and "?" not in free["text"] and not any(d["rejected"] for d in free["digits"])
        for route in ("/api/predict", "/api/read"):
            assert_error(c.post(f"{route}?rejct=false", **upload), 400, "unknown query parameter 'rejct'", route)
            assert_error(c.post(f"{route}?reject=maybe", **upload), 400, "give true or false")


def test_serve_command_without_a_model_serves_the_best_bundled_one(monkeypatch):
    import uvicorn

    from digitnet.pretrained import best_model_name

    calls = []

    def run(server, sockets=None):
        sockets[0].close()
        calls.append(server.config.app)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    r = CliRunner().invoke(serve_command, ["--port", "0"])
    assert r.exit_code == 0, r.output
    from digitnet.pretrained import committee_names

    # it said "using the bundled model fast-cnn" while three nets answered each route
    names = {task: committee_names(task) for task in ("predict", "read")}
    assert r.stderr.startswith(f"using the bundled models {', '.join(names['predict'])} together for /api/predict, "
                               f"{', '.join(names['read'])} for /api/read; 'Look inside' shows {best_model_name()}")
    assert calls[0].state.model_info["architecture"] == best_model_name()
    with TestClient(calls[0]) as c:
        assert c.get("/health").json()["committees"] == names
    from digitnet.pretrained import default_committee
    from digitnet.reader import reading_nets

    assert calls[0].state.predictor.readers is reading_nets()  # whole numbers: the bundled reading committee
    assert calls[0].state.predictor.classifiers is default_committee("predict")  # one digit: predict's
    r = CliRunner().invoke(serve_command, ["--model", "two-layer", "--port", "0"])
    assert r.exit_code == 0 and calls[1].state.model_info["architecture"] == "two-layer"
    assert r.stderr.startswith("using the bundled model two-layer (")
    with TestClient(calls[1]) as c:
        assert "committees" not in c.get("/health").json()
    predictor = calls[1].state.predictor
    assert predictor.readers.nets == predictor.classifiers.nets == (calls[1].state.net,)  # a model named: alone
    r = CliRunner().invoke(serve_command, ["some.npz", "--model", "two-layer"])
    assert r.exit_code == 2 and "two models" in r.stderr


# ------------------------------------------------------------------------------------ /api/read

@pytest.fixture(scope="module")
def bundled_client():
    from digitnet.pretrained import bundled_path

    with TestClient(create_app(bundled_path("deep-cnn")), raise_server_exceptions=True) as c:
        yield c


def test_read_refuses_a_long_wave_of_joined_ink_at_once(bundled_client):
    """A 17 KB PNG of a wave 6000 px long held the server for 45 s (every other request waited); now a 422."""
    x = np.arange(20, 5980, 3)
    img = Image.new("L", (6000, 400), 255)
    from PIL import ImageDraw

    ImageDraw.Draw(img).line(list(zip(x, 200 + 120 * np.sin(x / 40))), fill=0, width=24, joint="curve")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    r = bundled_client.post("/api/read", files={"image": ("wave.png", buf.getvalue(), "image/png")})
    assert_error(r, 422, "wave.png", "too much joined ink to read")


def test_read_answers_the_number_in_an_upload_the_json_and_a_raw_body(bundled_client, sample):
    from digitnet.data.numbers import compose

    picture = 255 - compose(sample.x_test[:4].reshape(-1, 28, 28), "separated", np.random.default_rng(0))
    truth = "".join(str(int(v)) for v in sample.t_test[:4])
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "PNG")
    for r in (bundled_client.post("/api/read", files={"image": ("number.png", buf.getvalue(), "image/png")}),
              bundled_client.post("/api/read", content=buf.getvalue(), headers={"content-type": "image/png"})):
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["text"] == truth and answer["specks"] == 0
        assert [d["value"] for d in answer["digits"]] == [int(c) for c in truth]
        for d in answer["digits"]:
            x0, y0, x1, y1 = d["box"]
            assert 0 <= x0 < x1 <= picture.shape[1] and 0 <= y0 < y1 <= picture.shape[0]
            assert picture[y0:y1, x0:x1].min() < 64 and d["rejected"] is False and d["line"] == 0
    one = bundled_client.post("/api/read", json={"pixels": sample.x_test[0].tolist()})  # MNIST pixels: one digit
    assert one.status_code == 200 and one.json()["text"] == str(int(sample.t_test[0]))
    blank = bundled_client.post("/api/read", json={"pixels": [1.0] * 784})  # named as the pixels, not "image"
    assert_error(blank, 422, "the request's pixels: no digit found")


def test_a_long_reading_lets_a_prediction_in_between_its_batches(model_file, monkeypatch):
    """A picture cut into a thousand candidate digits (a wide 7 drawn on the page: 1,089) took seconds to read, all
    of it under the nets' lock, so the page's digit (/api/predict) waited for the whole reading; the reading now
    takes the lock one batch of candidates at a time. The lock here lets a prediction in the first time the
    reading lets go of it, and the prediction must come before the reading's last batch."""
    from types import SimpleNamespace

    turns, predicted = [], threading.Event()

    class Turns:
        def __init__(self):
            self.lock = threading.Lock()

        def __enter__(self):
            self.lock.acquire()
            turns.append(threading.current_thread().name)

        def __exit__(self, *exc):
            self.lock.release()
            if threading.current_thread().name == "predicting":
                predicted.set()
            elif not predicted.is_set() and "predicting" not in [t.name for t in threading.enumerate()]:
                threading.Thread(target=lambda: predictor.judge(np.zeros(784)), name="predicting").start()
                predicted.wait(120)

    monkeypatch.setattr(serve, "threading", SimpleNamespace(Lock=Turns))
    predictor = serve.Predictor(digitnet.load_model(model_file)[0])
    monkeypatch.undo()
    turns.clear()  # the nets' first runs, made when the predictor is set up
    drawing = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(drawing).line([(60, 70), (220, 75), (200, 120)], fill=0, width=14)
    buf = io.BytesIO()
    drawing.save(buf, "PNG")
    reader = threading.Thread(target=lambda: predictor.read(buf.getvalue()), name="reading")
    reader.start()
    reader.join(300)
    assert predicted.is_set() and turns.count("reading") > 1
    assert "reading" in turns[turns.index("predicting"):], f"the prediction waited for the whole reading: {turns}"


def test_read_decodes_the_picture_before_it_takes_the_nets_lock(model_file, sample, monkeypatch):
    """The nets are run one request at a time. /api/read decoded its picture inside that lock, so a slow
    picture to decode held up every /api/predict; it is decoded and its ink found before the lock is taken."""
    import digitnet.reader as reader

    predictor = serve.Predictor(digitnet.load_model(model_file)[0])
    decoded, out, real = threading.Event(), [], reader.ink_of
    monkeypatch.setattr(reader, "ink_of", lambda image, name=None: (real(image, name), decoded.set())[0])
    worker = threading.Thread(target=lambda: out.append(predictor.read(large_png(sample.x_test[0]))))
    with predictor.lock:  # another request has the nets
        worker.start()
        assert decoded.wait(120), "the picture was not decoded while another request held the nets"
    worker.join(120)
    assert out and out[0].text == str(int(sample.t_test[0]))
