"""`digitnet serve MODEL`: a web page to draw a digit on, and the JSON API behind it.

    GET  /             the drawing page (static HTML, CSS and JS from digitnet/static; no build step)
    GET  /health       {"status": "ok", "model": {"architecture", "dataset", "test_accuracy", ...}}
    POST /api/predict  one of
                         multipart/form-data with a file field "image" (PNG, JPEG, BMP, GIF, WebP, TIFF),
                         a raw image body (Content-Type image/* or application/octet-stream),
                         application/json {"pixels": [784 numbers in 0..1]} (or 28 rows of 28), white ink on
                           black as in MNIST, used as they are;
                       answers {"digit", "probabilities": [10 floats], "preprocessed": [784 floats]}, the last
                       the 28x28 image the network saw (row by row). Images go through preprocess.to_mnist,
                       the same preparation as `digitnet predict` uses.

Every refusal is JSON {"error": "one line"} with a 4xx status: 413 for a body over the upload limit
(checked while reading) or an image over to_mnist's pixel limit (decompression bombs), 408 for a body
that has not all arrived BODY_TIMEOUT_S seconds after the handler started reading it (a slow client),
415 for a body that is not an image or not a supported type, 422 for malformed JSON, wrong shapes, NaN
or out-of-range pixels and images with no digit in them, 400 for broken multipart. 404 and 405 are JSON
too, and so is the 500 of a bug (whose traceback the server logs). A client that hangs up in the middle
of its body is owed nothing: the server logs one line and moves on. Only the requests uvicorn's own
HTTP parser refuses before the app sees them (an invalid Content-Length, a header over its size limit)
get uvicorn's plain-text 400.

FastAPI, uvicorn, python-multipart and Pillow are imported inside the functions, so `import digitnet`
stays NumPy-only; they come with `pip install 'digitnet[serve]'`.
"""
import io
import ipaddress
import json
import logging
import math
import os
import threading
from pathlib import Path

import click
import numpy as np

from .errors import DigitnetError
from .functions import softmax
from .preprocess import ImageError, to_mnist

__all__ = ["create_app", "serve_command", "pixels_from_json", "MAX_UPLOAD_BYTES", "BODY_TIMEOUT_S", "RequestError"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the whole request body, multipart framing included
# The whole body must arrive within this many seconds, or 408: a client that trickles its body in
# cannot hold a request open. The page's drawings are a few KB; 5 MiB in 10 s needs about 4 Mbit/s.
BODY_TIMEOUT_S = 10.0
SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10
INSTALL_HINT = "pip install 'digitnet[serve]'"
# The page loads its own script and style sheet and nothing else; it draws on canvases and fetches the API.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class RequestError(DigitnetError):
    """A request the API refuses: a one-line message and the HTTP status to answer with."""

    def __init__(self, message, status=422):
        super().__init__(message)
        self.status = status


def error_status(error):
    """The HTTP status for a digitnet error raised while answering a request."""
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, ImageError):
        return {"too-large": 413, "not-an-image": 415}.get(error.reason, 422)
    return 422


# ---------------------------------------------------------------------------------------- inputs

def _reject_constant(name):
    raise RequestError(f"pixels must be finite numbers: {name} is not allowed (and is not valid JSON)")


def _describe_shape(value):
    if not isinstance(value, list):
        return f"a {type(value).__name__}" if value is not None else "null"
    if value and all(isinstance(row, list) for row in value):
        lengths = sorted({len(row) for row in value})
        rows = f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]} to {lengths[-1]}"
        return f"{len(value)} rows of {rows}"
    return f"a list of {len(value)}"


def pixels_from_json(body):
    """The 28x28 float32 image in a JSON body {"pixels": [...]}: 784 numbers or 28 rows of 28, each in 0..1.

    Raises RequestError (422) with a message saying what is wrong; NaN and Infinity, which Python's
    json module writes but JSON does not have, are refused like any other non-number.
    """
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise RequestError("malformed JSON: the body is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RequestError(f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise RequestError(f"malformed JSON: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(data, dict):
        raise RequestError('the JSON body must be an object {"pixels": [784 numbers in 0..1]}, '
                           f"not {type(data).__name__ if data is not None else 'null'}")
    if "pixels" not in data:
        raise RequestError('missing field "pixels": send {"pixels": [784 numbers in 0..1]} (or 28 rows of 28)')
    pixels = data["pixels"]
    if isinstance(pixels, list) and len(pixels) == PIXELS:
        flat = pixels
    elif (isinstance(pixels, list) and len(pixels) == SIDE
          and all(isinstance(row, list) and len(row) == SIDE for row in pixels)):
        flat = [v for row in pixels for v in row]
    else:
        raise RequestError(f'"pixels" must be {PIXELS} numbers or {SIDE} rows of {SIDE}, '
                           f"not {_describe_shape(pixels)}")
    for i, v in enumerate(flat):
        where = f"pixel {i}" if flat is pixels else f"pixel [{i // SIDE}][{i % SIDE}]"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            shown = json.dumps(v) if not isinstance(v, (list, dict)) else type(v).__name__
            raise RequestError(f"{where} is {shown[:40]}, not a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise RequestError(f"{where} is {v}: pixels must be finite numbers")
        if not 0 <= v <= 1:
            shown = repr(v) if isinstance(v, float) or abs(v) < 10 ** 12 else "a huge number"
            raise RequestError(f"{where} is {shown}, outside 0..1 (scale 0..255 values by 1/255; "
                               "ink is 1, background 0)")
    return np.asarray(flat, dtype=np.float32).reshape(SIDE, SIDE)


class ClientGone(Exception):
    """The client hung up before its body was all sent: no response is owed (nor can one be delivered)."""


async def _read_body(request, limit, timeout):
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes and with 408
    when it has not all arrived within `timeout` seconds; ClientGone when the client hangs up."""
    from anyio import fail_after
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(f"invalid Content-Length {declared[:20]!r}", 400)
        if int(declared) > limit:
            raise RequestError(f"the request body is {int(declared):,} bytes; the limit is {limit:,}", 413)
    chunks, size = [], 0
    of_expected = f" of {int(declared):,}" if declared is not None else ""
    try:
        with fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestError(f"the request body is over the {limit:,}-byte limit", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestError(f"the request body did not arrive within {timeout:g} s "
                           f"({size:,}{of_expected} bytes came)", 408) from None
    except ClientDisconnect:
        raise ClientGone(f"the client hung up after sending {size:,}{of_expected} body bytes") from None
    return b"".join(chunks)


def _named_bytes(data, name):
    """The bytes as a file object with a name, so that to_mnist's messages say which upload they mean."""
    f = io.BytesIO(data)
    f.name = name
    return f


def _upload_name(filename):
    shown = "".join(c for c in (filename or "") if c.isprintable()).strip()[:80]
    return f"the upload {shown!r}" if shown else "the upload"


async def _image_from_multipart(request, body):
    """(bytes, name) of the multipart form's "image" file."""
    from starlette.requests import Request

    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async with Request(request.scope, replay).form(max_files=1, max_fields=16) as form:
        upload = form.get("image")
        if upload is None:
            raise RequestError('the form has no field "image": send the picture as a file field named "image"')
        if isinstance(upload, str) or not hasattr(upload, "read"):
            raise RequestError('the form field "image" must be a file upload, not text', 422)
        return await upload.read(), _upload_name(getattr(upload, "filename", None))


# ------------------------------------------------------------------------------------------ model

def _model_info(net, header, source):
    metadata = (header or {}).get("metadata") or {}
    accuracy = metadata.get("accuracy")
    test_accuracy = accuracy.get("test") if isinstance(accuracy, dict) else None
    return {
        "architecture": (header or {}).get("architecture") or getattr(net, "architecture", None) or type(net).__name__,
        "config": (header or {}).get("config", getattr(net, "config", None)),
        "dataset": metadata.get("dataset"),
        "test_accuracy": test_accuracy if isinstance(test_accuracy, (int, float)) else None,
        "file": source,
        "digitnet_version": (header or {}).get("digitnet_version"),
    }


class Predictor:
    """The network in inference mode. Its layers keep per-call state (masks, inputs), so calls are serialised."""

    def __init__(self, net):
        self.net = net
        self.dtype = np.result_type(*net.params.values()) if getattr(net, "params", None) else np.float32
        self.lock = threading.Lock()
        expected = int(np.prod(net.input_dim)) if hasattr(net, "input_dim") else int(net.params["W1"].shape[0])
        if expected != PIXELS:
            raise DigitnetError(f"the model takes {expected} inputs; the server feeds it 28x28 = {PIXELS} pixels")
        classes = len(self(np.zeros((SIDE, SIDE), dtype=np.float32)))  # also a first run before any request
        if classes != CLASSES:
            raise DigitnetError(f"the model has {classes} outputs; the server reads digits, {CLASSES} classes")

    def __call__(self, image):
        x = np.asarray(image, dtype=self.dtype).reshape(1, PIXELS)
        with self.lock:
            scores = self.net.predict(x, train_flg=False)
        return softmax(np.asarray(scores, dtype=np.float64))[0]


def _load(model):
    """(net, header, source name) from a model path, a (net, header) pair or a bare net."""
    from .model_io import load_model

    if isinstance(model, (str, os.PathLike)):
        net, header = load_model(model)
        return net, header, os.path.basename(os.fsdecode(model))
    if isinstance(model, tuple) and len(model) == 2:
        return model[0], model[1], None
    return model, None, None


# -------------------------------------------------------------------------------------------- app

def create_app(model, *, max_upload_bytes=MAX_UPLOAD_BYTES, body_timeout=BODY_TIMEOUT_S):
    """The FastAPI app serving `model`: a model file path, a (net, header) pair from load_model, or a net.

    The model is loaded (and run once) here, so a bad file fails at start-up with a ModelFileError /
    DigitnetError rather than on the first request.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    net, header, source = _load(model)
    predictor = Predictor(net)
    info = _model_info(net, header, source)

    app = FastAPI(title="digitnet", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.net, app.state.model_info = net, info
    app.state.max_upload_bytes, app.state.body_timeout = max_upload_bytes, body_timeout

    def error(status, message, headers=None):
        if status in (408, 413):  # the body is left unread: end the connection rather than read on
            headers = {**(headers or {}), "Connection": "close"}
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(DigitnetError)
    async def digitnet_error(request, exc):
        return error(error_status(exc), str(exc))

    @app.exception_handler(ClientGone)
    async def client_gone(request, exc):
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        logging.getLogger("uvicorn.error").info("%s - %s %s: %s", client, request.method, request.url.path, exc)
        return Response(status_code=400)  # never delivered: uvicorn drops a response to a closed connection

    @app.exception_handler(HTTPException)  # 404, 405, and Starlette's own refusals (broken multipart)
    async def http_error(request, exc):
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return error(422, "; ".join(str(e.get("msg", e)) for e in exc.errors()) or "invalid request")

    @app.exception_handler(Exception)  # a bug: JSON like every other error; the server still logs the traceback
    async def internal_error(request, exc):
        return error(500, "internal server error")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": info}

    @app.post("/api/predict")
    async def predict(request: Request):
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind not in ("application/json", "multipart/form-data", "application/octet-stream") \
                and not kind.startswith("image/"):
            shown = f"Content-Type {kind!r}" if kind else "no Content-Type"
            raise RequestError(f"unsupported {shown}: send multipart/form-data with a file field \"image\", "
                               "an image/* body, or application/json {\"pixels\": [784 numbers in 0..1]}", 415)
        body = await _read_body(request, max_upload_bytes, body_timeout)
        if kind == "application/json":
            image = pixels_from_json(body)
        else:
            if kind == "multipart/form-data":
                data, name = await _image_from_multipart(request, body)
            else:
                data, name = body, "the request body"
            if not data:
                raise RequestError(f"{name}: empty (0 bytes), not an image")
            image = await run_in_threadpool(to_mnist, _named_bytes(data, name))
        probabilities = await run_in_threadpool(predictor, image)
        return {
            "digit": int(np.argmax(probabilities)),
            "probabilities": [float(p) for p in probabilities],
            "preprocessed": [round(float(v), 5) for v in np.asarray(image, dtype=np.float32).reshape(-1)],
        }

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ------------------------------------------------------------------------------------------ command

def _missing_server_packages():
    from importlib.util import find_spec

    wanted = {"fastapi": "fastapi", "uvicorn": "uvicorn", "PIL": "pillow"}
    missing = [package for module, package in wanted.items() if find_spec(module) is None]
    if find_spec("python_multipart") is None and find_spec("multipart") is None:
        missing.append("python-multipart")
    return missing


def _url(host, port):
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


@click.command("serve")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines on your network in.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def serve_command(model, host, port):
    """Serve a page to draw digits on, read live by MODEL, and its JSON API (POST /api/predict).

    Open the printed address in a browser, draw a digit with the mouse, a pen or a finger, and watch
    the prediction, the ten probabilities and the 28x28 image the network sees.
    """
    missing = _missing_server_packages()
    if missing:
        raise click.ClickException(f"digitnet serve needs {', '.join(missing)}: {INSTALL_HINT}")
    import uvicorn

    try:
        app = create_app(model)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    info = app.state.model_info
    accuracy = f", test accuracy {100 * info['test_accuracy']:.2f}%" if info["test_accuracy"] is not None else ""
    click.echo(f"serving {model} ({info['architecture']}{accuracy}) at {_url(host, port)}  (Ctrl+C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: listening on {host}, not only this machine; anyone who can reach it can use the model",
                   err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
