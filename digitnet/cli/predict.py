"""`digitnet predict`: read the digit in each image file (predict.predict_images) and print it."""
import json
import sys
from pathlib import Path

import click
import numpy as np

from ..committee import as_committee
from ..errors import DigitnetError
from ..predict import _save_preprocessed, expand_folders, iter_predictions, top_k
from .main import friendly_errors


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
    """(net, header) for --model; with None, (the bundled models that predict together, None), named on stderr
    (pretrained.committee_names("predict"): the mean of their calibrated probabilities, the first one rejects)."""
    from ..model_io import load_model
    from ..pretrained import committee_names, default_committee, resolve_model

    if model is None and len(committee_names("predict")) > 1:
        names = committee_names("predict")
        click.echo(f"using the bundled models {', '.join(names[:-1])} and {names[-1]} together "
                   f"({names[0]} says 'not a digit')", err=True)
        return default_committee("predict"), None
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


def _write_explanation(net, pixels, folder, source, used, answer):
    """The "why" picture (explain.explanation_png) of one image, by net (the committee's first), for the digit
    answered (answer: the printed result, the committee's calibrated probabilities, which its caption gives),
    as /api/explain answers. Before, it showed the first net's own digit and plain softmax: another digit at
    times than the one printed."""
    from ..explain import explain, explanation_png

    path = _save_preprocessed(pixels, folder, source, used, suffix=".explain.png", write=False)
    result = dict(explain(net, pixels, answer["digit"]), digit=answer["digit"],
                  probabilities=np.asarray(answer["probabilities"]))
    return explanation_png(result, pixels, path)


@click.command("predict")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE|FOLDER...",
                type=click.Path(path_type=Path, readable=False))  # an unreadable one is its own error, not all's
@click.option("--model", "model", metavar="NAME|PATH",
              help="A bundled model's name (see `digitnet models`) or a model file. Default: the bundled models "
                   "that predict together (the best one's --explain pictures).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON array, an object per image as it is read: {file, digit, probabilities, "
                   "rejected} or {file, error}.")
@click.option("--no-reject", "no_reject", is_flag=True,
              help="Always name a digit, even where the model says the picture is not one.")
@click.option("--show-preprocessed", "show_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write the 28x28 image the network saw, as a PNG per input, into DIR.")
@click.option("--explain", "explain_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write, per input, a PNG of why: the gradient of the read digit's logit w.r.t. each pixel, "
                   "red where more ink raises it, blue where it lowers it.")
@friendly_errors  # what is not one picture's own error (Ctrl-C while writing the pictures, say): one line
def command(images, model, as_json, show_dir, explain_dir, no_reject):
    """Read the digit in each IMAGE (PNG, JPEG, BMP, GIF, WebP, TIFF; a FOLDER means the images in it,
    not those in its subfolders).

    Each picture is prepared the way MNIST's digits were (ink made bright, paper removed, cropped,
    fitted into 20x20, centred by mass in 28x28). Prints the digit and the three most probable
    classes per file, with the model's calibrated probabilities, or `not a digit` when the model's
    rejection score is below its threshold (docs/rejection.md in digitnet's source; --no-reject turns it
    off). A file that cannot be read, or holds no ink, is reported on stderr and skipped; the exit code is
    then 1.
    The old form `digitnet predict MODEL.npz IMAGE...` still works.
    """
    model, images = split_model_argument(model, list(images))
    try:
        net, _ = load_for_command(model)
        notes = []
        images = expand_folders(images, notes)
        for note in notes:
            click.echo(note, err=True)
        for folder in (show_dir, explain_dir):
            if folder is not None:
                _make_folder(folder)
        keep = show_dir is not None or explain_dir is not None
        results = iter_predictions(net, images, on_error="report", keep_images=keep, reject=not no_reject)
        written, failed = _print_results(results, net, as_json, show_dir, explain_dir)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:  # what was read is printed; a JSON array is left open, so no parser takes it for all
        click.echo("\ninterrupted", err=True)
        sys.exit(130)
    for folder, what in ((show_dir, "preprocessed 28x28"), (explain_dir, "explanation")):
        if folder is not None and not as_json:
            saved = written[what]
            click.echo(f"wrote {saved} {what} image{'s' if saved != 1 else ''} to {folder}", err=True)
    if failed:
        sys.exit(1)


def _print_results(results, net, as_json, show_dir, explain_dir):
    """Print each result as it comes (a line, or an object of one JSON array) and write its pictures:
    ({what: pictures written}, how many failed)."""
    written, failed, out = {"preprocessed 28x28": 0, "explanation": 0}, 0, JsonArray() if as_json else None
    used, explained, first = set(), set(), as_committee(net).first  # the net whose "why" --explain draws
    for r in results:
        pixels = r.pop("image", None)
        if "error" in r:
            failed += 1
            click.echo(f"Error: {r['error']}", err=True)
        for folder, key, what, write, names in ((show_dir, "preprocessed", "preprocessed 28x28", _save_preprocessed,
                                                 used), (explain_dir, "explanation", "explanation", None, explained)):
            if folder is None or "error" in r:
                continue
            try:
                r[key] = str(write(pixels, folder, r["file"], names) if write
                             else _write_explanation(first, pixels, folder, r["file"], names, r))
                written[what] += 1
            except OSError as e:
                click.echo(f"Error: {folder}: cannot write the {key} image of {r['file']} ({e})", err=True)
                failed += 1
        if out is not None:
            out.add(r)
        elif "error" not in r:
            ranked = ", ".join(f"{c}: {100 * p:5.1f}%" for c, p in top_k(r["probabilities"], 3))
            answer = "not a digit" if r.get("rejected") else r["digit"]
            click.echo(f"{r['file']}: {answer}  ({ranked})")
    if out is not None:
        out.close()
    return written, failed


class JsonArray:
    """One JSON array on stdout, an object per line, each printed as it comes (`predict` and `read --json`):
    "[", the objects, "]" (an object's line ends as the next begins, where its comma goes). Cut short (Ctrl-C) it
    stays open: no parser takes part of the answer for all of it."""

    def __init__(self):
        self.count = 0

    def add(self, record):
        click.echo(("[\n" if self.count == 0 else ",\n") + json.dumps(record), nl=False)
        self.count += 1

    def close(self):
        click.echo("[\n]" if self.count == 0 else "\n]")
