"""One training run, built from its RunSettings: the data, the net, the optimizer and schedule, the loop,
the checkpoints and the saved files. `digitnet train` is a thin layer over these functions.

    settings = RunSettings(model="mlp", epochs=3).resolved()
    run = prepare(settings, dataset)
    history = execute(run, callbacks=[...], checkpoint=Checkpointer(path, run))
    save_outputs(run, history, Path("model.npz"))
"""
import functools
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .checkpoint import dataset_identity, save_checkpoint, with_outliers
from .errors import DigitnetError, OptionError, on_every_worker
from .train import train, validation_split


class NetBuildError(DigitnetError):
    """The settings do not build a network (one line, whatever the constructor raised)."""


@dataclass
class Run:
    """What a run computes with: everything here follows from the settings and the dataset."""
    settings: object  # RunSettings, resolved
    dataset: object  # data.Dataset, the whole of it (its identity goes into checkpoints)
    train_set: tuple  # (x, t) after --train-limit and the validation split
    val_set: tuple  # (x, t) or None
    net: object
    optimizer: object
    schedule: object
    augmenter: object
    rng: np.random.Generator
    total: int  # training steps
    calibration_set: tuple = None  # (x, t) the temperature and rejection threshold are fitted on, or None
    outliers: tuple = None  # --outliers: (images trained on, held-out images), see outliers.outlier_sets

    @functools.cached_property
    def dataset_identity(self):
        """checkpoint.dataset_identity of the dataset: hashed once a run, for a resume's check, the workers'
        comparison (same_data) and every checkpoint; a fraction of a second for 60,000 digits."""
        return with_outliers(dataset_identity(self.dataset), self.outliers)

    @property
    def train_eval_size(self):
        return self.net.train_eval_size  # a family's fact: the CNNs score 5,000 training digits an epoch, not all


MIN_CALIBRATION = 100  # validation digits fewer than this are not calibrated on (a threshold from 1 digit ...)


def training_data(settings, dataset, rng):
    """((x, t) train, (x, t) validation or None): the first --train-limit digits, then the validation split."""
    x, t = dataset.x_train[:settings.train_limit], dataset.t_train[:settings.train_limit]
    if not settings.validation:
        return (x, t), None
    if settings.validation >= x.shape[0]:
        raise OptionError(f"--validation {settings.validation} leaves no training data ({x.shape[0]} samples)")
    return validation_split(x, t, settings.validation, rng)


def calibration_split(settings, train_set, val_set):
    """(train set, calibration set): the validation digits when there are some (nothing more is held out; none
    with --calibration 0, or fewer than MIN_CALIBRATION of them), else the last --calibration training digits, at
    most a tenth of them (none when that is fewer than MIN_CALIBRATION). The last ones, not a random draw: the
    random stream, and so every seeded run's weights, stay as they were."""
    if val_set is not None:  # before, used whatever --calibration said and however few: 1 digit set a threshold
        enough = settings.calibration and val_set[0].shape[0] >= MIN_CALIBRATION  # that rejected 40 % of digits
        return train_set, val_set if enough else None
    x, t = train_set
    n = min(settings.calibration or 0, x.shape[0] // 10)
    if n < MIN_CALIBRATION:  # before: from 100 training digits on, however few that gave (30 of --train-limit 300)
        return train_set, None
    return (x[:-n], t[:-n]), (x[-n:], t[-n:])


def build_network(settings, input_size, rng):
    """The net the settings name; any failure of a constructor becomes one line."""
    from .nets.factory import build_net

    s = settings
    try:
        return build_net(s.model, input_size=input_size, hidden=s.hidden, init=s.init, activation=s.activation,
                         weight_decay=s.weight_decay, dropout=s.dropout, batch_norm=s.batch_norm,
                         label_smoothing=s.label_smoothing, rng=rng, dtype=np.float32)
    except ValueError as e:  # the factory's own messages: options the model does not take
        raise OptionError(str(e)) from None
    except Exception as e:
        raise NetBuildError(f"cannot build {s.model} with these settings ({type(e).__name__}: {e})") from None


def learning_rate_schedule(settings, total):
    from .optimizers import ConstantLR, CosineLR, OneCycleLR, StepLR, WarmupLR

    lr, warmup = settings.lr, getattr(settings, "warmup", 0)
    if warmup >= total > 0:  # the rate would never reach --lr: before, taken without a word
        raise OptionError(f"--warmup {warmup:,} is not shorter than the run ({total:,} steps): the learning rate "
                          "would never reach --lr")
    total -= warmup  # the schedule runs after the warm-up (WarmupLR)
    third = max(-(-total // 3), 1)  # rounded up: 10 steps in thirds of 3 gave the last step a fourth rate
    schedule = {"constant": lambda: ConstantLR(lr), "step": lambda: StepLR(lr, third, 0.1),
                "cosine": lambda: CosineLR(lr, max(total, 1)),
                "one-cycle": lambda: OneCycleLR(lr, total, min(max(total // 5, 1), total - 1)) if total > 1
                else ConstantLR(lr)}[settings.schedule]()
    return WarmupLR(schedule, warmup) if warmup else schedule


def prepare(settings, dataset):
    """A Run from resolved settings. The random generator is used in a fixed order (split, then weights),
    so the same seed builds the same run."""
    from .optimizers import OPTIMIZERS

    s = settings
    rng = np.random.default_rng(s.seed)
    train_set, val_set = training_data(s, dataset, rng)
    train_set, calibration_set = calibration_split(s, train_set, val_set)
    _check_digit_size(s, train_set[0].shape[1])
    if getattr(s, "pen_digits", 0):
        from .pen_digits import redraw_share
        train_set = redraw_share(*train_set, s.pen_digits, np.random.default_rng([s.seed, 1]))
    if getattr(s, "cut_digits", 0):
        from .cut_digits import cut_share
        train_set = cut_share(*train_set, s.cut_digits, np.random.default_rng([s.seed, 2]))
    if s.batch_size > train_set[0].shape[0]:
        raise OptionError(f"--batch-size {s.batch_size} is larger than the training set ({train_set[0].shape[0]})")
    net = build_network(s, train_set[0].shape[1], rng)
    _check_batch_norm(s, net)
    total = s.iters if s.iters is not None else s.epochs * max(train_set[0].shape[0] // s.batch_size, 1)
    augmenter = None
    if s.elastic and not s.augment:
        raise OptionError("--elastic distorts the augmented batches: add --augment")
    if s.augment:
        from .augment import Augmenter
        side = math.isqrt(train_set[0].shape[1])
        if side * side != train_set[0].shape[1]:  # before: a ValueError traceback from the first batch
            raise OptionError(f"--augment turns square pictures; these have {train_set[0].shape[1]} pixels")
        augmenter = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1), image_shape=(side, side),
                              elastic_alpha=s.elastic)  # the data's own size (a 20x20 set was refused)
    return Run(s, dataset, train_set, val_set, net, OPTIMIZERS[s.optimizer](lr=s.lr),
               learning_rate_schedule(s, total), augmenter, rng, total, calibration_set, _outliers(s, train_set[0]))


def _check_batch_norm(s, net):
    """A MultiLayerNet's batch norm normalises each feature over the batch: a batch of 1 (per worker) is refused
    here in one line rather than by the layer at the first step."""
    from .batch_norm import BatchNormalization

    share = s.batch_size // max(getattr(s, "workers", 1) or 1, 1)
    if share < 2 and any(isinstance(layer, BatchNormalization) for layer in getattr(net, "layers", {}).values()):
        each = " per worker" if s.batch_size > share else ""
        raise on_every_worker(OptionError(f"--batch-size {s.batch_size}: batch normalization needs batches of 2 or "
                                          f"more{each}"))


def _check_digit_size(s, pixels):
    """--pen-digits and --cut-digits draw and cut 28x28 digits: other pictures were a reshape traceback."""
    for option, share in (("--pen-digits", getattr(s, "pen_digits", 0)), ("--cut-digits", getattr(s, "cut_digits", 0))):
        if share and pixels != 28 * 28:
            raise on_every_worker(OptionError(f"{option} works on 28x28 digits; these pictures have {pixels} pixels"))


def _outliers(s, x_train):
    """--outliers' sets (to train on, held out), or None: refused when their size is not the digits', or when
    some are pictures the net trains on as classes (Fashion-MNIST's own with --outliers fashion: each taught as
    its class and as "not a digit" at once, without a word)."""
    if not getattr(s, "outliers", None):
        return None
    from .outliers import outlier_sets
    outliers = outlier_sets(s.outliers)
    if outliers[0].shape[1] != x_train.shape[1]:  # before: a ValueError traceback from train()
        raise on_every_worker(OptionError(f"--outliers {s.outliers}: pictures of {outliers[0].shape[1]} pixels, and "
                                          f"the digits have {x_train.shape[1]}"))
    mine = set(_pixel_keys(outliers[0]))
    shared = sum(key in mine for key in _pixel_keys(x_train))
    if shared:
        raise on_every_worker(OptionError(f"--outliers {s.outliers}: {shared:,} of its pictures are among the "
                                          "training pictures, which the net would learn as their class and as 'not a "
                                          "digit' at once"))
    return outliers


def _pixel_keys(x, chunk=4096):
    """A hash of each picture's pixels as bytes 0-255: the same picture in float32 and in float64 is one key."""
    for start in range(0, len(x), chunk):
        for row in np.round(np.asarray(x[start:start + chunk]) * 255).astype(np.uint8):
            yield hash(row.tobytes())


def describe(run):
    """The two lines a run starts with: the data, then the net and how it trains."""
    s, n_train = run.settings, run.dataset.n_train
    data = f"dataset: {run.dataset.describe()}"
    if s.train_limit is not None:
        data += (f"; training on its first {s.train_limit:,} digits" if s.train_limit < n_train else
                 f"; --train-limit {s.train_limit:,} is not below its {n_train:,} training digits: all are used")
    if run.val_set is not None:
        data += f"; {run.val_set[0].shape[0]:,} training samples held out for validation"
        if run.calibration_set is not None:
            data += " (and calibration)"
        elif s.calibration:
            data += f" (too few to calibrate on: at least {MIN_CALIBRATION})"
    elif run.calibration_set is not None:
        data += f"; {run.calibration_set[0].shape[0]:,} training digits held out for calibration"
    elif s.calibration:
        data += (f"; not calibrated: a calibration needs {MIN_CALIBRATION} held-out digits at least, and --calibration "
                 f"{s.calibration:,} holds out at most a tenth of the {run.train_set[0].shape[0]:,} training digits")
    sizes = [run.train_set[0].shape[1], *(s.hidden or run.net.default_hidden), 10]
    shape = "" if run.net.convolutional else "-".join(map(str, sizes)) + " "
    augmentation = f"augmentation (elastic {s.elastic:g})" if s.elastic else "augmentation"
    extras = [name for name, on in ((augmentation, s.augment), (f"weight decay {s.weight_decay:g}", s.weight_decay),
                                    (f"label smoothing {s.label_smoothing:g}", s.label_smoothing),
                                    (f"dropout {s.dropout:g}", s.dropout), ("batch norm", s.batch_norm),
                                    (f"warm-up {s.warmup:,} steps", s.warmup),
                                    (f"outlier exposure ({s.outliers})", getattr(s, "outliers", None)),
                                    (f"pen-drawn copies of {s.pen_digits:g} of the digits",
                                     getattr(s, "pen_digits", 0)),
                                    (f"{s.cut_digits:g} of the digits again as read cuts them",
                                     getattr(s, "cut_digits", 0)),
                                    (f"{s.workers} workers (batch {s.batch_size} in all)", s.workers > 1)) if on]
    how = (f"training {type(run.net).__name__} {shape}({s.model}), batch {s.batch_size}, {s.optimizer} lr {s.lr:g} "
           f"({s.schedule}), {run.total:,} steps ({s.sampling} sampling){''.join(', ' + e for e in extras)}, "
           f"seed {s.seed}")
    return [data, how]


def execute(run, *, callbacks=(), state=None, checkpoint=None, stop=None, comm=None):
    """Run the training loop (train.train) with the run's settings; returns the history.
    comm: with N workers, this process's communicator (digitnet.parallel.world())."""
    s = run.settings
    x_val, t_val = run.val_set or (None, None)
    return train(run.net, *run.train_set, run.dataset.x_test, run.dataset.t_test, iters=s.iters, epochs=s.epochs,
                 batch_size=s.batch_size, optimizer=run.optimizer, schedule=run.schedule, sampling=s.sampling,
                 augment=run.augmenter, x_val=x_val, t_val=t_val, keep_best=bool(s.validation),
                 train_eval_size=run.train_eval_size, rng=run.rng, callbacks=callbacks, state=state,
                 checkpoint=checkpoint, checkpoint_every=s.checkpoint_every, stop=stop, comm=comm,
                 outliers=None if run.outliers is None else run.outliers[0])


class Checkpointer:
    """checkpoint(state) for train(): saves the run to path, with its settings and its dataset's identity."""

    def __init__(self, path, run):
        self.path, self.run, self.written = path, run, False

    def __call__(self, state):
        run = self.run
        save_checkpoint(self.path, run.net, run.optimizer, run.rng, state, run.settings.as_dict(),
                        run.dataset_identity)
        self.written = True  # the file at path is this run's (with --fresh, until now it was the run replaced)


def kept_record(history):
    """The epoch whose weights the model holds: the best validation epoch, or the last."""
    return next((r for r in history if r.get("best")), history[-1])


def model_metadata(run, history):
    final = kept_record(history)
    return {
        "dataset": run.dataset.describe(),
        "settings": run.settings.as_dict(),
        "steps": run.total,
        "dtype": "float32",
        "accuracy": {k: final[f"{k}_acc"] for k in ("train", "val", "test") if f"{k}_acc" in final},
        "epoch_kept": final["epoch"],
        "training_time_s": history[-1]["train_time_s"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def calibrate_run(run):
    """The "calibration" metadata entry fitted on the run's calibration digits (and its held-out outliers,
    which choose the rejection score), or None when nothing was held out. Sets run.net.confidence."""
    if run.calibration_set is None:
        return None
    from .calibration import fit_for_net

    x, t = run.calibration_set
    held_out = None if run.outliers is None else run.outliers[1]
    where = "validation" if run.val_set is not None else "calibration"
    confidence, _ = fit_for_net(run.net, x, t, held_out,
                                fitted_on=f"{x.shape[0]:,} held-out training digits ({where} share)")
    run.net.confidence = confidence
    return confidence.as_metadata()


def save_outputs(run, history, out):
    """Write the model (atomically, with its calibration) and its metrics JSON; returns the metrics path."""
    from .model_io import atomic_write, save_model
    from .nets.base import params_digest

    metadata = model_metadata(run, history)
    calibration = calibrate_run(run)
    if calibration is not None:
        metadata["calibration"] = calibration
    save_model(out, run.net, metadata)
    metrics_path = out.with_suffix(".metrics.json")
    weights = params_digest(run.net.state_arrays())  # evaluate --plots draws these curves for these weights only
    text = json.dumps({"dataset": run.dataset.describe(), "weights_sha256": weights, "epochs": history}, indent=1,
                      allow_nan=False) + "\n"
    atomic_write(metrics_path, lambda f: f.write(text.encode()))
    return metrics_path


def resume_conflicts(given, saved, names):
    """[(option name, given value, the run's value)] for each setting in names where the two differ; --hidden and
    --init that a run left out are its model's defaults (before, --hidden 50 was refused for the run's "None")."""
    from .nets.factory import net_class

    def plain(settings, name):  # a data folder given as a Path is the str a checkpoint stores
        value = getattr(settings, name)
        if value is None and name in ("hidden", "init"):
            model = net_class(settings.model)
            return model.default_hidden if name == "hidden" else model.default_init
        return str(value) if isinstance(value, Path) else value
    return [(n, plain(given, n), plain(saved, n)) for n in names if plain(given, n) != plain(saved, n)]


def join_workers(settings, args, out, checkpoint_path, resume):
    """This process's communicator; with --workers N outside MPI, run N workers of `args` here and exit.
    args: the command's own arguments (not sys.argv: a script may call the command line itself)."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .outputs import remove_run_leftovers, run_files
    from .parallel.launch import join_or_launch

    def after_loss(failed=False):
        remove_run_leftovers(out)  # a worker killed mid-write leaves its temporary file
        try:
            step = load_checkpoint(checkpoint_path)[0]["step"]
        except CheckpointError:
            return None if failed else "no checkpoint was written (--checkpoint-every STEPS saves them)"
        return (f"the last checkpoint is {checkpoint_path} (step {step:,}); "
                f"continue with: digitnet train --resume --out {out}")

    from .model_io import leftovers_of

    comm = join_or_launch(settings.workers, args, after_loss, [leftovers_of(path) for path in run_files(out)])
    if comm.size > 1 and resume and settings.workers != comm.size:
        raise on_every_worker(DigitnetError(f"{checkpoint_path} was written by {settings.workers} worker(s); "
                                            f"resume it with --workers {settings.workers}, not {comm.size}"))
    settings.workers = comm.size
    if settings.batch_size < comm.size:
        raise on_every_worker(OptionError(f"--batch-size {settings.batch_size} gives {comm.size} workers less "
                                          "than a sample each"))
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


def same_data(comm, run):
    """With N workers: is every rank's data rank 0's? docs/cluster.md asks for the same data at the same path on
    every host; other data made the ranks' epochs end at different steps, and MPI failed with a stack of its
    internals (data of the same size but other digits would have trained on a mix without a word)."""
    if comm.size == 1:
        return
    from .checkpoint import describe_dataset
    from .parallel import PeerFailed

    identities = comm.allgather(run.dataset_identity)
    other = next((rank for rank, identity in enumerate(identities) if identity != identities[0]), None)
    if other is None:
        return
    line = (f"worker {other} has other data than worker 0: {describe_dataset(identities[other])} against "
            f"{describe_dataset(identities[0])}; give every worker the same data")
    raise DigitnetError(line) if comm.rank == 0 else PeerFailed(line)
