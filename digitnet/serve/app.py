"""`digitnet serve [--model NAME|PATH]`: a web page to draw a digit on, and the JSON API behind it.

    GET  /             the drawing page (static HTML, CSS and JS from digitnet/static; no build step)
    GET  /health       {"status": "ok", "model": {"architecture", "dataset", "test_accuracy", ...}} (the net "Look
                       inside" shows), and "committees": {"predict": [names], "read": [names]} when several
                       bundled nets answer (`digitnet serve` with no model named)
    POST /api/predict  one of
                         multipart/form-data with a file field "image" (PNG, JPEG, BMP, GIF, WebP, TIFF),
                         a raw image body (Content-Type image/* or application/octet-stream),
                         application/json {"pixels": [784 numbers in 0..1]} (or 28 rows of 28), white ink on
                           black as in MNIST, used as they are;
                       answers {"digit", "probabilities": [10 floats], "rejected", "preprocessed": [784 floats]}:
                       the model's calibrated probabilities, rejected true where it says "not a digit"
                       (calibration.py; ?reject=false never rejects), and the 28x28 image the network saw
                       (row by row). Images go through preprocess.to_mnist, as `digitnet predict`'s do.
    POST /api/explain  the same bodies, with the query ?digit=0..9 (default: the digit read) and
                       ?score=logit|log-probability (default logit); answers /api/predict's fields plus
                       {"target", "score", "gradient": [784 floats] (d score / d pixel, row by row),
                       "gradient_max_abs", "layers": [{"name", "kind": conv|pool|affine, "shape", "min", "max",
                       "image": a PNG data URL of the outputs (maps as tiles, units as a strip),
                       "values" (affine layers only)}]}; see digitnet/explain.py.
    POST /api/read     the same bodies (a whole number in the picture; JSON pixels are read as a picture);
                       answers reader.Reading's JSON {"text": "2024" (lines joined by "\n", '?' where the model
                       says "not a digit"; ?reject=false never), "digits": [{"value", "confidence", "box": [x0, y0,
                       x1, y1] in the picture's pixels, "rejected", "line"}], "specks", "rules"}; see
                       digitnet/reader.py.
    Any other query parameter is a 400 (a misspelt ?reject would otherwise change nothing without a word).

Every refusal is JSON {"error": "one line"} with a 4xx status: 413 for a body over the upload limit
(checked while reading; a body up to twice the limit is read to its end first, so that closing the
connection does not reset it before the client has read the answer) or an image over to_mnist's pixel
limit (decompression bombs), 408 for a body that has not all arrived BODY_TIMEOUT_S seconds after the
handler started reading it (a slow client),
415 for a body that is not an image or not a supported type, 422 for malformed JSON, wrong shapes, NaN
or out-of-range pixels and images with no digit in them, 400 for broken multipart. 404 and 405 are JSON
too, and so is the 500 of a bug (whose traceback the server logs). A client that hangs up in the middle
of its body, or while /api/read reads its picture, is owed nothing: the server logs one line and moves on
(the reading stops at its next batch of candidates). Only the requests uvicorn's own
HTTP parser refuses before the app sees them (an invalid Content-Length, a header over its size limit)
get uvicorn's plain-text 400.

FastAPI, uvicorn, python-multipart and Pillow are imported inside the functions, so `import digitnet`
stays NumPy-only; they come with `pip install 'digitnet[serve]'`.
"""
import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..committee import BATCH, Committee, NotFinite, as_committee
from ..data.images import CLASSES, PIXELS, SIDE
from ..errors import DigitnetError
from ..explain import explanation_json
from ..preprocess import ImageError, to_mnist
from .inputs import ClientGone, RequestError, _image_from_multipart, _named_bytes, _read_body, pixels_from_json

__all__ = ["create_app", "pixels_from_json", "MAX_UPLOAD_BYTES", "BODY_TIMEOUT_S", "RequestError"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the whole request body, multipart framing included
# The whole body must arrive within this many seconds, or 408: a client that trickles its body in
# cannot hold a request open. The page's drawings are a few KB; 5 MiB in 10 s needs about 4 Mbit/s.
BODY_TIMEOUT_S = 10.0
GONE_POLL_S = 0.2  # how often a long reading asks whether its client is still there
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
    if isinstance(error, NotFinite):  # the server's model is at fault, not the request: said, with no traceback
        return 500
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


class _TakingTurns(Committee):
    """The nets of /api/read, each batch of a reading's candidates classified under the lock on its own: a picture
    cut into a thousand candidates (a scribble, a wide 7: seconds) lets /api/predict and /api/explain in between.
    gone: a threading.Event set once the client has hung up (_while_connected); the next batch then ends the
    reading (ClientGone) rather than keep a thread and the nets busy for nobody."""

    def __init__(self, nets, lock, gone=None):
        super().__init__(nets)
        self.lock, self.gone = lock, gone

    def logits(self, net, x):
        x = np.asarray(x).reshape(len(x), -1)
        parts = []
        for i in range(0, len(x), BATCH):
            if self.gone is not None and self.gone.is_set():
                raise ClientGone("the client hung up while its picture was read: the reading was dropped")
            with self.lock:
                parts.append(Committee.logits(net, x[i:i + BATCH]))
        return np.concatenate(parts) if parts else Committee.logits(net, x)


class Predictor:
    """The network in inference mode. Its layers keep per-call state (masks, inputs), so the nets are used by one
    request at a time: a prediction or an explanation holds the lock throughout, a reading one batch at a time."""

    def __init__(self, net, readers=None, classifiers=None):
        self.net = net  # the one net "Look inside" shows
        self.readers = as_committee(net if readers is None else readers)  # the nets that read whole numbers
        self.classifiers = as_committee(net if classifiers is None else classifiers)  # ... and single digits
        self.dtype = np.result_type(*net.params.values()) if getattr(net, "params", None) else np.float32
        self.lock = threading.Lock()
        self._turns = _TakingTurns(self.readers.nets, self.lock)
        for one in dict.fromkeys((net, *self.readers.nets, *self.classifiers.nets)):  # each once, in order
            expected = one.input_size
            if expected != PIXELS:
                raise DigitnetError(f"the model takes {expected} inputs; the server feeds it 28x28 = {PIXELS} pixels")
            Committee.logits(one, np.zeros((1, PIXELS), dtype=np.float32))  # a first run: 10 classes, finite

    def __call__(self, image):
        """The ten calibrated probabilities of one 28x28 image."""
        return self.judge(image)[0]

    def judge(self, image, reject=True):
        """(the ten calibrated probabilities, whether the model says it is not a digit) of one 28x28 image."""
        x = np.asarray(image, dtype=self.dtype).reshape(1, PIXELS)
        with self.lock:  # a net whose outputs overflow raises NotFinite: a 500 that says so, not a traceback
            probabilities, rejected = self.classifiers.classify(x, reject=reject)
        return probabilities[0], bool(rejected[0])

    def read(self, image, reject=True, gone=None):
        """reader.read's Reading of a whole number in the picture (bytes with a name, or an array): the picture
        is decoded, its ink found and cut without the lock, which the nets take one batch of candidates at a time
        (_TakingTurns), so that neither a slow upload nor a long reading holds up other requests for long.
        gone: an Event set when the client hangs up, which ends the reading at its next batch (ClientGone)."""
        from ..reader import ink_of, read_ink

        ink, name, scale = ink_of(image, "the request's pixels" if isinstance(image, np.ndarray) else None)
        nets = self._turns if gone is None else _TakingTurns(self.readers.nets, self.lock, gone)
        return read_ink(ink, nets, reject=reject, name=name, scale=scale)

    def explain(self, image, digit, score):
        from ..explain import explain

        with self.lock:
            return explain(self.net, np.asarray(image, dtype=self.dtype).reshape(SIDE, SIDE), digit, score)


def _load(model):
    """(net, header, source name) from a model path, a (net, header) pair or a bare net."""
    from ..model_io import load_model

    if isinstance(model, (str, os.PathLike)):
        net, header = load_model(model)
        return net, header, os.path.basename(os.fsdecode(model))
    if isinstance(model, tuple) and len(model) == 2:
        return model[0], model[1], None
    return model, None, None


# -------------------------------------------------------------------------------------------- app

def error_response(status, message, headers=None):
    """Every refusal the server makes: JSON {"error": message} with its status."""
    from fastapi.responses import JSONResponse

    if status in (408, 413):  # the body is left unread: end the connection rather than read on
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def add_error_handlers(app):
    """Our errors, FastAPI's and Starlette's, and a bug's, all as error_response JSON."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    @app.exception_handler(DigitnetError)
    async def digitnet_error(request, exc):
        return error_response(error_status(exc), str(exc))

    @app.exception_handler(ClientGone)
    async def client_gone(request, exc):
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        logging.getLogger("uvicorn.error").info("%s - %s %s: %s", client, request.method, request.url.path, exc)
        return Response(status_code=400)  # never delivered: uvicorn drops a response to a closed connection

    @app.exception_handler(HTTPException)  # 404, 405, and Starlette's own refusals (broken multipart)
    async def http_error(request, exc):
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return error_response(422, "; ".join(str(e.get("msg", e)) for e in exc.errors()) or "invalid request")

    @app.exception_handler(Exception)  # a bug: JSON like every other error; the server still logs the traceback
    async def internal_error(request, exc):
        return error_response(500, "internal server error")


async def read_image(request):
    """The 28x28 image a request carries, read by its Content-Type (see the module's docstring), within the
    app's upload limit and body deadline."""
    from starlette.concurrency import run_in_threadpool

    data, name = await read_upload(request)
    if data is None:
        return name  # a JSON body: the pixels themselves
    return await run_in_threadpool(to_mnist, _named_bytes(data, name))


async def read_upload(request):
    """(bytes, name) of the image a request carries; (None, pixels) for a JSON body of pixels."""
    state = request.app.state
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in ("application/json", "multipart/form-data", "application/octet-stream") \
            and not kind.startswith("image/"):
        shown = f"Content-Type {kind!r}" if kind else "no Content-Type"
        raise RequestError(f"unsupported {shown}: send multipart/form-data with a file field \"image\", "
                           "an image/* body, or application/json {\"pixels\": [784 numbers in 0..1]}", 415)
    body = await _read_body(request, state.max_upload_bytes, state.body_timeout)
    if kind == "application/json":
        return None, pixels_from_json(body)
    if kind == "multipart/form-data":
        data, name = await _image_from_multipart(request, body)
    else:
        data, name = body, "the request body"
    if not data:
        raise RequestError(f"{name}: empty (0 bytes), not an image", 415)
    return data, name


def answer(probabilities, image, rejected=False):
    """/api/predict's answer: the digit, the ten (calibrated) probabilities, whether the model says it is not a
    digit at all, and the 28x28 image the network saw."""
    return {
        "digit": int(np.argmax(probabilities)),
        "probabilities": [float(p) for p in probabilities],
        "rejected": bool(rejected),
        "preprocessed": [round(float(v), 5) for v in np.asarray(image, dtype=np.float32).reshape(-1)],
    }


async def _while_connected(request, gone, work):
    """await work (a thread's), setting gone once the client has hung up: asked before it starts and every
    GONE_POLL_S seconds while it runs, as a reading of a scribble can take seconds."""
    import asyncio

    task = asyncio.ensure_future(work)
    while True:
        if not gone.is_set() and await request.is_disconnected():
            gone.set()
        done, _ = await asyncio.wait({task}, timeout=GONE_POLL_S)
        if done:
            return task.result()


def add_routes(app, predictor):
    """The page, /health, /api/predict, /api/read and /api/explain."""
    from fastapi import Request
    from fastapi.responses import FileResponse
    from starlette.concurrency import run_in_threadpool

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: what a link checker asks
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @app.get("/health")
    async def health():  # model: the one net "Look inside" shows; committees: the nets that answer, when several
        committees = {"committees": app.state.committees} if app.state.committees else {}
        return {"status": "ok", "model": app.state.model_info, **committees}

    @app.post("/api/predict")
    async def predict(request: Request):
        reject = reject_query(request.query_params, "/api/predict")
        image = await read_image(request)
        probabilities, rejected = await run_in_threadpool(predictor.judge, image, reject)
        return answer(probabilities, image, rejected)

    @app.post("/api/read")
    async def read_number(request: Request):
        """The number in the picture: /api/predict's bodies, limits and ?reject, reader.Reading's JSON."""
        reject = reject_query(request.query_params, "/api/read")
        data, name = await read_upload(request)
        image = name if data is None else _named_bytes(data, name)
        gone = threading.Event()
        return (await _while_connected(request, gone, run_in_threadpool(predictor.read, image, reject, gone))).to_json()

    @app.post("/api/explain")
    async def explain(request: Request):
        """/api/predict's answer and body, plus ?digit=0..9 (default: the digit read) and
        ?score=logit|log-probability."""
        digit, score = explain_query(request.query_params)
        image = await read_image(request)
        judged = await run_in_threadpool(predictor.judge, image)  # calibrated, as /api/predict answers
        digit = int(np.argmax(judged[0])) if digit is None else digit  # the digit it answers, not its first net's
        result = await run_in_threadpool(predictor.explain, image, digit, score)
        return {**explanation_json(result), **answer(judged[0], image, judged[1])}


def create_app(model, *, readers=None, classifiers=None, max_upload_bytes=MAX_UPLOAD_BYTES,
               body_timeout=BODY_TIMEOUT_S, committees=None):
    """The FastAPI app serving `model`: a model file path, a (net, header) pair from load_model, or a net.
    readers: the nets /api/read reads whole numbers with together (reader.read; default: the model alone);
    classifiers: the nets /api/predict reads one digit with together (committee.Committee; default: the
    model alone). "Look inside" always shows the model. committees: {"predict": names, "read": names} of those
    nets, for /health to report.

    The model is loaded (and run once) here, so a bad file fails at start-up with a ModelFileError /
    DigitnetError rather than on the first request.
    """
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    net, header, source = _load(model)
    predictor = Predictor(net, readers, classifiers)
    # no redirects from /api/read/ to /api/read: a bare 307 with no JSON, which a POST body may not follow
    app = FastAPI(title="digitnet", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.net, app.state.model_info, app.state.predictor = net, _model_info(net, header, source), predictor
    app.state.max_upload_bytes, app.state.body_timeout = max_upload_bytes, body_timeout
    app.state.committees = committees
    # python-multipart logs each broken upload it refuses and has no handler of its own, so Python printed the bare
    # message ("Expected boundary character 45, got 103 at index 2") beside uvicorn's log line for the 400
    multipart_log = logging.getLogger("python_multipart")
    if not multipart_log.handlers:  # once, however many apps are made
        multipart_log.addHandler(logging.NullHandler())
    add_error_handlers(app)
    add_routes(app, predictor)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ---------------------------------------------------------------------------------------- explain

def reject_query(params, path):
    """?reject=false (or 0, no): always name a digit, as predict --no-reject; anything else but true is a 400, and
    so is any other parameter (a misspelt one would otherwise change nothing without a word)."""
    unknown = sorted(set(params) - {"reject"})
    if unknown:
        raise RequestError(f"unknown query parameter {unknown[0][:30]!r}: {path} takes reject (true or false)", 400)
    value = params.get("reject", "true").strip().lower()
    if value not in ("true", "1", "yes", "false", "0", "no"):
        raise RequestError(f"reject={value[:20]!r}: give true or false", 400)
    return value in ("true", "1", "yes")


def explain_query(params):
    """(digit or None, score) from /api/explain's query string, refused with 422 when out of range (400 for a
    parameter it does not take, as reject_query)."""
    from ..explain import SCORES

    unknown = sorted(set(params) - {"digit", "score"})
    if unknown:
        raise RequestError(f"unknown query parameter {unknown[0][:30]!r}: /api/explain takes digit (0-9) and score "
                           f"({' or '.join(SCORES)})", 400)
    digit = params.get("digit")
    if digit is not None:
        value = digit.lstrip("0") or "0"  # "03" is 3; checked as text, since int() of 4,301 digits or more raises
        if not (digit.isascii() and digit.isdigit() and len(value) == 1 and int(value) < CLASSES):
            raise RequestError(f"digit must be 0 to {CLASSES - 1}, not {digit[:20]!r}")
        digit = int(value)
    score = params.get("score", "logit")
    if score not in SCORES:
        raise RequestError(f"score must be {' or '.join(SCORES)}, not {score[:30]!r}")
    return digit, score
