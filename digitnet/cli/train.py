"""`digitnet train`: the options of RunSettings in, a trained model file out (run.py does the work).

This module holds what belongs to the command line: which options were typed (for --resume), the
progress shown, Ctrl-C, and the closing lines and warnings."""
import contextlib
import os
import sys
from pathlib import Path

import click

from ..settings import RunSettings, default_lr, option_fields
from .main import friendly_errors, invoked_args, load_data
from .options import FiniteFloat, settings_options

CHANCE = 0.1  # ten digits
NEAR_CHANCE = 0.2  # a final accuracy below this learned next to nothing


def shown(value):
    """A setting as the command line spells it."""
    return ",".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else value


def resumed_settings(ctx, given, header, path):
    """The checkpoint's settings; CheckpointError naming every option typed that differs from them."""
    from click.core import ParameterSource

    from ..checkpoint import CheckpointError
    from ..data.mnist import SAMPLE_NAME
    from ..run import resume_conflicts

    try:
        saved = RunSettings.from_dict(header["settings"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its settings are not ones this digitnet knows ({e})") from None
    explicit = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}
    flags = {f.name: f.metadata["option"]["flag"] for f in option_fields()}
    typed = [name for name in flags if ctx.get_parameter_source(name) in explicit]
    if "offline" in typed and given.offline and (header.get("dataset") or {}).get("name") == SAMPLE_NAME:
        typed.remove("offline")  # the run read the sample too (DIGITNET_OFFLINE=1, or no MNIST found)
    # where the logs go, where the data lies (run from another folder, or moved: its identity is checked before
    # training), how often checkpoints are written: none changes what the run computes
    for name in ("logdir", "data_dir", "checkpoint_every"):
        if name in typed:
            typed.remove(name)
            value = getattr(given, name)
            setattr(saved, name, str(value) if isinstance(value, Path) else value)
    if ctx.get_parameter_source("weight_init_std") in explicit:
        typed.append("init")
    conflicts = [f"{flags[n]} {shown(mine)} (the run's: {shown(theirs)})"
                 for n, mine, theirs in resume_conflicts(given, saved, typed)]
    if conflicts:
        raise CheckpointError(f"--resume continues {path} with the run's own settings, and {'; '.join(conflicts)} "
                              "differ: drop them, or start a new run with another --out")
    return saved


def train_with_progress(run, out, checkpoint_path, state, comm=None, logger=None, plot=False):
    """execute() with a progress bar and epoch lines, Ctrl-C saving a checkpoint, and one line for a NaN.
    With N workers (comm), rank 0 alone shows progress and writes logs (logger) and checkpoints. plot: --plot was
    given (not a run setting: the command to continue says it again)."""
    from ..run import Checkpointer, execute
    from ..train import TrainingInterrupted
    from .progress import ProgressPrinter, ctrl_c_stops

    first = comm is None or comm.rank == 0
    printer = ProgressPrinter(run.total, state.step if state else 0) if first else None
    callbacks = [c for c in (printer, logger) if c is not None]
    checkpointer = Checkpointer(checkpoint_path, run)
    try:
        with ctrl_c_stops() as stop, contextlib.closing(printer) if printer else contextlib.nullcontext(), \
                logger or contextlib.nullcontext():
            return execute(run, callbacks=callbacks, state=state, checkpoint=checkpointer, stop=stop, comm=comm)
    except TrainingInterrupted as e:
        click.echo(f"interrupted after step {e.state.step:,} of {run.total:,}; checkpoint saved to {checkpoint_path}. "
                   f"Continue with: digitnet train --resume --out {out}{' --plot' if plot else ''}", err=True)
        sys.exit(130)
    except FloatingPointError as e:
        ours = checkpointer.written or state is not None  # resumed: the checkpoint it started from is this run's
        kept = (f"; the last good checkpoint is {checkpoint_path}" if ours and checkpoint_path.exists() else
                "; no checkpoint of this run was written")
        error = click.ClickException(f"{e}{kept}")
        error.every_worker = getattr(e, "every_worker", False)  # the loss all the workers reduced: it names none
        raise error from None


def tensorboard_logger(run, state, comm):
    """The TensorBoard logger of --logdir, made by rank 0 alone (one writer), or None."""
    if not run.settings.logdir or comm.rank > 0:
        return None
    from ..tensorboard_log import TensorBoardLogger

    def say(message):  # the logs are an extra: the run goes on without them, its model and checkpoints kept
        click.echo(f"Warning: {message}; training goes on without them", err=True)

    return TensorBoardLogger.for_run(run, state, on_failure=say)


def end_warning(run, history):
    """One line when a finished run learned next to nothing or its loss rose, with a hint; else None."""
    from ..nets.factory import net_class
    from ..run import kept_record

    s, acc = run.settings, kept_record(history)["test_acc"]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    lr_hint = f"a smaller --lr than {s.lr:g}" if s.lr > default_lr(s.model, s.optimizer) else None
    if acc < NEAR_CHANCE:
        hint = lr_hint or ("--optimizer adam" if s.optimizer == "sgd" and net_class(s.model).convolutional
                           else "more --iters or --epochs")
        return (f"Warning: test accuracy {100 * acc:.2f}% is near chance ({100 * CHANCE:.0f}%): the net learned "
                f"almost nothing; try {hint}.")
    if len(history) > 1 and last > first:
        return (f"Warning: the training loss rose from {first:.4f} (epoch 1) to {last:.4f} (epoch {len(history)}); "
                f"try {lr_hint or 'a smaller --lr'}.")
    return None


def settings_given(options, weight_init_std):
    """RunSettings from the options typed, with the book's --weight-init-std folded into --init."""
    settings = RunSettings(**options)
    if settings.iters is not None and settings.epochs is not None:
        raise click.UsageError("give --iters or --epochs, not both")
    if settings.init is not None and weight_init_std is not None:
        raise click.UsageError("give --init or --weight-init-std, not both")
    if weight_init_std is not None:
        settings.init = weight_init_std
    return settings


def report(run, history, out, plot, checkpoint_path):
    """Rank 0, after training: save the model and metrics, remove the checkpoint, print the closing lines, draw
    the curves."""
    from ..run import kept_record, save_outputs
    from .progress import ctrl_c_stops

    with ctrl_c_stops() as stop:  # a stop signal after the last step waits for the model (before: the run was lost)
        final, metrics_path = kept_record(history), save_outputs(run, history, out)
        checkpoint_path.unlink(missing_ok=True)  # the model is saved: nothing left to resume (before --plot can fail)
    kept = f" (weights of epoch {final['epoch']}, best validation accuracy)" if run.settings.validation else ""
    click.echo(f"test accuracy {100 * final['test_acc']:.2f}% on {run.dataset.name}{kept}; trained in "
               f"{history[-1]['train_time_s']:.1f}s ({history[-1]['elapsed_s']:.1f}s with evaluation)")
    confidence = getattr(run.net, "confidence", None)  # fitted by save_outputs on the held-out digits
    if confidence is not None:
        click.echo(f"calibrated on {confidence.fitted_on}: {confidence.describe()}, "
                   f"'not a digit' below {confidence.score} {confidence.threshold:.4g}")
    click.echo(f"saved {out} and {metrics_path}")
    warning = end_warning(run, history)
    if warning:
        click.echo(warning, err=True)
    if stop():
        click.echo(f"interrupted after the last step; {out} was saved first", err=True)
        sys.exit(130)
    if plot:
        from ..plots import plot_learning_curves

        curves = out.with_suffix(".curves.png")
        plot_learning_curves(history, curves)
        click.echo(f"wrote {curves}")


@click.command("train")
@settings_options()
@click.option("--weight-init-std", type=FiniteFloat(min=0, min_open=True),
              help="Same as --init STD (the book's name).")
@click.option("--out", default="model.npz", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model; metrics go to the same name with .metrics.json.")
@click.option("--plot", is_flag=True, help="Also draw the learning curves, to the same name with .curves.png.")
@click.option("--resume", is_flag=True, help="Continue the run whose checkpoint belongs to --out, with its settings "
                                             "(options that differ from them are refused).")
@click.option("--fresh", is_flag=True, help="Start a new run even though --out's checkpoint holds an interrupted "
                                            "one, which is then replaced (without it, that is refused).")
@click.pass_context
@friendly_errors
def command(ctx, weight_init_std, out, plot, resume, fresh, **options):
    """Train a network (default: the book's 784-50-10 TwoLayerNet, batch 100, SGD lr 0.1; the conv nets get the
    book's Adam lr 0.001) and save it."""
    from ..checkpoint import checkpoint_path_for

    settings = settings_given(options, weight_init_std)
    if resume and fresh:
        raise click.UsageError("give --resume or --fresh, not both")
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    checkpoint_path = checkpoint_path_for(out)
    lock = claim_for_the_job(out, checkpoint_path, resume, fresh)
    with contextlib.closing(lock) if lock else contextlib.nullcontext():
        run_command(ctx, settings, out, checkpoint_path, resume, plot)


def claim_for_the_job(out, checkpoint_path, resume, fresh):
    """outputs.claim_output's lock on --out, for the whole job. The process a user started holds it, and the workers
    that digitnet's own launcher starts (--workers N) run in its shadow; under a plain mpiexec or srun, rank 0
    claims it and every rank learns whether it could (before, no rank did: a new run overwrote and deleted an
    interrupted run's checkpoint, and two jobs wrote one --out)."""
    from ..outputs import claim_output
    from ..parallel import WORKER_DIR_VAR, launched_by_mpi, together, world

    if os.environ.get(WORKER_DIR_VAR):
        return None
    if not launched_by_mpi():
        return claim_output(out, checkpoint_path, resume=resume, fresh=fresh)
    comm = world()
    return together(comm, lambda: claim_output(out, checkpoint_path, resume=resume, fresh=fresh)
                    if comm.rank == 0 else None)


def run_command(ctx, settings, out, checkpoint_path, resume, plot):
    """The train command once its --out is this run's: the workers, the agreed setup, training, the files."""
    from ..checkpoint import check_dataset, dataset_identity, load_checkpoint, restore_checkpoint, with_outliers
    from ..parallel import together
    from ..run import describe, join_workers, prepare, ranks_agree, same_data

    header = arrays = None
    if resume:
        header, arrays = load_checkpoint(checkpoint_path)
        settings = resumed_settings(ctx, settings, header, checkpoint_path)
    else:
        settings = settings.resolved()
    comm = join_workers(settings, invoked_args(ctx), out, checkpoint_path, resume)
    settings = comm.bcast(settings)  # rank 0's: one seed for all
    if resume:
        click.echo(f"resuming {checkpoint_path} from step {header['step']:,}")

    def setup():
        dataset = load_data(settings.data_dir, settings.offline)
        if resume:  # before prepare(), whose refusals of the run's own options on other data would say less
            identity = dataset_identity(dataset)
            check_dataset(checkpoint_path, header, identity)
        run = prepare(settings, dataset)
        if resume:  # hashed once a run: its checkpoints and the workers' check use it
            run.dataset_identity = with_outliers(identity, run.outliers)
            check_dataset(checkpoint_path, header, run.dataset_identity)  # now with its outliers
        state = restore_checkpoint(header, arrays, run.net, run.optimizer, run.rng) if resume else None
        return run, state, tensorboard_logger(run, state, comm)

    run, state, logger = together(comm, setup)  # a logdir that cannot be written fails here, agreed by all
    same_data(comm, run)
    for line in describe(run):
        click.echo(line)
    if logger is not None:
        click.echo(f"writing TensorBoard logs to {settings.logdir} "
                   f"(watch with: tensorboard --logdir {Path(settings.logdir).parent})")
    history = train_with_progress(run, out, checkpoint_path, state, comm, logger, plot)
    if not ranks_agree(comm, run.net) or comm.rank > 0:
        return  # rank 0 alone writes the files
    report(run, history, out, plot, checkpoint_path)
