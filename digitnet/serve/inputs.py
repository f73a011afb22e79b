"""What /api/predict and /api/explain read: a JSON body of pixels, and request bodies within a size and a time limit.

Every refusal is a RequestError, a one-line message with the HTTP status to answer (see serve.py).
"""
import io
import json
import math

import numpy as np

from ..data.images import PIXELS, SIDE
from ..errors import DigitnetError
from ..ink import MIN_INK_PIXELS


class RequestError(DigitnetError):
    """A request the API refuses: a one-line message and the HTTP status to answer with."""

    def __init__(self, message, status=422):
        super().__init__(message)
        self.status = status



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
    except ValueError as e:  # an integer with more digits than Python converts (its message is advice to a coder)
        what = "a number has too many digits" if "digits" in str(e) else " ".join(str(e).split())[:200]
        raise RequestError(f"malformed JSON: {what}") from None
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
    image = np.asarray(flat, dtype=np.float32).reshape(SIDE, SIDE)
    inked = int(np.count_nonzero(image))
    if inked < MIN_INK_PIXELS:  # no digit to read: as to_mnist refuses a blank picture, not a guess
        raise RequestError(f"no digit found: the pixels are blank ({inked} of {PIXELS} above 0)")
    return image


class ClientGone(Exception):
    """The client hung up before its body was all sent, or before its picture was read: no response is owed
    (nor can one be delivered)."""


DRAIN = 1.0  # a body over the limit by up to DRAIN x the limit is read to its end (and dropped) before the 413


async def _read_body(request, limit, timeout):
    """The request body, refused with 413 when it exceeds `limit` bytes and with 408 when it has not all
    arrived within `timeout` seconds; ClientGone when the client hangs up.

    A body over the limit by at most DRAIN x the limit is read to its end and dropped before the 413 is sent:
    a server that closes the connection with part of the body unread makes the kernel reset it, which can
    destroy the answer before the client has read it (a 413 that arrives as "connection reset"). A larger
    body is refused at once (as soon as its Content-Length, or its size so far, says so)."""
    from anyio import fail_after
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared is not None and not declared.strip().isdigit():
        raise RequestError(f"invalid Content-Length {declared[:20]!r}", 400)
    over = RequestError(f"the request body is {int(declared):,} bytes; the limit is {limit:,}" if declared is not None
                        else f"the request body is over the {limit:,}-byte limit", 413)
    ceiling = limit * (1 + DRAIN)  # read (and dropped) up to here before the 413; beyond it, refused at once
    if declared is not None and int(declared) > ceiling:
        raise over
    chunks, size = [], 0
    of_expected = f" of {int(declared):,}" if declared is not None else ""
    try:
        with fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > ceiling:
                    raise over
                if size <= limit:
                    chunks.append(chunk)
    except TimeoutError:
        if size > limit:
            raise over from None
        raise RequestError(f"the request body did not arrive within {timeout:g} s "
                           f"({size:,}{of_expected} bytes came)", 408) from None
    except ClientDisconnect:
        raise ClientGone(f"the client hung up after sending {size:,}{of_expected} body bytes") from None
    if size > limit:
        raise over
    return b"".join(chunks)


def _named_bytes(data, name):
    """The bytes as a file object with a name, so that to_mnist's messages say which upload they mean."""
    f = io.BytesIO(data)
    f.name = name
    return f


def _upload_name(filename):
    shown = "".join(c for c in (filename or "") if c.isprintable()).strip()[:80]
    return f"the upload {shown!r}" if shown else "the upload"


def _closed(request, body):
    """Whether a multipart body ends with its closing boundary (--BOUNDARY--, then at most white space)."""
    from python_multipart.multipart import parse_options_header  # what Starlette's form parser reads it with

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary", b"")
    return bool(boundary) and body.rstrip().endswith(b"--" + boundary + b"--")


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
        if upload is None and not _closed(request, body):  # the parser drops a part cut short, unsaid
            raise RequestError("invalid multipart data: the body does not end with its closing boundary "
                               "(--BOUNDARY--): the form was cut short", 400)
        if upload is None:
            raise RequestError('the form has no field "image": send the picture as a file field named "image"')
        if isinstance(upload, str) or not hasattr(upload, "read"):
            raise RequestError('the form field "image" must be a file upload, not text', 422)
        return await upload.read(), _upload_name(getattr(upload, "filename", None))
