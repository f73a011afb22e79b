"""The digitnet command: train, evaluate, predict, serve, export, gradcheck, import-book-weights, tour."""
import functools
import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import DigitnetError
from .settings import parse_workers, settings_options


def friendly_errors(command):
    """Our own errors and Ctrl-C become one line on stderr, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (DigitnetError, FloatingPointError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # disk full, permission denied, a folder where a file should be...
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)
    return wrapper


def data_options(command):
    """--data-dir and --offline, as RunSettings declares them."""
    return settings_options("data_dir", "offline")(command)


def load_data(data_dir, offline, dtype=np.float32):
    from .data import resolve_dataset

    dataset, notice = resolve_dataset(data_dir and Path(data_dir), offline=offline or None, dtype=dtype)
    if notice:
        click.echo(notice, err=True)
    return dataset


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digitnet")
@click.option("--threads", type=click.IntRange(min=1), envvar="DIGITNET_THREADS", default=1, show_default=True,
              help="BLAS threads. One is faster for these small matrices on a 2-core machine (see README, "
                   "Performance). Env: DIGITNET_THREADS.")
def main(threads):
    """Neural networks for handwritten digits, from scratch in NumPy."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # for the rest of the process


def plain(value):
    """A setting as a checkpoint stores it: a data folder given as a Path is the str saved."""
    return str(value) if isinstance(value, Path) else value


def shown(value):
    """A setting as the command line spells it."""
    return ",".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else value


def resumed_settings(ctx, given, header, path):
    """The checkpoint's settings; CheckpointError naming every option given that differs from them."""
    from click.core import ParameterSource

    from .checkpoint import CheckpointError
    from .settings import RunSettings, option_fields

    try:
        saved = RunSettings.from_dict(header["settings"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its settings are not ones this digitnet knows ({e})") from None
    explicit = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}
    named = {f.name: f.metadata["option"][0][0] for f in option_fields()}
    given_names = [name for name in named if ctx.get_parameter_source(name) in explicit]
    if "logdir" in given_names:  # where the TensorBoard files go changes nothing the run computes
        given_names.remove("logdir")
        saved.logdir = given.logdir
    if ctx.get_parameter_source("weight_init_std") in explicit:
        given_names.append("init")
    conflicts = [f"{named[n]} {shown(getattr(given, n))} (the run's: {shown(getattr(saved, n))})"
                 for n in given_names if plain(getattr(given, n)) != plain(getattr(saved, n))]
    if conflicts:
        raise CheckpointError(f"--resume continues {path} with the run's own settings, and {'; '.join(conflicts)} "
                              "differ: drop them, or start a new run with another --out")
    return saved


def train_with_progress(run, out, checkpoint_path, state, comm=None):
    """execute() with a progress bar and epoch lines, Ctrl-C saving a checkpoint, and one line for a NaN.
    With N workers (comm), rank 0 alone shows progress and writes logs and checkpoints."""
    import contextlib

    from .run import Checkpointer, ProgressPrinter, ctrl_c_stops, execute
    from .train import TrainingInterrupted

    logger, first = None, comm is None or comm.rank == 0
    if run.settings.logdir and first:  # one writer: with several workers, only the first (rank 0) may make this logger
        from .tensorboard_log import TensorBoardLogger

        logger = TensorBoardLogger.for_run(run, state)
        click.echo(f"writing TensorBoard logs to {run.settings.logdir} "
                   f"(watch with: tensorboard --logdir {Path(run.settings.logdir).parent})")
    printer = ProgressPrinter(run.total, state.step if state else 0) if first else None
    callbacks = [c for c in (printer, logger) if c is not None]
    try:
        with ctrl_c_stops() as stop, contextlib.closing(printer) if printer else contextlib.nullcontext(), \
                logger or contextlib.nullcontext():
            return execute(run, callbacks=callbacks, state=state, checkpoint=Checkpointer(checkpoint_path, run),
                           stop=stop, comm=comm)
    except TrainingInterrupted as e:
        click.echo(f"interrupted after step {e.state.step:,} of {run.total:,}; checkpoint saved to {checkpoint_path}. "
                   f"Continue with: digitnet train --resume --out {out}", err=True)
        sys.exit(130)
    except FloatingPointError as e:
        kept = f"; the last good checkpoint is {checkpoint_path}" if checkpoint_path.exists() else ""
        raise click.ClickException(f"{e}{kept}") from None


def join_workers(settings, out, checkpoint_path, resume):
    """This process's communicator; with --workers N outside MPI, run N workers here and exit (launch.py)."""
    from .launch import join_or_launch

    def after_loss():
        from .checkpoint import CheckpointError, load_checkpoint

        try:
            step = load_checkpoint(checkpoint_path)[0]["step"]
        except CheckpointError:
            return "no checkpoint was written (--checkpoint-every STEPS saves them)"
        return (f"the last checkpoint is {checkpoint_path} (step {step:,}); "
                f"continue with: digitnet train --resume --out {out}")

    comm = join_or_launch(settings.workers, sys.argv[1:], after_loss)
    if comm.size > 1 and resume and settings.workers != comm.size:
        raise DigitnetError(f"{checkpoint_path} was written by {settings.workers} worker(s); resume it with "
                            f"--workers {settings.workers}, not {comm.size}")
    settings.workers = comm.size
    if settings.batch_size < comm.size:
        raise click.BadParameter(f"{settings.batch_size} gives {comm.size} workers less than a sample each",
                                 param_hint="--batch-size")
    return comm


def ranks_agree(comm, net):
    """With N workers: do all hold the same weights, as the same updates must give? (A check worth its
    millisecond: a difference would mean a bug, and a model file that is one rank's guess.)"""
    if comm.size == 1:
        return True
    from .model_io import params_digest

    digests = comm.gather(params_digest(net.state_arrays()))
    if comm.rank == 0 and len(set(digests)) > 1:
        raise DigitnetError(f"the workers' weights differ at the end ({len(set(digests))} versions): "
                            "please report this as a bug")
    return True


@main.command()
@settings_options()
@click.option("--weight-init-std", type=click.FloatRange(min=0, min_open=True), help="Same as --init STD (the book's name).")
@click.option("--out", default="model.npz", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model; metrics go to the same name with .metrics.json.")
@click.option("--plot", is_flag=True, help="Also draw the learning curves, to the same name with .curves.png.")
@click.option("--resume", is_flag=True, help="Continue the run whose checkpoint belongs to --out, with its settings "
                                             "(options that differ from them are refused).")
@click.pass_context
@friendly_errors
def train(ctx, weight_init_std, out, plot, resume, **options):
    """Train a network (default: the book's 784-50-10 TwoLayerNet, batch 100, SGD lr 0.1; the conv nets get the
    book's Adam lr 0.001) and save it."""
    from .checkpoint import check_dataset, dataset_identity, load_checkpoint, restore_checkpoint
    from .run import describe, end_warning, kept_record, prepare, save_outputs
    from .settings import RunSettings

    settings = RunSettings(**options)
    if settings.iters is not None and settings.epochs is not None:
        raise click.UsageError("give --iters or --epochs, not both")
    if settings.init is not None and weight_init_std is not None:
        raise click.UsageError("give --init or --weight-init-std, not both")
    if weight_init_std is not None:
        settings.init = weight_init_std
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    checkpoint_path, state = out.with_suffix(".ckpt.npz"), None
    if resume:
        header, arrays = load_checkpoint(checkpoint_path)
        settings = resumed_settings(ctx, settings, header, checkpoint_path)
    else:
        settings = settings.resolved()
    comm = join_workers(settings, out, checkpoint_path, resume)
    settings = comm.bcast(settings)  # rank 0's: one seed for all
    if resume:
        click.echo(f"resuming {checkpoint_path} from step {header['step']:,}")

    def setup():
        dataset = load_data(settings.data_dir, settings.offline)
        if resume:
            check_dataset(checkpoint_path, header, dataset_identity(dataset))
        run = prepare(settings, dataset)
        return dataset, run, restore_checkpoint(header, arrays, run.net, run.optimizer, run.rng) if resume else None

    from .parallel import together

    dataset, run, state = together(comm, setup)
    for line in describe(run):
        click.echo(line)
    history = train_with_progress(run, out, checkpoint_path, state, comm)
    if not ranks_agree(comm, run.net) or comm.rank > 0:
        return  # rank 0 alone writes the files
    final, metrics_path = kept_record(history), save_outputs(run, history, out)
    kept = f" (weights of epoch {final['epoch']}, best validation accuracy)" if settings.validation else ""
    click.echo(f"test accuracy {100 * final['test_acc']:.2f}% on {dataset.name}{kept}; trained in "
               f"{history[-1]['train_time_s']:.1f}s ({history[-1]['elapsed_s']:.1f}s with evaluation)")
    click.echo(f"saved {out} and {metrics_path}")
    warning = end_warning(run, history)
    if warning:
        click.echo(warning, err=True)
    checkpoint_path.unlink(missing_ok=True)  # the run is complete: nothing left to resume
    if plot:
        from .plots import plot_learning_curves

        curves = out.with_suffix(".curves.png")
        plot_learning_curves(history, curves)
        click.echo(f"wrote {curves}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@data_options
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG pictures here: confusion matrix, misclassified digits, learning curves, first-layer weights.")
@click.option("--workers", default=1, type=str, callback=parse_workers, metavar="N|auto",
              help="Share the test set out between N processes (MPI; auto: every usable core). "
                   "Needs pip install 'digitnet[mpi]'.")
@friendly_errors
def evaluate(model, data_dir, offline, plots_dir, workers):
    """Print MODEL's test accuracy and per-class precision and recall."""
    from .functions import labels_of
    from .launch import join_or_launch
    from .model_io import load_model
    from .parallel import predict_shared, together

    comm = join_or_launch(workers, sys.argv[1:], lambda: "nothing was written")

    def setup():
        net, header = load_model(model)
        dataset = load_data(data_dir, offline, dtype=np.result_type(*net.params.values()))
        expected = int(np.prod(net.input_dim)) if hasattr(net, "input_dim") else net.params["W1"].shape[0]
        if dataset.x_test.shape[1] != expected:
            raise DigitnetError(f"{model}: the model takes {expected} inputs, the dataset's images have "
                                f"{dataset.x_test.shape[1]}")
        return net, header, dataset

    net, header, dataset = together(comm, setup)
    start = time.perf_counter()
    scores = predict_shared(net, dataset.x_test, comm)  # one pass, each worker its share; all on rank 0
    if comm.rank > 0:
        return
    labels = labels_of(dataset.t_test)
    loss, y_pred = float(net.lastLayer.forward(scores, labels)), scores.argmax(axis=1)
    acc = float(np.mean(y_pred == labels))
    click.echo(f"test accuracy {100 * acc:.2f}% (loss {loss:.4f}) on {dataset.x_test.shape[0]:,} test images of "
               f"{dataset.describe()} [{time.perf_counter() - start:.2f}s]")
    trained_on = header.get("metadata", {}).get("dataset")
    if trained_on:
        click.echo(f"model trained on: {trained_on}")
    from .plots import evaluation_report

    report = evaluation_report(net, dataset.x_test, dataset.t_test, y_pred=y_pred)
    click.echo("class  precision  recall  support")
    for row in report["per_class"]:
        fmt = lambda v: "      -" if v is None else f"{100 * v:6.2f}%"  # noqa: E731
        click.echo(f"{row['class']:5d}  {fmt(row['precision']):>9}  {fmt(row['recall']):>6}  {row['support']:7,d}")
    if plots_dir:
        from .plots import write_evaluation_pictures

        metrics = model.with_suffix(".metrics.json")
        history = json.loads(metrics.read_text()) if metrics.is_file() else None
        for path in write_evaluation_pictures(net, dataset.x_test, dataset.t_test, history, plots_dir):
            click.echo(f"wrote {path}")


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
    from .gradient import DEFAULT_TOLERANCE, gradient_check, report_table
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


@main.command("import-book-weights")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(["mlp", "simple-cnn", "deep-cnn"]), required=True,
              help="mlp: ch. 3's sample_weight.pkl; simple-cnn: ch. 7's params.pkl; deep-cnn: ch. 8's deep_convnet_params.pkl.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def import_book_weights_command(file, model, out):
    """Convert one of the book's pickled weight files into a digitnet model file (the pickle cannot run code)."""
    from .book_weights import import_book_weights
    from .model_io import save_model

    net = import_book_weights(file, model)
    save_model(out, net, {"imported_from": str(file), "source": "Deep Learning from Scratch weights", "model": model})
    shapes = ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in net.params.items())
    click.echo(f"imported {file} as {type(net).__name__} ({shapes}); saved {out}")


from .export_onnx import export_command  # noqa: E402  (registered after main exists)
from .predict import predict_command  # noqa: E402
from .serve import serve_command  # noqa: E402
from .tour import tour  # noqa: E402

main.add_command(predict_command)
main.add_command(serve_command)
main.add_command(export_command)
main.add_command(tour)
from .models_command import models_command  # noqa: E402
main.add_command(models_command)
from .experiments.command import experiment_command  # noqa: E402
main.add_command(experiment_command)
