"""`digitnet evaluate MODEL`: test accuracy, per-class precision and recall, and pictures of the mistakes."""
import time
from pathlib import Path

import click
import numpy as np

from ..errors import DigitnetError
from .calibrate import test_digits_of
from .main import friendly_errors, invoked_args, load_data
from .options import data_options, parse_workers


def calibration_lines(net, scores, labels):
    """Print the expected calibration error before and after the model's temperature, and what its
    "not a digit" threshold rejects of these digits."""
    from ..calibration import confidence_of
    from ..functions import softmax
    from ..metrics import ECE_BINS, expected_calibration_error

    confidence = confidence_of(net)
    before = expected_calibration_error(softmax(scores), labels)
    after = expected_calibration_error(confidence.probabilities(scores), labels)
    if getattr(net, "confidence", None) is None:
        click.echo(f"calibration error (ECE, {ECE_BINS} bins) {100 * before:.2f}%; the model is not calibrated "
                   "(digitnet calibrate MODEL fits it)")
        return
    click.echo(f"calibration error (ECE, {ECE_BINS} bins) {100 * before:.2f}% before, {100 * after:.2f}% after "
               f"calibration: {confidence.describe()}")
    if confidence.threshold is not None:
        rejected = confidence.rejected(scores)
        click.echo(f"'not a digit' ({confidence.score} below {confidence.threshold:.4g}): {100 * rejected.mean():.2f}% "
                   f"of these digits rejected ({int(rejected.sum()):,})")


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@data_options
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG pictures here: confusion matrix, misclassified digits, reliability diagram, "
                   "learning curves (from MODEL.metrics.json, which training writes beside the model), "
                   "first-layer weights.")
@click.option("--workers", default=1, type=str, callback=parse_workers, metavar="N|auto",
              help="Share the test set out between N processes (MPI; auto: every usable core). "
                   "Needs pip install 'digitnet[mpi]'.")
@click.pass_context
@friendly_errors
def command(ctx, model, data_dir, offline, plots_dir, workers):
    """Print MODEL's test accuracy, its calibration error (before and after its temperature), what its
    "not a digit" threshold rejects, and per-class precision and recall. MODEL: a model file, or a bundled
    model's name."""
    from ..functions import labels_of
    from ..model_io import load_model
    from ..parallel import predict_shared, together
    from ..parallel.launch import join_or_launch
    from ..pretrained import resolve_model

    comm = join_or_launch(workers, invoked_args(ctx), lambda failed=False: None if failed else "nothing was written")

    def setup():
        net, header = load_model(resolve_model(str(model))[0])  # a file, or a bundled model's name
        dataset = load_data(data_dir, offline, dtype=np.result_type(*net.params.values()))
        if dataset.x_test.shape[1] != net.input_size:
            raise DigitnetError(f"{model}: the model takes {net.input_size} inputs, the dataset's images have "
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
    calibration_lines(net, scores, labels)
    note = fitted_here(header, dataset)
    if note:
        click.echo(note)
    trained_on = header.get("metadata", {}).get("dataset")
    if trained_on:
        click.echo(f"model trained on: {trained_on}")
    from ..metrics import evaluation_report

    report = evaluation_report(net, dataset.x_test, dataset.t_test, y_pred=y_pred)
    click.echo("class  precision  recall  support")
    for row in report["per_class"]:
        fmt = lambda v: "      -" if v is None else f"{100 * v:6.2f}%"
        click.echo(f"{row['class']:5d}  {fmt(row['precision']):>9}  {fmt(row['recall']):>6}  {row['support']:7,d}")
    if plots_dir:
        from ..plots import write_evaluation_pictures

        history = training_history(model, header)
        for path in write_evaluation_pictures(net, dataset.x_test, dataset.t_test, history, plots_dir, logits=scores):
            click.echo(f"wrote {path}")


def training_history(model, header):
    """The learning curves' history: MODEL.metrics.json beside a model file, when it is this model's (its
    weights' digest, which training writes there, is the file's); else None, with a line saying why. A bundled
    model's name never reads a file of that name in the current folder (before: its curves were a local run's)."""
    from ..metrics import read_history
    from ..pretrained import bundled_models

    if str(model) in bundled_models():
        click.echo(f"note: {model} is a bundled model, whose training history is not shipped; the learning curves "
                   "are left out", err=True)
        return None
    metrics = model.with_suffix(".metrics.json")
    if not metrics.is_file():  # a file whose training history was not kept: say why there are no curves
        click.echo(f"note: {metrics.name}: no training history beside the model; the learning curves are left out",
                   err=True)
        return None
    try:
        history = read_history(metrics)
    except ValueError as e:  # the model is fine: draw the rest, without its learning curves
        click.echo(f"warning: {e}; the learning curves are left out", err=True)
        return None
    weights = history.get("weights_sha256")
    if weights is not None and weights != header.get("sha256"):  # a model written over since (say, imported)
        click.echo(f"note: {metrics.name} is another model's training history (its weights are not {model}'s); "
                   "the learning curves are left out", err=True)
        return None
    return history


def fitted_here(header, dataset):
    """The note that a model's temperature and threshold were fitted on the very digits evaluate measures them on
    (the share rejected is then what the threshold was set to), or None: the bundled models on the offline
    sample, and a file calibrate fitted on this dataset's test split (it had no held-out digits of the model's)."""
    from ..data.mnist import SAMPLE_NAME, SAMPLE_TEST_DIGITS

    fitted_on = str((header.get("metadata", {}).get("calibration") or {}).get("fitted_on", ""))
    said = ("note: the model's temperature and threshold were fitted on these very digits (the share rejected is "
            "what the threshold was set to): ")
    if dataset.name == SAMPLE_NAME and SAMPLE_TEST_DIGITS in fitted_on:
        return said + "the official test set, in full MNIST, measures them on digits they never saw"
    if fitted_on.startswith(test_digits_of(dataset)):
        return said + "measure them on digits they never saw"
    return None
