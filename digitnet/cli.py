"""The digitnet command: train, evaluate, gradcheck."""
import functools
import json
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import DigitnetError


def friendly_errors(command):
    """Our own errors and Ctrl-C become one line on stderr, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (DigitnetError, FloatingPointError) as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)
    return wrapper


def data_options(command):
    command = click.option("--offline", is_flag=True,
                           help="Never download; use the cache, or the bundled sample. Env: DIGITNET_OFFLINE=1.")(command)
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        help="A folder with the four MNIST-format IDX files (gzipped or not). "
                             "Default: the cache, downloading what is missing.")(command)


def load_data(data_dir, offline, dtype=np.float32):
    from .data import resolve_dataset

    dataset, notice = resolve_dataset(data_dir, offline=offline or None, dtype=dtype)
    if notice:
        click.echo(notice, err=True)
    return dataset


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digitnet")
def main():
    """Neural networks for handwritten digits, from scratch in NumPy."""


@main.command()
@data_options
@click.option("--iters", type=click.IntRange(min=1), help="Training steps (the book's iters_num). Default 10,000.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs instead of --iters (an epoch = training size / batch size steps).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True), help="SGD learning rate.")
@click.option("--hidden", default=50, show_default=True, type=click.IntRange(min=1), help="Hidden units.")
@click.option("--weight-init-std", default=0.01, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--sampling", type=click.Choice(["replacement", "shuffle"]), default="replacement", show_default=True,
              help="replacement: the book's random batches; shuffle: a new permutation each epoch.")
@click.option("--seed", type=click.IntRange(min=0), help="Same seed, same result. Default: a random seed, printed.")
@click.option("--out", default="model.npz", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model; metrics go to the same name with .metrics.json.")
@friendly_errors
def train(data_dir, offline, iters, epochs, batch_size, lr, hidden, weight_init_std, sampling, seed, out):
    """Train the book's TwoLayerNet (784-50-10, batch 100, SGD lr 0.1) and save it."""
    from tqdm import tqdm

    from .model_io import save_model
    from .nets import TwoLayerNet
    from .optimizers import SGD
    from .train import train as run_training

    if iters is not None and epochs is not None:
        raise click.UsageError("give --iters or --epochs, not both")
    if iters is None and epochs is None:
        iters = 10_000
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    metrics_path = out.with_suffix(".metrics.json")
    seed = secrets.randbelow(2**31) if seed is None else seed

    dataset = load_data(data_dir, offline)
    x_train, t_train = dataset.x_train, dataset.t_train
    if batch_size > x_train.shape[0]:
        raise click.BadParameter(f"{batch_size} is larger than the training set ({x_train.shape[0]})", param_hint="--batch-size")
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(x_train.shape[1], hidden, 10, weight_init_std, rng=rng, dtype=np.float32)
    total = iters if iters is not None else epochs * max(x_train.shape[0] // batch_size, 1)
    click.echo(f"dataset: {dataset.describe()}")
    click.echo(f"training TwoLayerNet {x_train.shape[1]}-{hidden}-10, batch {batch_size}, SGD lr {lr}, "
               f"{total:,} steps ({sampling} sampling), seed {seed}")

    bar = tqdm(total=total, unit="step", leave=False, disable=None, dynamic_ncols=True)

    def on_epoch(r):
        bar.clear()
        tqdm.write(f"epoch {r['epoch']:3d}  step {r['iteration']:6d}  loss {r['train_loss']:.4f}  "
                   f"train acc {100 * r['train_acc']:6.2f}%  test acc {100 * r['test_acc']:6.2f}%  {r['elapsed_s']:7.1f}s")

    with bar:
        history = run_training(net, x_train, t_train, dataset.x_test, dataset.t_test, iters=iters, epochs=epochs,
                               batch_size=batch_size, optimizer=SGD(lr), sampling=sampling, rng=rng,
                               on_epoch=on_epoch, on_step=lambda loss: bar.update(1))
    final = history[-1]
    metadata = {
        "dataset": dataset.describe(),
        "hyperparameters": {"iters": total, "batch_size": batch_size, "lr": lr, "optimizer": "SGD",
                            "hidden_size": hidden, "weight_init_std": weight_init_std, "sampling": sampling,
                            "seed": seed, "dtype": "float32"},
        "accuracy": {"train": final["train_acc"], "test": final["test_acc"]},
        "training_time_s": final["train_time_s"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_model(out, net, metadata)
    metrics_path.write_text(json.dumps({"dataset": dataset.describe(), "epochs": history}, indent=1) + "\n")
    click.echo(f"test accuracy {100 * final['test_acc']:.2f}% on {dataset.name}; trained in {final['train_time_s']:.1f}s "
               f"({final['elapsed_s']:.1f}s with evaluation)")
    click.echo(f"saved {out} and {metrics_path}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@data_options
@friendly_errors
def evaluate(model, data_dir, offline):
    """Print MODEL's accuracy on the test set."""
    from .model_io import load_model
    from .train import evaluate as evaluate_net

    net, header = load_model(model)
    dataset = load_data(data_dir, offline, dtype=np.result_type(*net.params.values()))
    expected = net.params["W1"].shape[0]
    if dataset.x_test.shape[1] != expected:
        raise DigitnetError(f"{model}: the model takes {expected} inputs, the dataset's images have {dataset.x_test.shape[1]}")
    start = time.perf_counter()
    loss, acc = evaluate_net(net, dataset.x_test, dataset.t_test)
    click.echo(f"test accuracy {100 * acc:.2f}% (loss {loss:.4f}) on {dataset.x_test.shape[0]:,} test images of "
               f"{dataset.describe()} [{time.perf_counter() - start:.2f}s]")
    trained_on = header.get("metadata", {}).get("dataset")
    if trained_on:
        click.echo(f"model trained on: {trained_on}")


@main.command()
@data_options
@click.option("--samples", default=3, show_default=True, type=click.IntRange(min=1, max=100),
              help="How many training samples (from the first) the check runs on.")
@click.option("--hidden", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the initial weights.")
@click.option("--tolerance", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Largest max-relative-error that passes (default 1e-5).")
@click.option("--book-loss", is_flag=True,
              help="Differentiate the book's loss, cross_entropy_error(softmax(y)) with its log(y + 1e-7) guard, "
                   "which reproduces the book's figures.")
@friendly_errors
def gradcheck(data_dir, offline, samples, hidden, seed, tolerance, book_loss):
    """Compare backprop with numerical gradients on the first training digits (float64), as the book's gradient_check.py."""
    from .data import load_sample
    from .functions import cross_entropy_error, softmax
    from .gradient import DEFAULT_TOLERANCE, gradient_check
    from .nets import TwoLayerNet

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
        loss = lambda x, t: cross_entropy_error(softmax(net.predict(x)), t)  # noqa: E731
    else:
        click.echo("numerical side: digitnet's exact log-softmax loss (--book-loss for the book's)")
        loss = None
    click.echo(f"{'param':6} {'mean |backprop - numerical|':>28} {'max relative error':>19}")
    report = gradient_check(net, x, t, tolerance=tolerance, loss=loss)
    for key, r in report.items():
        click.echo(f"{key:6} {r['mean_abs_diff']:28.3e} {r['max_rel_error']:19.3e}  {'ok' if r['ok'] else 'FAIL'}")
    failed = [k for k, r in report.items() if not r["ok"]]
    if failed:
        click.echo(f"FAILED: {', '.join(failed)} beyond the tolerance {tolerance:g}. If --seed is not the default: "
                   "about one initialisation in ten puts a ReLU input within h of 0, where a central difference "
                   "is wrong; a real backprop bug fails for every seed.", err=True)
        sys.exit(1)
    click.echo(f"all {len(report)} parameters within the tolerance {tolerance:g} (max relative error)")
