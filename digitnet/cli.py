"""The digitnet command: train, evaluate, predict, serve, export, gradcheck, import-book-weights, tour."""
import functools
import json
import secrets
import signal
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
        except OSError as e:  # disk full, permission denied, a folder where a file should be...
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
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
@click.option("--threads", type=click.IntRange(min=1), envvar="DIGITNET_THREADS", default=1, show_default=True,
              help="BLAS threads. One is faster for these small matrices on a 2-core machine (see README, "
                   "Performance). Env: DIGITNET_THREADS.")
def main(threads):
    """Neural networks for handwritten digits, from scratch in NumPy."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # for the rest of the process


def parse_hidden(ctx, param, value):
    if value is None:
        return None
    try:
        sizes = [int(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give sizes like 50 or 256,256") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"{value!r}: sizes must be positive")
    return sizes


def parse_init(ctx, param, value):
    if value is None or value in ("xavier", "he"):
        return value
    try:
        std = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a standard deviation, 'xavier' or 'he'") from None
    if not std > 0:
        raise click.BadParameter("a standard deviation must be positive")
    return std


DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}


@main.command()
@data_options
@click.option("--model", type=click.Choice(["two-layer", "mlp", "simple-cnn", "deep-cnn"]), default="two-layer",
              show_default=True, help="two-layer: the book's ch. 5 net; mlp: ch. 6's MultiLayerNet; "
                                      "simple-cnn / deep-cnn: ch. 7 / ch. 8.")
@click.option("--iters", type=click.IntRange(min=1), help="Training steps (the book's iters_num). Default 10,000.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs instead of --iters (an epoch = training size / batch size steps).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--optimizer", type=click.Choice(list(DEFAULT_LR)), default="sgd", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Learning rate. Default: 0.1 for sgd, 0.01 for momentum/nesterov/adagrad, 0.001 for rmsprop/adam.")
@click.option("--schedule", type=click.Choice(["constant", "step", "cosine"]), default="constant", show_default=True,
              help="step: x0.1 after each third of training; cosine: half a cosine down to 0.")
@click.option("--hidden", callback=parse_hidden, metavar="SIZES",
              help="Hidden units: one size, or a comma list for mlp (e.g. 256,256). Defaults: 50 / 100,100 / 100 / 50.")
@click.option("--activation", type=click.Choice(["relu", "sigmoid"]), default="relu", show_default=True, help="mlp only.")
@click.option("--init", "init", callback=parse_init, metavar="STD|xavier|he",
              help="Initial weight scale. Defaults: 0.01 (two-layer, simple-cnn, as the book), he (mlp, deep-cnn).")
@click.option("--weight-init-std", type=click.FloatRange(min=0, min_open=True), help="Same as --init STD (the book's name).")
@click.option("--weight-decay", default=0.0, show_default=True, type=click.FloatRange(min=0), help="L2 weight decay lambda.")
@click.option("--dropout", default=0.0, type=click.FloatRange(min=0, max=1, max_open=True),
              help="Dropout ratio (mlp; deep-cnn's is 0.5 unless set).")
@click.option("--batch-norm", is_flag=True, help="Batch normalisation after each hidden affine layer (mlp).")
@click.option("--augment", is_flag=True, help="Random shifts (2 px), rotations (10 deg) and scaling (0.9-1.1) of each batch.")
@click.option("--validation", default=0, show_default=True, type=click.IntRange(min=0),
              help="Carve this many training samples out for validation; the best validation epoch's weights are kept.")
@click.option("--sampling", type=click.Choice(["replacement", "shuffle"]), default="replacement", show_default=True,
              help="replacement: the book's random batches; shuffle: a new permutation each epoch.")
@click.option("--seed", type=click.IntRange(min=0), help="Same seed, same result. Default: a random seed, printed.")
@click.option("--out", default="model.npz", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model; metrics go to the same name with .metrics.json.")
@click.option("--plot", is_flag=True, help="Also draw the learning curves, to the same name with .curves.png.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), metavar="STEPS",
              help="Save a checkpoint (weights, optimizer and random state) every STEPS steps, to OUT's name with "
                   ".ckpt.npz. Ctrl-C always saves one.")
@click.option("--resume", is_flag=True, help="Continue the run whose checkpoint belongs to --out, with its settings.")
@friendly_errors
def train(data_dir, offline, model, iters, epochs, batch_size, optimizer, lr, schedule, hidden, activation, init,
          weight_init_std, weight_decay, dropout, batch_norm, augment, validation, sampling, seed, out, plot,
          checkpoint_every, resume):
    """Train a network (default: the book's 784-50-10 TwoLayerNet, batch 100, SGD lr 0.1) and save it."""
    from tqdm import tqdm

    from .model_io import save_model
    from .nets.factory import DEFAULT_HIDDEN, build_net
    from .optimizers import OPTIMIZERS, ConstantLR, CosineLR, StepLR
    from .train import train as run_training
    from .train import validation_split

    if iters is not None and epochs is not None:
        raise click.UsageError("give --iters or --epochs, not both")
    if init is not None and weight_init_std is not None:
        raise click.UsageError("give --init or --weight-init-std, not both")
    init = weight_init_std if weight_init_std is not None else init
    if iters is None and epochs is None:
        iters = 10_000
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    metrics_path = out.with_suffix(".metrics.json")
    seed = secrets.randbelow(2**31) if seed is None else seed
    checkpoint_path = out.with_suffix(".ckpt.npz")
    settings = {"data_dir": data_dir and str(data_dir), "offline": offline, "model": model, "iters": iters,
                "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr, "schedule": schedule,
                "hidden": hidden, "activation": activation, "init": init, "weight_decay": weight_decay,
                "dropout": dropout, "batch_norm": batch_norm, "augment": augment, "validation": validation,
                "sampling": sampling, "seed": seed, "checkpoint_every": checkpoint_every}
    if resume:
        from .checkpoint import load_checkpoint

        checkpoint_header, checkpoint_arrays = load_checkpoint(checkpoint_path)
        settings = checkpoint_header["settings"]  # the interrupted run's, whatever else was passed
        (data_dir, offline, model, iters, epochs, batch_size, optimizer, lr, schedule, hidden, activation, init,
         weight_decay, dropout, batch_norm, augment, validation, sampling, seed, checkpoint_every) = (
            settings[key] for key in ("data_dir", "offline", "model", "iters", "epochs", "batch_size", "optimizer",
                                      "lr", "schedule", "hidden", "activation", "init", "weight_decay", "dropout",
                                      "batch_norm", "augment", "validation", "sampling", "seed", "checkpoint_every"))
        data_dir = data_dir and Path(data_dir)
        click.echo(f"resuming {checkpoint_path} from step {checkpoint_header['step']:,}")

    dataset = load_data(data_dir, offline)
    x_train, t_train = dataset.x_train, dataset.t_train
    rng = np.random.default_rng(seed)
    x_val = t_val = None
    if validation:
        if validation >= x_train.shape[0]:
            raise click.BadParameter(f"{validation} leaves no training data ({x_train.shape[0]} samples)",
                                     param_hint="--validation")
        (x_train, t_train), (x_val, t_val) = validation_split(x_train, t_train, validation, rng)
    if batch_size > x_train.shape[0]:
        raise click.BadParameter(f"{batch_size} is larger than the training set ({x_train.shape[0]})", param_hint="--batch-size")
    try:
        net = build_net(model, input_size=x_train.shape[1], hidden=hidden, init=init, activation=activation,
                        weight_decay=weight_decay, dropout=dropout, batch_norm=batch_norm, rng=rng, dtype=np.float32)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    total = iters if iters is not None else epochs * max(x_train.shape[0] // batch_size, 1)
    lr_schedule = {"constant": lambda: ConstantLR(lr), "step": lambda: StepLR(lr, max(total // 3, 1), 0.1),
                   "cosine": lambda: CosineLR(lr, total)}[schedule]()
    augmenter = None
    if augment:
        from .augment import Augmenter
        augmenter = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1))
    sizes = [x_train.shape[1], *(hidden or DEFAULT_HIDDEN[model]), 10]
    shape = "-".join(map(str, sizes)) if model in ("two-layer", "mlp") else ""
    extras = [name for name, on in (("augmentation", augment), (f"weight decay {weight_decay:g}", weight_decay),
                                    (f"dropout {dropout:g}", dropout), ("batch norm", batch_norm)) if on]
    click.echo(f"dataset: {dataset.describe()}" + (f"; {x_val.shape[0]:,} training samples held out for validation"
                                                  if validation else ""))
    click.echo(f"training {type(net).__name__} {shape or ''}{' ' if shape else ''}({model}), batch {batch_size}, "
               f"{optimizer} lr {lr:g} ({schedule}), {total:,} steps ({sampling} sampling)"
               f"{', ' + ', '.join(extras) if extras else ''}, seed {seed}")

    bar = tqdm(total=total, unit="step", leave=False, disable=None, dynamic_ncols=True)

    def on_epoch(r):
        bar.clear()
        val = f"  val acc {100 * r['val_acc']:6.2f}%" if "val_acc" in r else ""
        tqdm.write(f"epoch {r['epoch']:3d}  step {r['iteration']:6d}  loss {r['train_loss']:.4f}  "
                   f"train acc {100 * r['train_acc']:6.2f}%{val}  test acc {100 * r['test_acc']:6.2f}%  {r['elapsed_s']:7.1f}s")

    from .checkpoint import restore_checkpoint, save_checkpoint
    from .train import TrainingInterrupted

    opt = OPTIMIZERS[optimizer](lr=lr)
    state = restore_checkpoint(checkpoint_header, checkpoint_arrays, net, opt, rng) if resume else None
    if state is not None:
        bar.update(state.step)

    def write_checkpoint(state):
        save_checkpoint(checkpoint_path, net, opt, rng, state, settings)

    # Ctrl-C asks training to stop after the step in progress, so the checkpoint holds a whole step.
    interrupted = []

    def on_sigint(signum, frame):
        if interrupted:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        interrupted.append(True)

    previous_handler = signal.signal(signal.SIGINT, on_sigint)
    # Training accuracy on every sample costs a full inference pass each epoch; for the CNNs 5,000 tell as much.
    train_eval_size = None if model in ("two-layer", "mlp") else 5000
    try:
        with bar:
            history = run_training(net, x_train, t_train, dataset.x_test, dataset.t_test, iters=iters, epochs=epochs,
                                   batch_size=batch_size, optimizer=opt, schedule=lr_schedule,
                                   sampling=sampling, augment=augmenter, x_val=x_val, t_val=t_val,
                                   keep_best=bool(validation), train_eval_size=train_eval_size, rng=rng,
                                   on_epoch=on_epoch, on_step=lambda loss: bar.update(1), state=state,
                                   checkpoint=write_checkpoint, checkpoint_every=checkpoint_every,
                                   stop=lambda: bool(interrupted))
    except TrainingInterrupted as e:
        click.echo(f"interrupted after step {e.state.step:,} of {total:,}; checkpoint saved to {checkpoint_path}. "
                   f"Continue with: digitnet train --resume --out {out}", err=True)
        sys.exit(130)
    except FloatingPointError as e:
        kept = f"; the last good checkpoint is {checkpoint_path}" if checkpoint_path.exists() else ""
        raise click.ClickException(f"{e}{kept}") from None
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    final = next((r for r in history if r.get("best")), history[-1])
    metadata = {
        "dataset": dataset.describe(),
        "hyperparameters": {"model": model, "iters": total, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
                            "schedule": schedule, "hidden": hidden, "activation": activation, "init": init,
                            "weight_decay": weight_decay, "dropout": dropout, "batch_norm": batch_norm,
                            "augment": augment, "validation": validation, "sampling": sampling, "seed": seed,
                            "dtype": "float32"},
        "accuracy": {k: final[f"{k}_acc"] for k in ("train", "val", "test") if f"{k}_acc" in final},
        "epoch_kept": final["epoch"],
        "training_time_s": history[-1]["train_time_s"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_model(out, net, metadata)
    metrics_path.write_text(json.dumps({"dataset": dataset.describe(), "epochs": history}, indent=1) + "\n")
    kept = f" (weights of epoch {final['epoch']}, best validation accuracy)" if validation else ""
    click.echo(f"test accuracy {100 * final['test_acc']:.2f}% on {dataset.name}{kept}; trained in "
               f"{history[-1]['train_time_s']:.1f}s ({history[-1]['elapsed_s']:.1f}s with evaluation)")
    click.echo(f"saved {out} and {metrics_path}")
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
@friendly_errors
def evaluate(model, data_dir, offline, plots_dir):
    """Print MODEL's test accuracy and per-class precision and recall."""
    from .model_io import load_model
    from .train import evaluate as evaluate_net

    net, header = load_model(model)
    dataset = load_data(data_dir, offline, dtype=np.result_type(*net.params.values()))
    expected = int(np.prod(net.input_dim)) if hasattr(net, "input_dim") else net.params["W1"].shape[0]
    if dataset.x_test.shape[1] != expected:
        raise DigitnetError(f"{model}: the model takes {expected} inputs, the dataset's images have {dataset.x_test.shape[1]}")
    start = time.perf_counter()
    loss, acc = evaluate_net(net, dataset.x_test, dataset.t_test)
    click.echo(f"test accuracy {100 * acc:.2f}% (loss {loss:.4f}) on {dataset.x_test.shape[0]:,} test images of "
               f"{dataset.describe()} [{time.perf_counter() - start:.2f}s]")
    trained_on = header.get("metadata", {}).get("dataset")
    if trained_on:
        click.echo(f"model trained on: {trained_on}")
    from .plots import evaluation_report

    report = evaluation_report(net, dataset.x_test, dataset.t_test)
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
