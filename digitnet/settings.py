"""A training run's settings as one typed object.

The command line builds a RunSettings from its options (each field below declares its own option:
the flag, the type and the help text live beside the field), the checkpoint and the model file store
it as a dict (dataclasses.asdict), and a resumed run or another worker rebuilds it with
RunSettings.from_dict. resolved() fills in what the user left to the defaults, so what is stored is
what ran: the seed actually drawn, the optimizer and learning rate actually used.
"""
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import click

from .nets.factory import DEFAULT_OPTIMIZER, MODELS

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}
DEFAULT_ITERS = 10_000  # the book's iters_num


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


def parse_workers(ctx, param, value):
    from .launch import ParallelError
    from .launch import parse_workers as count

    try:
        return count(value)
    except ParallelError as e:
        raise click.BadParameter(str(e).replace("--workers ", "")) from None


def option(*decls, default=None, **kwargs):
    """A dataclass field that is also a command-line option: click.option(*decls, **kwargs)."""
    return field(default=default, metadata={"option": (decls, {"default": default, **kwargs})})


@dataclass
class RunSettings:
    """Everything that decides what a training run computes. Paths of outputs (--out, --plot) are not settings."""
    data_dir: str = option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                           help="A folder with the four MNIST-format IDX files (gzipped or not). "
                                "Default: the cache, downloading what is missing.")
    offline: bool = option("--offline", default=False, is_flag=True,
                           help="Never download; use the cache, or the bundled sample. Env: DIGITNET_OFFLINE=1.")
    train_limit: int = option("--train-limit", type=click.IntRange(min=1), metavar="N",
                              help="Train on the first N training digits only (before --validation takes its share). "
                                   "--train-limit 10000 is the README's accuracy-table setup.")
    model: str = option("--model", default="two-layer", type=click.Choice(MODELS), show_default=True,
                        help="two-layer: the book's ch. 5 net; mlp: ch. 6's MultiLayerNet; "
                             "simple-cnn / deep-cnn: ch. 7 / ch. 8.")
    iters: int = option("--iters", type=click.IntRange(min=1),
                        help=f"Training steps (the book's iters_num). Default {DEFAULT_ITERS:,}.")
    epochs: int = option("--epochs", type=click.IntRange(min=1),
                         help="Epochs instead of --iters (an epoch = training size / batch size steps).")
    batch_size: int = option("--batch-size", default=100, show_default=True, type=click.IntRange(min=1))
    optimizer: str = option("--optimizer", type=click.Choice(list(DEFAULT_LR)),
                            help="Default: sgd for two-layer and mlp, adam for the conv nets (the book's choices).")
    lr: float = option("--lr", type=click.FloatRange(min=0, min_open=True),
                       help="Learning rate. Default: 0.1 for sgd, 0.01 for momentum/nesterov/adagrad, "
                            "0.001 for rmsprop/adam.")
    schedule: str = option("--schedule", default="constant", type=click.Choice(["constant", "step", "cosine"]),
                           show_default=True, help="step: x0.1 after each third of training; cosine: half a cosine "
                                                   "down to 0.")
    hidden: list = option("--hidden", callback=parse_hidden, metavar="SIZES",
                          help="Hidden units: one size, or a comma list for mlp (e.g. 256,256). "
                               "Defaults: 50 / 100,100 / 100 / 50.")
    activation: str = option("--activation", default="relu", type=click.Choice(["relu", "sigmoid"]),
                             show_default=True, help="mlp only.")
    init: object = option("--init", callback=parse_init, metavar="STD|xavier|he",
                          help="Initial weight scale. Defaults: 0.01 (two-layer, simple-cnn, as the book), "
                               "he (mlp, deep-cnn).")
    weight_decay: float = option("--weight-decay", default=0.0, show_default=True, type=click.FloatRange(min=0),
                                 help="L2 weight decay lambda.")
    dropout: float = option("--dropout", default=0.0, type=click.FloatRange(min=0, max=1, max_open=True),
                            help="Dropout ratio (mlp; deep-cnn's is 0.5 unless set).")
    batch_norm: bool = option("--batch-norm", default=False, is_flag=True,
                              help="Batch normalisation after each hidden affine layer (mlp).")
    augment: bool = option("--augment", default=False, is_flag=True,
                           help="Random shifts (2 px), rotations (10 deg) and scaling (0.9-1.1) of each batch.")
    validation: int = option("--validation", default=0, show_default=True, type=click.IntRange(min=0),
                             help="Carve this many training samples out for validation; the best validation "
                                  "epoch's weights are kept.")
    sampling: str = option("--sampling", default="replacement", type=click.Choice(["replacement", "shuffle"]),
                           show_default=True,
                           help="replacement: the book's random batches; shuffle: a new permutation each epoch.")
    seed: int = option("--seed", type=click.IntRange(min=0),
                       help="Same seed, same result. Default: a random seed, printed.")
    checkpoint_every: int = option("--checkpoint-every", type=click.IntRange(min=1), metavar="STEPS",
                                   help="Save a checkpoint (weights, optimizer and random state) every STEPS steps, "
                                        "to OUT's name with .ckpt.npz. Ctrl-C always saves one.")
    warmup: int = option("--warmup", default=0, type=click.IntRange(min=0), metavar="STEPS",
                         help="Ramp the learning rate up linearly over the first STEPS steps, then follow --schedule "
                              "(with a large --batch-size and --lr scaled with it: docs/cluster.md).")
    workers: int = option("--workers", default=1, type=str, callback=parse_workers, metavar="N|auto",
                          help="Train with N processes, data-parallel over MPI (auto: every usable core); "
                               "--batch-size stays the whole batch. Needs pip install 'digitnet[mpi]'; "
                               "docs/cluster.md.")
    # Not what the run computes, but kept with it, so that --resume goes on writing to the same folder.
    logdir: str = option("--logdir", type=click.Path(file_okay=False), metavar="DIR",
                         help="Write TensorBoard event files to DIR (e.g. runs/NAME): loss per step, accuracies per "
                              "epoch, weight and activation histograms, first-layer filters, misclassified digits. "
                              "Needs pip install 'digitnet[tensorboard]'; watch with: tensorboard --logdir runs")

    @classmethod
    def from_dict(cls, values):
        """The settings stored by asdict() (in a checkpoint or a model file); keys this digitnet lacks are an error."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown settings {', '.join(sorted(unknown))}")
        return cls(**values)

    def as_dict(self):
        return asdict(self)

    def resolved(self):
        """A copy with every default that depends on others filled in: seed, optimizer, lr, iters."""
        optimizer = self.optimizer or DEFAULT_OPTIMIZER[self.model]
        return replace(self, optimizer=optimizer, lr=DEFAULT_LR[optimizer] if self.lr is None else self.lr,
                       seed=secrets.randbelow(2**31) if self.seed is None else self.seed,
                       iters=DEFAULT_ITERS if self.iters is None and self.epochs is None else self.iters,
                       data_dir=None if self.data_dir is None else str(self.data_dir))

    @property
    def data_path(self):
        return None if self.data_dir is None else Path(self.data_dir)


def option_fields(*names):
    """The fields that are command-line options, in declaration order (all of them, or those named)."""
    return [f for f in fields(RunSettings) if "option" in f.metadata and (not names or f.name in names)]


def settings_options(*names):
    """Decorator: a click command gets the options of RunSettings' fields (all, or the names given)."""
    def decorate(command):
        for f in reversed(option_fields(*names)):
            decls, kwargs = f.metadata["option"]
            command = click.option(*decls, f.name, **kwargs)(command)
        return command
    return decorate
