"""`digitnet import-book-weights`: the book's pickled weights as a digitnet model file (read safely)."""
from pathlib import Path

import click

from .main import friendly_errors


@click.command("import-book-weights")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(["mlp", "simple-cnn", "deep-cnn"]), required=True,
              help="mlp: ch. 3's sample_weight.pkl; simple-cnn: ch. 7's params.pkl; "
                   "deep-cnn: ch. 8's deep_convnet_params.pkl.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The model file to write (.npz added when missing, as `digitnet train --out` adds it).")
@friendly_errors
def command(file, model, out):
    """Convert one of the book's pickled weight files into a digitnet model file (the pickle cannot run code)."""
    import os

    from ..book.weights import import_book_weights
    from ..errors import DigitnetError
    from ..model_io import refuse_write_protected, save_model

    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    if os.path.realpath(out) == os.path.realpath(file):  # before: the book's pickle replaced by the model
        raise DigitnetError(f"{out}: that is the book's file itself: give the model file a name of its own")
    refuse_write_protected(out)
    net = import_book_weights(file, model)
    save_model(out, net, {"imported_from": str(file), "source": "Deep Learning from Scratch weights", "model": model})
    shapes = ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in net.params.items())
    click.echo(f"imported {file} as {type(net).__name__} ({shapes}); saved {out}")


