"""`digitnet calibrate MODEL`: fit the temperature and the "not a digit" threshold of an existing model file.

For files from before calibration, and for any model trained elsewhere: the weights stay as they are
(their digest is checked to be unchanged), the header gets a "calibration" entry, and the file is
re-saved atomically. The digits it is fitted on must be ones the model did not train on; see
calibration_digits.
"""
from pathlib import Path

import click
import numpy as np

from ..data.mnist import SAMPLE_HELD_OUT
from ..errors import DigitnetError, ModelFileError
from .main import friendly_errors, load_data
from .options import FiniteFloat, data_options
from .train import CHANCE, NEAR_CHANCE


def calibration_digits(header, dataset):
    """(x, t, description): held-out digits for a model, from what its header says it trained on.

    A `digitnet train` file given the data it trained on (the same name and size; _other_data): the share it
    held out (its validation or calibration digits, split again the same way). Trained on the first N digits
    only (--train-limit): the next digits, up to 2,000. A bundled model (trained on the offline sample's 8,000
    training digits): the sample's other 2,000, wherever the dataset holds them (the sample's test split, or
    MNIST's training digits 8,001-10,000). Otherwise the dataset's test split, with a warning in the
    description: a calibration fitted on the test digits must not be measured on them."""
    from ..run import MIN_CALIBRATION, calibration_split, training_data
    from ..settings import RunSettings

    settings = (header.get("metadata") or {}).get("settings")
    other, few = _other_data(header, dataset), None
    if isinstance(settings, dict) and not other:
        try:
            s = RunSettings.from_dict(settings)
        except (TypeError, ValueError):
            s = None
        if s is not None and (s.validation or s.calibration):
            try:
                train_set, val_set = training_data(s, dataset, np.random.default_rng(s.seed))
                held = val_set if val_set is not None else calibration_split(s, train_set, val_set)[1]  # not trained on
            except (TypeError, ValueError) as e:  # a header re-sealed with a seed of -1, a validation of "500"...
                raise DigitnetError(f"the header's run settings cannot be used ({e})") from None
            if held is not None and held[0].shape[0] >= MIN_CALIBRATION:
                return held[0], held[1], f"{held[0].shape[0]:,} training digits the model held out"
            few = held[0].shape[0] if held is not None else None
        if s is not None and s.train_limit and s.train_limit + MIN_CALIBRATION <= dataset.n_train:
            end = min(dataset.n_train, s.train_limit + 2000)
            return (dataset.x_train[s.train_limit:end], dataset.t_train[s.train_limit:end],
                    f"training digits {s.train_limit + 1:,}-{end:,} (after the {s.train_limit:,} it trained on)")
    if (header.get("metadata") or {}).get("pretrained"):
        held = _sample_held_out(dataset)
        if held is not None:
            return held[0], held[1], SAMPLE_HELD_OUT
    why = (f"the model trained on {other}, so which of these it did not train on is not known" if other else
           f"the model held out only {few:,} digits, under the {MIN_CALIBRATION} a calibration needs" if few else
           "the header does not say which digits the model did not train on")
    return (dataset.x_test, dataset.t_test,
            f"{test_digits_of(dataset)} ({why}: do not measure calibration on these same digits)")


def test_digits_of(dataset):
    """How a calibration fitted on the dataset's test split names its digits (evaluate notes it on those digits)."""
    return f"the {dataset.x_test.shape[0]:,} test digits of {dataset.name}"


def _outliers_of(header):
    """The --outliers a `digitnet train` file was trained with (its header's settings), or None. calibrate chooses
    the score with them by default: without, it refitted an energy score (outlier exposure) as msp, unsaid."""
    settings = (header.get("metadata") or {}).get("settings")
    value = settings.get("outliers") if isinstance(settings, dict) else None
    return value if isinstance(value, str) and value else None


def _other_data(header, dataset):
    """The header's dataset (run.py writes dataset.describe()) where its name or its counts are not this one's,
    else None: the held-out share of a run is found again only in the data it trained on (from another folder
    holding them, too). Before, calibrating on the offline sample a model trained on mnist-10k fitted it on
    digits it trained on, called held out."""
    import re

    saved = (header.get("metadata") or {}).get("dataset")
    if not isinstance(saved, str):
        return None

    def name_and_counts(described):
        m = re.fullmatch(r"(.*?) at .*?( \([\d,]+ train / [\d,]+ test\))?", described, flags=re.S)
        return (m[1], m[2]) if m else (described, None)

    return None if name_and_counts(saved) == name_and_counts(dataset.describe()) else saved


def _sample_held_out(dataset):
    """(x, t) of the offline sample's 2,000 test digits (MNIST training digits 8,001-10,000) as the dataset
    holds them, found by their pixels; None when it does not hold them (another dataset)."""
    from ..data.mnist import SAMPLE_NAME, SAMPLE_TRAIN, load_sample

    if dataset.name == SAMPLE_NAME:
        return dataset.x_test, dataset.t_test
    sample = load_sample(dtype=dataset.x_train.dtype)
    end = SAMPLE_TRAIN + sample.x_test.shape[0]
    part = dataset.x_train[SAMPLE_TRAIN:end]
    if part.shape == sample.x_test.shape and np.array_equal(part, sample.x_test):
        return part, dataset.t_train[SAMPLE_TRAIN:end]
    return None


@click.command("calibrate")
@click.argument("model", metavar="MODEL")
@data_options
@click.option("--outliers", metavar="KIND[+KIND...]|DIR|none",
              help="Held-out outliers (never the ones a test measures with) that choose the rejection score: msp "
                   "or energy, whichever tells them from the digits better. Default: the kinds the model trained "
                   "with (its header's --outliers), else none; none: msp.")
@click.option("--rate", default=0.01, show_default=True, type=FiniteFloat(min=0, max=1, min_open=True),
              help="The share of digits the threshold may reject, at most (with 95 % confidence).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the calibrated model here instead of over MODEL (required for a bundled model).")
@friendly_errors
def command(model, data_dir, offline, outliers, rate, out):
    """Fit MODEL's temperature and its "not a digit" threshold and save them in the file.

    MODEL is a model file (re-saved in place, atomically, weights unchanged) or a bundled model's name
    with --out. The digits come from --data-dir / --offline (see `digitnet train`): the ones the model
    held out when its header says so and the data is the one it trained on (a bundled model: MNIST training
    digits 8,001-10,000), else the dataset's test split."""
    from ..calibration import fit_for_net, from_metadata
    from ..model_io import load_model, params_digest, refuse_write_protected, save_model
    from ..outliers import outlier_sets, parse_spec
    from ..pretrained import bundled_models, bundled_path

    if model in bundled_models():
        if out is None:
            raise click.UsageError(f"{model} is a bundled model: give --out FILE for the calibrated copy (the "
                                   "package's own files are made by scripts/make_pretrained.py, in digitnet's source)")
        path = bundled_path(model)
    else:
        path = Path(model)
    net, header = load_model(path, calibration=False)  # a calibration it cannot read is the one to replace
    try:
        from_metadata(header.get("metadata"), path)
    except ModelFileError as e:
        click.echo(f"note: {e}: fitting it anew", err=True)
    refuse_write_protected(out or path)  # before the work, not after it
    dataset = load_data(data_dir, offline, dtype=np.result_type(*net.params.values()))
    if dataset.x_train.shape[1] != net.input_size:
        raise DigitnetError(f"{path}: the model takes {net.input_size} inputs, the dataset's images have "
                            f"{dataset.x_train.shape[1]}")
    try:
        x, t, described = calibration_digits(header, dataset)
    except DigitnetError as e:
        raise DigitnetError(f"{path}: {e}") from None
    held_out, own = None, outliers is None
    outliers = _outliers_of(header) if own else outliers
    if outliers and outliers != "none":
        try:
            held_out = outlier_sets(parse_spec(outliers))[1]
        except (ValueError, DigitnetError) as e:  # no such kind or folder; Fashion-MNIST not installed
            if not own:
                raise click.BadParameter(str(e), param_hint="--outliers") if isinstance(e, ValueError) else e from None
            click.echo(f"note: the model trained with outliers {outliers}, not found here ({e}): the score is "
                       "chosen without them (msp)", err=True)
    if held_out is not None and held_out.shape[1] != x.shape[1]:  # before: a ValueError traceback from the net
        raise click.BadParameter(f"{outliers}: pictures of {held_out.shape[1]} pixels, and the digits have "
                                 f"{x.shape[1]}", param_hint="--outliers")
    before = params_digest(net.state_arrays())
    confidence, aurocs = fit_for_net(net, x, t, held_out, rate=rate, fitted_on=described)
    metadata = dict(header.get("metadata") or {})
    metadata["calibration"] = confidence.as_metadata()
    target = out or path
    save_model(target, net, metadata)
    if load_model(target)[1]["sha256"] != before:  # never: save_model writes the arrays it was given
        raise DigitnetError(f"{target}: the weights changed on saving; please report this as a bug")
    click.echo(f"fitted on {described}" + (f", with held-out outliers {outliers}" if held_out is not None else ""))
    click.echo(f"{confidence.describe()}; rejection: {confidence.score} below "
               f"{confidence.threshold:.4g} (at most {100 * rate:g} % of digits)"
               + "".join(f"; AUROC {k} {v:.4f}" for k, v in aurocs.items()))
    click.echo(f"saved {target}")
    accuracy = net.accuracy(x, t)
    if accuracy < NEAR_CHANCE:  # its temperature then only says the net is not sure of anything
        click.echo(f"Warning: the model is right on only {100 * accuracy:.1f}% of these digits (chance is "
                   f"{100 * CHANCE:.0f}%): it learned almost nothing, and its confidence means little; train it "
                   "further, then calibrate it again.", err=True)
