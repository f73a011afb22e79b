"""One training run, built from its RunSettings: the data, the net, the optimizer and schedule, the loop,
the checkpoints and the saved files. `digitnet train` is a thin layer over these functions.

    settings = RunSettings(model="mlp", epochs=3).resolved()
    run = prepare(settings, dataset)
    history = execute(run, callbacks=[...], checkpoint=Checkpointer(path, run))
    save_outputs(run, history, Path("model.npz"))
"""
import contextlib
import json
import os
import signal
from dataclasses import dataclass
from datetime import datetime, timezone

import click
import numpy as np

from .checkpoint import dataset_identity, save_checkpoint
from .errors import DigitnetError
from .settings import DEFAULT_LR
from .train import Callback, train, validation_split

CHANCE = 0.1  # ten digits
NEAR_CHANCE = 0.2  # a final accuracy below this learned next to nothing


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

    @property
    def train_eval_size(self):
        # Training accuracy on every sample costs a full inference pass each epoch; for the CNNs 5,000 tell as much.
        return None if self.settings.model in ("two-layer", "mlp") else 5000


def training_data(settings, dataset, rng):
    """((x, t) train, (x, t) validation or None): the first --train-limit digits, then the validation split."""
    x, t = dataset.x_train[:settings.train_limit], dataset.t_train[:settings.train_limit]
    if not settings.validation:
        return (x, t), None
    if settings.validation >= x.shape[0]:
        raise click.BadParameter(f"{settings.validation} leaves no training data ({x.shape[0]} samples)",
                                 param_hint="--validation")
    return validation_split(x, t, settings.validation, rng)


def build_network(settings, input_size, rng):
    """The net the settings name; any failure of a constructor becomes one line."""
    from .nets.factory import build_net

    s = settings
    try:
        return build_net(s.model, input_size=input_size, hidden=s.hidden, init=s.init, activation=s.activation,
                         weight_decay=s.weight_decay, dropout=s.dropout, batch_norm=s.batch_norm, rng=rng,
                         dtype=np.float32)
    except ValueError as e:  # the factory's own messages: options the model does not take
        raise click.UsageError(str(e)) from None
    except Exception as e:  # noqa: BLE001  a constructor fed settings it cannot use fails in its own ways
        raise NetBuildError(f"cannot build {s.model} with these settings ({type(e).__name__}: {e})") from None


def learning_rate_schedule(settings, total):
    from .optimizers import ConstantLR, CosineLR, StepLR, WarmupLR

    lr = settings.lr
    schedule = {"constant": lambda: ConstantLR(lr), "step": lambda: StepLR(lr, max(total // 3, 1), 0.1),
                "cosine": lambda: CosineLR(lr, total)}[settings.schedule]()
    return WarmupLR(schedule, settings.warmup) if getattr(settings, "warmup", 0) else schedule


def prepare(settings, dataset):
    """A Run from resolved settings. The random generator is used in a fixed order (split, then weights),
    so the same seed builds the same run."""
    from .optimizers import OPTIMIZERS

    s = settings
    rng = np.random.default_rng(s.seed)
    train_set, val_set = training_data(s, dataset, rng)
    if s.batch_size > train_set[0].shape[0]:
        raise click.BadParameter(f"{s.batch_size} is larger than the training set ({train_set[0].shape[0]})",
                                 param_hint="--batch-size")
    net = build_network(s, train_set[0].shape[1], rng)
    total = s.iters if s.iters is not None else s.epochs * max(train_set[0].shape[0] // s.batch_size, 1)
    augmenter = None
    if s.augment:
        from .augment import Augmenter
        augmenter = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1))
    return Run(s, dataset, train_set, val_set, net, OPTIMIZERS[s.optimizer](lr=s.lr),
               learning_rate_schedule(s, total), augmenter, rng, total)


def describe(run):
    """The two lines a run starts with: the data, then the net and how it trains."""
    from .nets.factory import DEFAULT_HIDDEN

    s, n_train = run.settings, run.dataset.n_train
    data = f"dataset: {run.dataset.describe()}"
    if s.train_limit is not None:
        data += (f"; training on its first {s.train_limit:,} digits" if s.train_limit < n_train else
                 f"; --train-limit {s.train_limit:,} is not below its {n_train:,} training digits: all are used")
    if run.val_set is not None:
        data += f"; {run.val_set[0].shape[0]:,} training samples held out for validation"
    sizes = [run.train_set[0].shape[1], *(s.hidden or DEFAULT_HIDDEN[s.model]), 10]
    shape = "-".join(map(str, sizes)) + " " if s.model in ("two-layer", "mlp") else ""
    extras = [name for name, on in (("augmentation", s.augment), (f"weight decay {s.weight_decay:g}", s.weight_decay),
                                    (f"dropout {s.dropout:g}", s.dropout), ("batch norm", s.batch_norm),
                                    (f"warm-up {s.warmup:,} steps", s.warmup),
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
                 checkpoint=checkpoint, checkpoint_every=s.checkpoint_every, stop=stop, comm=comm)


class Checkpointer:
    """checkpoint(state) for train(): saves the run to path, with its settings and its dataset's identity."""

    def __init__(self, path, run):
        self.path, self.run, self.identity = path, run, None

    def __call__(self, state):
        if self.identity is None:  # hashing the data costs a fraction of a second: only when a checkpoint is due
            self.identity = dataset_identity(self.run.dataset)
        run = self.run
        save_checkpoint(self.path, run.net, run.optimizer, run.rng, state, run.settings.as_dict(), self.identity)


class ProgressPrinter(Callback):
    """A progress bar of steps (on a terminal) and one line per epoch."""

    def __init__(self, total, done=0):
        from tqdm import tqdm

        self.tqdm = tqdm
        # disable=None: a bar on a terminal only; a --workers run's rank 0 writes to a pipe to one (launch.py)
        on_terminal = False if os.environ.get("DIGITNET_TERMINAL") else None
        self.bar = tqdm(total=total, unit="step", leave=False, disable=on_terminal, dynamic_ncols=True)
        self.bar.update(done)

    def on_step(self, state, loss):
        self.bar.update(1)

    def on_epoch(self, state, r):
        self.bar.clear()
        val = f"  val acc {100 * r['val_acc']:6.2f}%" if "val_acc" in r else ""
        self.tqdm.write(f"epoch {r['epoch']:3d}  step {r['iteration']:6d}  loss {r['train_loss']:.4f}  "
                        f"train acc {100 * r['train_acc']:6.2f}%{val}  test acc {100 * r['test_acc']:6.2f}%  "
                        f"{r['elapsed_s']:7.1f}s")

    def close(self):
        self.bar.close()


@contextlib.contextmanager
def ctrl_c_stops():
    """Yields stop(): true once Ctrl-C was pressed, so training ends after the step in progress and the
    checkpoint holds a whole step. A second Ctrl-C stops at once."""
    interrupted = []

    def on_sigint(signum, frame):
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)


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


def save_outputs(run, history, out):
    """Write the model (atomically) and its metrics JSON; returns the metrics path."""
    from .model_io import save_model

    save_model(out, run.net, model_metadata(run, history))
    metrics_path = out.with_suffix(".metrics.json")
    metrics_path.write_text(json.dumps({"dataset": run.dataset.describe(), "epochs": history}, indent=1) + "\n")
    return metrics_path


def end_warning(run, history):
    """One line when a finished run learned next to nothing or its loss rose, with a hint; else None."""
    s, acc = run.settings, kept_record(history)["test_acc"]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    lr_hint = f"a smaller --lr than {s.lr:g}" if s.lr > DEFAULT_LR[s.optimizer] else None
    if acc < NEAR_CHANCE:
        hint = lr_hint or ("--optimizer adam" if s.optimizer == "sgd" and "cnn" in s.model
                           else "more --iters or --epochs")
        return (f"Warning: test accuracy {100 * acc:.2f}% is near chance ({100 * CHANCE:.0f}%): the net learned "
                f"almost nothing; try {hint}.")
    if len(history) > 1 and last > first:
        return (f"Warning: the training loss rose from {first:.4f} (epoch 1) to {last:.4f} (epoch {len(history)}); "
                f"try {lr_hint or 'a smaller --lr'}.")
    return None
