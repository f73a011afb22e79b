"""Read handwritten digits from image files with a trained network: predict_images() and `digitnet predict`.

Each image goes through preprocess.to_mnist (the 28x28 MNIST form), then net.predict and a softmax.
Pillow is imported only when an image is read. The command reads files and folders of them, with the
best bundled model unless --model names another (pretrained.resolve_model), and can draw why
(explain.explanation_png).
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
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)  # uint8: mode L
    return path


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def expand_folders(paths):
    """The paths, each folder replaced by the image files in it (by suffix, sorted by name; not recursive)."""
    out = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not found:
            raise DigitnetError(f"{path}: no image files in this folder ({', '.join(IMAGE_SUFFIXES)})")
        out.extend(found)
    return out


def split_model_argument(model, images):
    """(model spec, image paths): the old form `predict MODEL.npz IMAGE...` still works, so a first
    argument ending in .npz is the model (an image is never a .npz); --model and it together are refused."""
    if images and images[0].suffix.lower() == ".npz":
        if model is not None:
            raise click.UsageError(f"two models: --model {model} and {images[0]}; give one")
        model, images = images[0], images[1:]
    if not images:
        raise click.UsageError("no IMAGE given: name image files or folders of them")
    return model, images


def load_for_command(model):
    """(net, header) for --model (None: the best bundled model, named on stderr)."""
    from .model_io import load_model
    from .pretrained import resolve_model

    path, description = resolve_model(model)
    net, header = load_model(path)
    if description.startswith("bundled"):
        click.echo(f"using the {description}", err=True)
    return net, header


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DigitnetError(f"{folder}: cannot create the folder ({e.strerror or e})") from None


def _write_explanation(net, pixels, folder, source, used):
    """The "why" picture (explain.explanation_png) of one image, for the digit the network reads."""
    from .explain import explain, explanation_png

    path = _save_preprocessed(pixels, folder, source, used, suffix=".explain.png", write=False)
    return explanation_png(explain(net, pixels), pixels, path)


@click.command("predict")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="IMAGE|FOLDER...")
@click.option("--model", "model", metavar="NAME|PATH",
              help="A bundled model's name (see `digitnet models`) or a model file. Default: the best bundled model.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON array: per image {file, digit, probabilities} or {file, error}.")
@click.option("--show-preprocessed", "show_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the 28x28 image the network saw, as a PNG per input, into DIR.")
@click.option("--explain", "explain_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write, per input, a PNG of why: the gradient of the read digit's logit w.r.t. each pixel, "
                   "red where more ink raises it, blue where it lowers it.")
def predict_command(images, model, as_json, show_dir, explain_dir):
    """Read the digit in each IMAGE (PNG, JPEG, BMP, GIF, WebP, TIFF; a FOLDER means the images in it).

    Each picture is prepared the way MNIST's digits were (ink made bright, paper removed, cropped,
    fitted into 20x20, centred by mass in 28x28). Prints the digit and the three most probable
    classes per file. A file that cannot be read, or holds no digit, is reported on stderr and
    skipped; the exit code is then 1. The old form `digitnet predict MODEL.npz IMAGE...` still works.
    """
    model, images = split_model_argument(model, list(images))
    try:
        net, _ = load_for_command(model)
        images = expand_folders(images)
        for folder in (show_dir, explain_dir):
            if folder is not None:
                _make_folder(folder)
        keep = show_dir is not None or explain_dir is not None
        results = predict_images(net, images, on_error="report", keep_images=keep)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        sys.exit(130)

    used, explained, failed = set(), set(), 0
    for r in results:
        pixels = r.pop("image", None)
        if "error" in r:
            failed += 1
            click.echo(f"Error: {r['error']}", err=True)
            continue
        for folder, key, write, names in ((show_dir, "preprocessed", _save_preprocessed, used),
                                          (explain_dir, "explanation", None, explained)):
            if folder is None:
                continue
            try:
                r[key] = str(write(pixels, folder, r["file"], names) if write
                             else _write_explanation(net, pixels, folder, r["file"], names))
            except OSError as e:
                click.echo(f"Error: {folder}: cannot write the {key} image of {r['file']} ({e})", err=True)
                failed += 1
        if not as_json:
            ranked = ", ".join(f"{c}: {100 * p:5.1f}%" for c, p in top_k(r["probabilities"], 3))
            click.echo(f"{r['file']}: {r['digit']}  ({ranked})")
    if as_json:
        # one JSON array, an object per line
        click.echo("[\n" + ",\n".join(json.dumps(r) for r in results) + "\n]")
    for folder, key, what in ((show_dir, "preprocessed", "preprocessed 28x28"), (explain_dir, "explanation", "explanation")):
        if folder is not None and not as_json:
            saved = sum(key in r for r in results)
            click.echo(f"wrote {saved} {what} image{'s' if saved != 1 else ''} to {folder}", err=True)
    if failed:
        sys.exit(1)
