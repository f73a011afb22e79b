"""`digitnet read`: read the numbers in each picture (reader.read) and print them, line by line."""
import io
import os
import stat
import sys
from pathlib import Path

import click

from ..errors import DigitnetError
from ..model_io import save_png
from ..predict import _save_preprocessed, expand_folders
from .main import friendly_errors
from .predict import JsonArray, _make_folder, load_for_command


@click.command("read")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE|FOLDER...",
                type=click.Path(path_type=Path, readable=False))  # an unreadable one is its own error, not all's
@click.option("--model", "model", metavar="NAME|PATH",
              help="A bundled model's name (see `digitnet models`) or a model file. Default: the bundled "
                   "convolutional models together, the best one's threshold saying 'not a digit'.")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON array, an object per image as it is read: {file, text, digits: [{value, '
                   'confidence, box, rejected, line}], specks, rules} or {file, error}.')
@click.option("--show", "show_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write each picture with the digits' boxes and readings drawn on it, as a PNG, into DIR.")
@click.option("--no-reject", "no_reject", is_flag=True,
              help="Never answer '?': give the network's best digit even where it says 'not a digit'.")
@friendly_errors  # what is not one picture's own error: one line
def command(images, model, as_json, show_dir, no_reject):
    """Read the numbers in each IMAGE (PNG, JPEG, BMP, GIF, WebP, TIFF; a FOLDER means the images in it,
    not those in its subfolders).

    Lines of digits are read top to bottom, each left to right: strokes of one digit are put together,
    touching digits are cut apart, dots, specks and ruled lines (an underline, lined paper) are left out.
    Prints per file the number (lines joined by ' / ') and each digit's confidence; '?' marks ink the model
    takes for no digit at all (below its 'not a digit' threshold), while a digit it reads but is unsure
    which shows a low percentage. A file that cannot be read, or holds no digit, is reported on stderr and
    the others are still read; the exit code is then 1.
    """
    from ..pretrained import committee_names
    from ..reader import draw_reading, read, reading_nets

    try:
        if model is None:  # the bundled models the manifest names for reading, together (reader.reading_nets)
            net, names = reading_nets(), committee_names("read")
            click.echo(f"using the bundled models {', '.join(names)} together ({names[0]} says '?'; "
                       "--model NAME: one alone)", err=True)
        else:
            net, _ = load_for_command(model)
        notes = []
        images = expand_folders(list(images), notes)
        for note in notes:
            click.echo(note, err=True)
        if show_dir is not None:
            _make_folder(show_dir)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    used, failed, shown, out = set(), 0, 0, JsonArray() if as_json else None
    try:
        for image in images:
            record = {"file": str(image)}
            try:
                source = _read_once(image) if show_dir is not None else image
                reading = read(source, net, reject=not no_reject)
            except DigitnetError as e:
                failed += 1
                record["error"] = str(e)
                click.echo(f"Error: {e}", err=True)
                if out is not None:
                    out.add(record)
                continue
            record.update(reading.to_json())
            if show_dir is not None:
                path = _save_preprocessed(None, show_dir, str(image), used, suffix=".read.png", write=False)
                try:
                    if hasattr(source, "seek"):
                        source.seek(0)
                    save_png(draw_reading(source, reading), path)
                    record["shown"] = str(path)
                    shown += 1
                except OSError as e:
                    failed += 1
                    click.echo(f"Error: {show_dir}: cannot write the picture of {image} ({e})", err=True)
            if out is not None:
                out.add(record)
            else:
                click.echo(f"{image}: {str(reading).replace(chr(10), ' / ')}")
    except KeyboardInterrupt:  # a JSON array is left open (JsonArray)
        click.echo("\ninterrupted", err=True)
        sys.exit(130)
    if out is not None:
        out.close()
    elif show_dir is not None:
        click.echo(f"wrote {shown} picture{'s' if shown != 1 else ''} with the readings drawn to {show_dir}", err=True)
    if failed:
        sys.exit(1)


def _read_once(image):
    """A pipe or a device (/dev/stdin, <(...)) as its bytes, read once and named as itself, for --show draws on
    the picture it read (opened again, /dev/stdin gave "empty (0 bytes)" and stopped the run); else image."""
    from ..image_io import read_stream

    try:
        mode = os.stat(image).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            return image
        data = read_stream(image, str(image))
    except OSError:  # read() names what is wrong with it
        return image
    if not data:  # an empty pipe: read() finds it empty again, and says so
        return image
    buffer = io.BytesIO(data)
    buffer.name = str(image)
    return buffer
