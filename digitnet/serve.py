"""`digitnet serve [--model NAME|PATH]`: a web page to draw a digit on, and the JSON API behind it.

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
    POST /api/explain  the same bodies, with the query ?digit=0..9 (default: the digit read) and
                       ?score=logit|log-probability (default logit); answers /api/predict's fields plus
                       {"target", "score", "gradient": [784 floats] (d score / d pixel, row by row),
                       "gradient_max_abs", "layers": [{"name", "kind": conv|pool|affine, "shape", "min", "max",
                       "image": a PNG data URL of the outputs (maps as tiles, units as a strip),
                       "values" (affine layers only)}]}; see digitnet/explain.py.

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
import ipaddress
import logging
import os
import threading
from pathlib import Path

import click
import numpy as np

from .errors import DigitnetError
from .explain import explanation_json
from .functions import softmax
from .preprocess import ImageError, to_mnist
from .serve_inputs import (ClientGone, RequestError, _image_from_multipart, _named_bytes, _read_body,
                           pixels_from_json)

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


def error_status(error):
    """The HTTP status for a digitnet error raised while answering a request."""
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, ImageError):
        return {"too-large": 413, "not-an-image": 415}.get(error.reason, 422)
    return 422


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

    def explain(self, image, digit, score):
        from .explain import explain

        with self.lock:
            return explain(self.net, np.asarray(image, dtype=self.dtype).reshape(SIDE, SIDE), digit, score)


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

    async def read_image(request):
        """The 28x28 image a request carries, read by its Content-Type (see the module's docstring)."""
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind not in ("application/json", "multipart/form-data", "application/octet-stream") \
                and not kind.startswith("image/"):
            shown = f"Content-Type {kind!r}" if kind else "no Content-Type"
            raise RequestError(f"unsupported {shown}: send multipart/form-data with a file field \"image\", "
                               "an image/* body, or application/json {\"pixels\": [784 numbers in 0..1]}", 415)
        body = await _read_body(request, max_upload_bytes, body_timeout)
        if kind == "application/json":
            return pixels_from_json(body)
        if kind == "multipart/form-data":
            data, name = await _image_from_multipart(request, body)
        else:
            data, name = body, "the request body"
        if not data:
            raise RequestError(f"{name}: empty (0 bytes), not an image")
        return await run_in_threadpool(to_mnist, _named_bytes(data, name))

    def answer(probabilities, image):
        return {
            "digit": int(np.argmax(probabilities)),
            "probabilities": [float(p) for p in probabilities],
            "preprocessed": [round(float(v), 5) for v in np.asarray(image, dtype=np.float32).reshape(-1)],
        }

    @app.post("/api/predict")
    async def predict(request: Request):
        image = await read_image(request)
        return answer(await run_in_threadpool(predictor, image), image)

    @app.post("/api/explain")
    async def explain(request: Request):
        """/api/predict's answer and body, plus ?digit=0..9 (default: the digit read) and ?score=logit|log-probability."""
        digit, score = explain_query(request.query_params)
        image = await read_image(request)
        result = await run_in_threadpool(predictor.explain, image, digit, score)
        return {**answer(result["probabilities"], image), **explanation_json(result)}

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ---------------------------------------------------------------------------------------- explain

def explain_query(params):
    """(digit or None, score) from /api/explain's query string, refused with 422 when out of range."""
    from .explain import SCORES

    unknown = sorted(set(params) - {"digit", "score"})
    if unknown:
        raise RequestError(f"unknown query parameter {unknown[0]!r}: /api/explain takes digit (0-9) and score "
                           f"({' or '.join(SCORES)})")
    digit = params.get("digit")
    if digit is not None:
        if not (digit.isascii() and digit.isdigit() and int(digit) < CLASSES):
            raise RequestError(f"digit must be 0 to {CLASSES - 1}, not {digit[:20]!r}")
        digit = int(digit)
    score = params.get("score", "logit")
    if score not in SCORES:
        raise RequestError(f"score must be {' or '.join(SCORES)}, not {score[:30]!r}")
    return digit, score


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
@click.argument("model_file", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="[MODEL]")
@click.option("--model", "model", metavar="NAME|PATH",
              help="A bundled model's name (see `digitnet models`) or a model file. Default: the best bundled model.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines on your network in.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def serve_command(model_file, model, host, port):
    """Serve a page to draw digits on, read live by a model, and its JSON API (POST /api/predict, /api/explain).

    Open the printed address in a browser, draw a digit with the mouse, a pen or a finger, and watch
    the prediction, the ten probabilities, the 28x28 image the network sees, and (Look inside) each
    layer's output and which pixels push toward each digit. MODEL (a model file) is the same as --model.
    """
    missing = _missing_server_packages()
    if missing:
        raise click.ClickException(f"digitnet serve needs {', '.join(missing)}: {INSTALL_HINT}")
    if model_file is not None and model is not None:
        raise click.UsageError(f"two models: {model_file} and --model {model}; give one")
    import uvicorn

    from .pretrained import resolve_model

    try:
        model, description = resolve_model(model if model_file is None else model_file)
        if description.startswith("bundled"):
            click.echo(f"using the {description}", err=True)
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
