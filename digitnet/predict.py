"""Read handwritten digits from image files with a trained network: predict_images() and `digitnet predict`.

Each image goes through preprocess.to_mnist (the 28x28 MNIST form), then net.predict and the model's
calibrated softmax (calibration.confidence_of: its temperature, and "not a digit" below its threshold).
Pillow is imported only when an image is read. The command reads files and folders of them, with the
bundled models of the manifest's "predict" committee together unless --model names one
(pretrained.resolve_model), and can draw why
(explain.explanation_png).
"""
import os
from pathlib import Path

import numpy as np

from .committee import as_committee
from .data.images import PIXELS
from .errors import DigitnetError
from .image_io import IMAGE_SUFFIXES
from .model_io import save_png
from .preprocess import ImageError, to_mnist

__all__ = ["predict_images", "iter_predictions", "top_k", "expand_folders", "IMAGE_SUFFIXES"]


def _label(image, index):
    """How a result names its input: the path as given, else the PIL image's file, else its position."""
    if isinstance(image, (str, os.PathLike)):
        return os.fsdecode(image)
    name = getattr(image, "filename", None) or getattr(image, "name", None)
    return name if isinstance(name, str) and name else f"<image {index}>"


def predict_images(net, images, *, on_error="raise", keep_images=False, batch_size=256, reject=True):
    """One dict per image, in order: {"file", "digit", "probabilities", "rejected"} (probabilities: one float
    per class, calibrated; rejected: true when the model says it is not a digit, never with reject=False).

    net: a loaded net, a bundled model's name or a model file's path (as `--model`), or several (a list, a
    tuple or a committee.Committee) that read together: the mean of their calibrated probabilities, the first
    one's "not a digit".
    images: paths, bytes, file objects, PIL images or arrays, anything preprocess.to_mnist takes (one path or
    bytes alone is one image).
    on_error: "raise" raises the first ImageError; "report" gives that image {"file", "error"} instead
    and goes on with the others. keep_images: add "image", the 28x28 float32 array the network saw.
    A list of them all; iter_predictions gives them as they come.
    """
    return list(iter_predictions(net, images, on_error=on_error, keep_images=keep_images, batch_size=batch_size,
                                 reject=reject))


def iter_predictions(net, images, *, on_error="raise", keep_images=False, batch_size=256, reject=True):
    """predict_images's dicts one by one, in order, batch_size pictures at a time: a folder of 12,000 pictures
    is read in batches and its first answers come before its last picture is opened (predict_images held
    them all, 401 MB, and `digitnet predict` printed nothing until the end)."""
    if on_error not in ("raise", "report"):
        raise ValueError(f"on_error must be 'raise' or 'report', not {on_error!r}")
    from .pretrained import named_nets

    committee = as_committee(named_nets(net))
    if isinstance(images, (str, bytes, os.PathLike)):  # one image, not a sequence of its characters
        images = [images]
    for one in committee.nets:
        if one.input_size != PIXELS:
            raise DigitnetError(f"the model takes {one.input_size} inputs; images become 28x28 = {PIXELS}")
    batch = []
    for i, image in enumerate(images):
        batch.append(_prepared(image, i, on_error, keep_images))
        if len(batch) == batch_size:
            yield from _classified(committee, batch, reject)
            batch = []
    yield from _classified(committee, batch, reject)


def _prepared(image, index, on_error, keep_images):
    """(record, the 28x28 pixels or None): the image made ready for the net, or its error recorded."""
    record = {"file": _label(image, index)}
    try:
        pixels = to_mnist(image)
    except ImageError as e:
        if on_error == "raise":
            raise
        record["error"] = str(e)
        return record, None
    if keep_images:
        record["image"] = pixels
    return record, pixels


def _classified(committee, batch, reject):
    """The batch's records, in order, those with pixels given the committee's answer."""
    ready = [(record, pixels) for record, pixels in batch if pixels is not None]
    if ready:
        probs, rejected = committee.classify(np.stack([p.reshape(-1) for _, p in ready]), reject=reject)
        for (record, _), p, no in zip(ready, probs, rejected):
            record["digit"] = int(p.argmax())
            record["probabilities"] = [float(v) for v in p]
            record["rejected"] = bool(no)
    for record, _ in batch:
        yield record


def top_k(probs, k=3):
    """[(class, probability), ...] for the k most probable classes, most probable first."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(c), float(p[c])) for c in order]


def _save_preprocessed(pixels, folder, source, used, suffix=".28x28.png", write=True):
    """Write the 28x28 the network saw as an 8-bit grey PNG (white ink on black, as MNIST); with
    write=False only choose the path (a name not yet in `used`)."""
    from PIL import Image

    stem = Path(source).stem if not source.startswith("<") else "image"
    name, n = f"{stem}{suffix}", 2
    while name in used:
        name, n = f"{stem}-{n}{suffix}", n + 1
    used.add(name)
    path = folder / name
    if not write:
        return path
    return save_png(Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)), path)  # uint8: mode L


def expand_folders(paths, notes=None):
    """The paths, each folder replaced by the image files in it (by suffix, sorted by name; not recursive). A
    folder with none stays as it is, so that reading it reports it (image_io: "no image files in this folder")
    while the other paths are still read. A path that cannot be looked at (a name too long, a folder that cannot be
    listed, a file in a folder that cannot be entered, a broken link) stays too: reading it reports why. notes, a
    list: gets one line per folder whose subfolders were not searched."""
    out = []
    for path in paths:
        try:
            if not path.is_dir():
                out.append(path)
                continue
            entries = list(path.iterdir())
            found = sorted(p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and _maybe_file(p))
            subfolders = sum(1 for p in entries if _is_folder(p))
        except OSError:
            found, subfolders = [], 0
        if subfolders and notes is not None:
            notes.append(f"note: {path}: {subfolders} subfolder{'s' * (subfolders > 1)} not searched "
                         "(only the images in the folder itself are read)")
        out.extend(found or [path])
    return out


def _is_folder(path):
    try:
        return path.is_dir()
    except OSError:
        return False


def _maybe_file(path):
    """Whether a folder's entry is a file, or cannot be told (then reading it says what is wrong): a broken link
    among a folder's pictures is reported, as it is when named, not passed over."""
    try:
        return path.is_file() or (path.is_symlink() and not path.exists())
    except OSError:
        return True
