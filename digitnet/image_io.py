"""Reading a picture into a greyscale array: a PNG, JPEG, BMP, GIF, WebP, TIFF or PPM file (or bytes, a file
object, a PIL image, a NumPy array), the first frame, EXIF orientation applied, transparency flattened, refusing
decompression bombs and formats that Pillow hands to other programs (FORMATS). preprocess.to_mnist and segment
start from load_grey's array.

Pillow is imported inside the functions, so `import digitnet` stays NumPy-only.
"""
import io
import math
import os
import warnings

import numpy as np

from .errors import DigitnetError

__all__ = ["ImageError", "MAX_PIXELS", "IMAGE_SUFFIXES", "describe", "load_grey"]

# The formats Pillow may open (JPEG: a phone's MPO too; PPM: also PGM and PBM), and what a folder's files of them end
# in. Not "any format Pillow reads": Pillow hands EPS to the Ghostscript program, which would run an upload's
# PostScript, with no time limit.
FORMATS = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "BMP": (".bmp",), "GIF": (".gif",), "WEBP": (".webp",),
           "TIFF": (".tif", ".tiff"), "PPM": (".ppm", ".pgm", ".pbm")}
IMAGE_SUFFIXES = tuple(suffix for suffixes in FORMATS.values() for suffix in suffixes)
MAX_PIXELS = 40_000_000    # refuse larger images before decoding them (decompression bombs)
WORK_MAX_SIDE = 1200       # larger images are box-reduced to about this before the pixel work ...
MIN_WORK_SIDE = 100        # ... but not so far that the shorter side falls under this (work_factor)
# Pillow keeps 4 bytes a pixel for RGB(A), CMYK, I and F: 40 megapixels of those would decode to 160 MB, and a
# server decodes several uploads at once. Refused above this many decoded bytes (1-byte grey: 40 MP still).
MAX_DECODED_BYTES = 64 * 1024 * 1024
MAX_STREAM_BYTES = 256 * 1024 * 1024  # a pipe's bytes are read into memory before decoding: at most this many


def work_factor(w, h):
    """How much a w x h picture is box-reduced before the pixel work: its longer side to about WORK_MAX_SIDE,
    unless that brings its shorter side under MIN_WORK_SIDE (a long strip of digits, 30000x300, became
    1200x12 and its digits specks), and never to more pixels than a WORK_MAX_SIDE square has."""
    by_side = -(-max(w, h) // WORK_MAX_SIDE)
    by_area = math.ceil(math.sqrt(w * h) / WORK_MAX_SIDE)
    return max(1, by_area, min(by_side, min(w, h) // MIN_WORK_SIDE))


def decoded_bytes(img):
    """What Pillow allocates to decode img at its (drafted) size, in the mode the pixel work first turns it into:
    a palette, 1-bit or grey picture with a transparent colour becomes RGBA, 16-bit pixels become I (4 bytes a
    pixel each; before, a 40-megapixel palette PNG of 51 KB passed as 40 MB and took 385 MB)."""
    per_pixel = 1 if img.mode in ("1", "L", "P") and "transparency" not in img.info else 4
    return img.size[0] * img.size[1] * per_pixel


class ImageError(DigitnetError):
    """An image cannot be read, is too large, or holds no digit (blank or near-blank).

    `reason` says which, for callers that answer differently (a web server's status codes):
    "missing" (no such file), "not-an-image" (not one of FORMATS, or empty), "unreadable"
    (damaged, truncated, unsupported pixels), "too-large" (over MAX_PIXELS: decompression bombs),
    "no-digit" (blank or near-blank), "too-complex" (so much joined ink that cutting it into digits would take
    minutes: segment.MAX_CANDIDATES)."""

    REASONS = ("missing", "not-an-image", "unreadable", "too-large", "no-digit", "too-complex")

    def __init__(self, message, reason="unreadable"):
        super().__init__(message)
        if reason not in self.REASONS:
            raise ValueError(f"unknown ImageError reason {reason!r}")
        self.reason = reason


def describe(image):
    """How messages name an image: its path, 'image bytes', or its file name."""
    if isinstance(image, (str, os.PathLike)):
        return os.fsdecode(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return "image bytes"
    return getattr(image, "filename", None) or getattr(image, "name", None) or "image"


def require_pillow():
    """DigitnetError (one line) when Pillow is missing."""
    try:
        import PIL  # noqa: F401  (only whether it imports)
    except ImportError:
        raise DigitnetError("reading images needs Pillow, which is not installed (pip install pillow)") from None


def _unreadable(name, e):
    return ImageError(f"{name}: unreadable image ({' '.join(str(e).split()) or type(e).__name__})")


def load_grey(image, name, *, with_size=False):
    """The picture as a float32 greyscale array in [0, 1], alpha flattened, EXIF orientation applied.

    Pictures larger than WORK_MAX_SIDE are reduced; with_size=True also returns the picture's own
    (width, height), as oriented, so that positions in the array can be given in the picture's pixels."""
    if isinstance(image, np.ndarray):
        grey = _array_grey(image, name)
        size = (grey.shape[1], grey.shape[0])
        factor = work_factor(*size)
        if factor > 1:  # as a file of it is (before, a 4000x3000 array was read at full size: 4 s against 1 s)
            require_pillow()
            from PIL import Image

            grey = np.asarray(Image.fromarray(grey).reduce(factor), dtype=np.float32)  # mode F: a box average
        return (grey, size) if with_size else grey
    require_pillow()
    from PIL import ImageOps

    img, size = _open_image(image, name)
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception:  # (a broken EXIF block: keep the picture as stored)
        turned = img
    if turned.size != img.size:  # turned by a quarter: the picture's own size turns too
        size = size[::-1]
    grey = _grey_array(turned, name)
    return (grey, size) if with_size else grey


def _check_source(image, name):
    """Refuse what is no image before Pillow sees it: a wrong type, a missing file, a folder, no bytes."""
    from PIL import Image

    is_bytes = isinstance(image, (bytes, bytearray, memoryview))
    is_path = isinstance(image, (str, os.PathLike))
    if not (isinstance(image, Image.Image) or is_bytes or is_path or hasattr(image, "read")):
        raise TypeError(f"to_mnist takes a path, bytes, a file object, a PIL.Image or a NumPy array, "
                        f"not {type(image).__name__}")
    if is_path and not os.path.isfile(image):
        if os.path.isdir(image):
            raise ImageError(_folder_problem(image, name), "not-an-image")
        problem = _path_problem(image)
        if problem:
            raise ImageError(f"{name}: {problem}", "missing")
        image, is_bytes, is_path = read_stream(image, name), True, False  # a pipe or a device: /dev/stdin, <(curl ...)
    if (is_bytes and len(image) == 0) or (is_path and os.path.getsize(image) == 0):
        raise ImageError(f"{name}: empty (0 bytes), not an image", "not-an-image")
    return io.BytesIO(bytes(image)) if is_bytes else image


def _path_problem(path):
    """Why a path that is neither a file nor a folder cannot be read, or None for a pipe or a device (readable)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return f"a broken link (to {os.readlink(path)}, which is not there)" if os.path.islink(path) else "no such file"
    except OSError as e:  # a link loop, a name too long, a folder on the way that cannot be entered
        return (e.strerror or str(e)).lower()
    return None


def read_stream(path, name):
    """The bytes of a pipe or a device, read once, up to MAX_STREAM_BYTES."""
    with open(path, "rb") as f:
        data = f.read(MAX_STREAM_BYTES + 1)
    if len(data) > MAX_STREAM_BYTES:
        raise ImageError(f"{name}: more than {MAX_STREAM_BYTES // 2**20} MB, too large to be an image", "too-large")
    return data


def _folder_problem(folder, name):
    """What is wrong with reading a folder as an image: it holds images (give them, or the folder to the command
    line), or none at all."""
    try:
        held = any(e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES for e in os.scandir(folder))
    except PermissionError:
        return f"{name}: a folder that cannot be read (permission denied)"
    except OSError:
        held = True
    return f"{name}: a folder, not an image file" if held else \
        f"{name}: no image files in this folder ({', '.join(IMAGE_SUFFIXES)})"


def _open_image(image, name):
    """(the decoded PIL image (a file's first frame, a big JPEG file decoded at reduced size; a PIL.Image as
    handed, at its own frame), its (width, height) as stored), refusing decompression bombs."""
    from PIL import Image, UnidentifiedImageError

    source = _check_source(image, name)
    try:
        given = isinstance(source, Image.Image)  # the caller's: its frame as handed, and never changed (draft)
        if given:
            img = source
        else:
            with warnings.catch_warnings():
                # Pillow warns from 89 megapixels on; our own limit below refuses those anyway.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(source, formats=tuple(FORMATS))  # reads the header only
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"{name}: {w}x{h} pixels is too large (limit {MAX_PIXELS // 1_000_000} "
                             "megapixels); refused as a possible decompression bomb", "too-large")
        if w < 1 or h < 1:
            raise ImageError(f"{name}: the image has no pixels ({w}x{h})")
        if not given and getattr(img, "is_animated", False):  # not n_frames: Pillow walks every page for it, in
            img.seek(0)  # time that grows as their square (a 5 MB TIFF of 45,000 pages: 18 s); the first frame
        factor = work_factor(w, h)
        if factor > 1 and img.format == "JPEG" and not given:
            # decode a big JPEG at reduced size, at least 1 px a side (Pillow divides by the size asked for)
            img.draft(img.mode, (max(1, w // factor), max(1, h // factor)))
        if decoded_bytes(img) > MAX_DECODED_BYTES:
            raise ImageError(f"{name}: {w}x{h} {img.mode} pixels would take {decoded_bytes(img) / 2**20:.0f} MB to "
                             f"decode (limit {MAX_DECODED_BYTES // 2**20} MB); refused as too large", "too-large")
        img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: the image is too large (over {MAX_PIXELS // 1_000_000} megapixels); "
                         "refused as a possible decompression bomb", "too-large") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file digitnet reads ({', '.join(FORMATS)})", "not-an-image") from None
    except Exception as e:  # (SyntaxError, EOFError, struct.error, TypeError...: all unreadable)
        raise _unreadable(name, e) from None
    return img, (w, h)


def _grey_array(img, name):
    """A decoded PIL image as float32 grey in [0, 1], box-reduced by work_factor first."""
    try:
        factor = work_factor(*img.size)
        if factor > 1:  # reduce before any full-size copies are made
            if img.mode in ("1", "P", "PA") or img.mode.startswith("I;16"):
                has_alpha = "A" in img.getbands() or "transparency" in img.info
                img = img.convert("I" if img.mode.startswith("I;16") else "RGBA" if has_alpha else "L")
            img = img.reduce(factor)  # box average (alpha-weighted): anti-aliased, thin strokes kept as grey
        img = _flatten(img)
    except (OSError, ValueError) as e:  # a pixel format Pillow cannot convert
        raise _unreadable(name, e) from None
    if img.mode == "F":
        a = _unit_floats(np.asarray(img, dtype=np.float32))
    elif img.mode == "I":  # 16-bit: by its own top, so that 10- or 12-bit data in a 16-bit file is not taken as faint
        a = np.asarray(img, dtype=np.float32)
        a = a / max(255.0, float(a.max()) if a.size else 0.0)
    else:
        a = np.asarray(img, dtype=np.float32) / 255.0
    return np.clip(np.nan_to_num(a), 0.0, 1.0)


def _flatten(img):
    """One grey band (L, I or F): transparency composited on white, or on black when only that shows the ink."""
    from PIL import Image

    mode = img.mode
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if not has_alpha:
        if mode in ("L", "F", "I"):
            return img
        if mode.startswith("I;16"):
            return img.convert("I")
        return img.convert("RGB").convert("L") if mode not in ("RGB", "1") else img.convert("L")
    rgba = img.convert("RGBA")
    composites = []
    for paper in ((255, 255, 255, 255), (0, 0, 0, 255)):
        composites.append(Image.alpha_composite(Image.new("RGBA", rgba.size, paper), rgba).convert("L"))
    ranges = [hi - lo for lo, hi in (c.getextrema() for c in composites)]
    # Dark ink on a transparent background shows on white; white ink only shows on black.
    return composites[0] if ranges[0] >= ranges[1] else composites[1]


def _unit_floats(a):
    """Floats in [0, 1] as they are; floats that go above 1 (0-255 from np.asarray(picture, float), or any
    other range) divided by their largest finite value."""
    finite = a[np.isfinite(a)]
    top = float(finite.max()) if finite.size else 0.0
    return a / top if top > 1 else a


def _array_grey(a, name):
    a = np.asarray(a)
    if a.ndim in (2, 3) and a.shape[0] * a.shape[1] > MAX_PIXELS:  # before the float copies (20000x20000: 3 GB)
        raise ImageError(f"{name}: {a.shape[1]}x{a.shape[0]} pixels is too large (limit "
                         f"{MAX_PIXELS // 1_000_000} megapixels)", "too-large")
    if a.dtype == np.uint8:
        if a.size and a.max() == 1:  # before: "the image is blank", which left the user guessing why
            raise ImageError(f"{name}: no digit found: a uint8 array of only 0s and 1s is near-black (uint8 runs "
                             "0-255); a 0/1 mask goes as bool, or times 255", "no-digit")
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        a = a.astype(np.float32) / (max(1, int(a.max())) if a.size else 1)
    else:
        a = _unit_floats(a.astype(np.float32))
    if a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if a.shape[2] == 4:
            alpha = a[..., 3]
            on_white, on_black = rgb * alpha + (1 - alpha), rgb * alpha
            rgb = on_white if np.ptp(on_white) >= np.ptp(on_black) else on_black
        a = rgb
    if a.ndim != 2 or a.size == 0:
        raise ImageError(f"{name}: an image array must be 2-D (grey) or H x W x 3/4 (colour), not shape {a.shape}")
    return np.clip(np.nan_to_num(a), 0.0, 1.0)
