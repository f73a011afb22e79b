"""Read handwritten digits from image files with a trained network: predict_images() and `digitnet predict`.

Each image goes through preprocess.to_mnist (the 28x28 MNIST form), then net.predict and a softmax.
Pillow is imported only when an image is read.
"""
import json
import os
import sys
from pathlib import Path

import click
import numpy as np

from .errors import DigitnetError
from .functions import softmax
from .preprocess import ImageError, to_mnist

__all__ = ["predict_images", "top_k", "predict_command"]

PIXELS = 28 * 28


def _label(image, index):
    """How a result names its input: the path as given, else the PIL image's file, else its position."""
    if isinstance(image, (str, os.PathLike)):
        return os.fsdecode(image)
    name = getattr(image, "filename", None) or getattr(image, "name", None)
    return name if isinstance(name, str) and name else f"<image {index}>"


def _input_size(net):
    if hasattr(net, "input_dim"):
        return int(np.prod(net.input_dim))
    return int(net.params["W1"].shape[0])


def predict_images(net, images, *, on_error="raise", keep_images=False, batch_size=256):
    """One dict per image, in order: {"file", "digit", "probabilities"} (probabilities: one float per class).

    images: paths, bytes, file objects, PIL images or arrays, anything preprocess.to_mnist takes.
    on_error: "raise" raises the first ImageError; "report" gives that image {"file", "error"} instead
    and goes on with the others. keep_images: add "image", the 28x28 float32 array the network saw.
    """
    if on_error not in ("raise", "report"):
        raise ValueError(f"on_error must be 'raise' or 'report', not {on_error!r}")
    expected = _input_size(net)
    if expected != PIXELS:
        raise DigitnetError(f"the model takes {expected} inputs; images become 28x28 = {PIXELS}")
    dtype = np.result_type(*net.params.values())
    results, pending = [], []
    for i, image in enumerate(images):
        record = {"file": _label(image, i)}
        try:
            pixels = to_mnist(image)
        except ImageError as e:
            if on_error == "raise":
                raise
            record["error"] = str(e)
        else:
            pending.append((record, pixels))
            if keep_images:
                record["image"] = pixels
        results.append(record)
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        x = np.stack([p.reshape(-1) for _, p in chunk]).astype(dtype, copy=False)
        probs = softmax(np.asarray(net.predict(x), dtype=np.float64))
        for (record, _), p in zip(chunk, probs):
            record["digit"] = int(p.argmax())
            record["probabilities"] = [float(v) for v in p]
    return results


def top_k(probs, k=3):
    """[(class, probability), ...] for the k most probable classes, most probable first."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(c), float(p[c])) for c in order]


def _save_preprocessed(pixels, folder, source, used):
    """Write the 28x28 the network saw as an 8-bit grey PNG (white ink on black, as MNIST)."""
    from PIL import Image

    stem = Path(source).stem if not source.startswith("<") else "image"
    name, n = f"{stem}.28x28.png", 2
    while name in used:
        name, n = f"{stem}-{n}.28x28.png", n + 1
    used.add(name)
    path = folder / name
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)  # uint8: mode L
    return path


@click.command("predict")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="IMAGE...")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON array: per image {file, digit, probabilities} or {file, error}.")
@click.option("--show-preprocessed", "show_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the 28x28 image the network saw, as a PNG per input, into DIR.")
def predict_command(model, images, as_json, show_dir):
    """Read the digit in each IMAGE (PNG, JPEG, BMP, GIF, WebP, TIFF) with MODEL.

    Each picture is prepared the way MNIST's digits were (ink made bright, paper removed, cropped,
    fitted into 20x20, centred by mass in 28x28). Prints the digit and the three most probable
    classes per file. A file that cannot be read, or holds no digit, is reported on stderr and
    skipped; the exit code is then 1.
    """
    from .model_io import load_model

    try:
        net, _ = load_model(model)
        if show_dir is not None:
            try:
                show_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DigitnetError(f"{show_dir}: cannot create the folder ({e.strerror or e})") from None
        results = predict_images(net, images, on_error="report", keep_images=show_dir is not None)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        sys.exit(130)

    used, failed = set(), 0
    for r in results:
        pixels = r.pop("image", None)
        if "error" in r:
            failed += 1
            click.echo(f"error: {r['error']}", err=True)
            continue
        if pixels is not None:
            try:
                r["preprocessed"] = str(_save_preprocessed(pixels, show_dir, r["file"], used))
            except OSError as e:
                click.echo(f"error: {show_dir}: cannot write the preprocessed image of {r['file']} ({e})", err=True)
                failed += 1
        if not as_json:
            ranked = ", ".join(f"{c}: {100 * p:5.1f}%" for c, p in top_k(r["probabilities"], 3))
            click.echo(f"{r['file']}: {r['digit']}  ({ranked})")
    if as_json:
        # one JSON array, an object per line
        click.echo("[\n" + ",\n".join(json.dumps(r) for r in results) + "\n]")
    if show_dir is not None and not as_json:
        saved = sum("preprocessed" in r for r in results)
        click.echo(f"wrote {saved} preprocessed 28x28 image{'s' if saved != 1 else ''} to {show_dir}", err=True)
    if failed:
        sys.exit(1)
