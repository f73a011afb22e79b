"""`digitnet gradcheck`: the book's gradient check (backprop against numerical gradients) on training digits."""
import sys

import click
import numpy as np

from .main import friendly_errors, load_data
from .options import FiniteFloat, data_options


@click.command("gradcheck")
@data_options
@click.option("--samples", default=3, show_default=True, type=click.IntRange(min=1, max=100),
              help="How many training samples (from the first) the check runs on.")
@click.option("--hidden", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the initial weights.")
@click.option("--tolerance", default=None, type=FiniteFloat(min=0, min_open=True),
              help="Largest max-relative-error that passes (default 1e-5).")
@click.option("--book-loss", is_flag=True,
              help="Differentiate the book's loss, cross_entropy_error(softmax(y)) with its log(y + 1e-7) guard, "
                   "which reproduces the book's figures.")
@friendly_errors
def command(data_dir, offline, samples, hidden, seed, tolerance, book_loss):
    """Compare backprop with numerical gradients on the first training digits (float64), as the book's
    gradient_check.py."""
    from ..data import load_sample
    from ..functions import cross_entropy_error, softmax
    from ..gradient import DEFAULT_TOLERANCE, gradient_check, report_table
    from ..nets import TwoLayerNet

    tolerance = tolerance or DEFAULT_TOLERANCE
    # The bundled sample holds the first 10,000 training digits, so without --data-dir this is the book's data.
    dataset = load_data(data_dir, offline, dtype=np.float64) if data_dir else load_sample(dtype=np.float64)
    x, t = dataset.x_train[:samples], dataset.t_train[:samples]
    net = TwoLayerNet(x.shape[1], hidden, 10, rng=np.random.default_rng(seed), dtype=np.float64)
    click.echo(f"gradient check: TwoLayerNet {x.shape[1]}-{hidden}-10 (seed {seed}, float64) on the first {samples} "
               f"training digits of {dataset.name}")
    if book_loss:
        click.echo("numerical side: the book's loss, log(y + 1e-7); its guard shifts the gradient by ~1e-7, "
                   "which backprop does not follow")
        loss = lambda x, t: cross_entropy_error(softmax(net.predict(x)), t)
    else:
        click.echo("numerical side: digitnet's exact log-softmax loss (--book-loss for the book's)")
        loss = None
    report = gradient_check(net, x, t, tolerance=tolerance, loss=loss)
    for line in report_table(report):
        click.echo(line)
    failed = [k for k, r in report.items() if not r["ok"]]
    if failed:
        click.echo(f"FAILED: {', '.join(failed)} beyond the tolerance {tolerance:g}. If --seed is not the default: "
                   "about one initialisation in ten puts a ReLU input within h of 0, where a central difference "
                   "is wrong; a real backprop bug fails for every seed.", err=True)
        sys.exit(1)
    click.echo(f"all {len(report)} parameters within the tolerance {tolerance:g} (max relative error)")


