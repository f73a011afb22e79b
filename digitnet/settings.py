"""A training run's settings as one typed object.

Each field below declares its own command-line option (the flag, the kind of value and the help text
live beside the field, as plain data: cli/options.py turns them into click options, so this module
needs no command-line library). The checkpoint and the model file store the settings as a dict
(dataclasses.asdict), and a resumed run or another worker rebuilds them with RunSettings.from_dict.
resolved() fills in what the user left to the defaults, so what is stored is what ran: the seed
actually drawn, the optimizer, learning rate and dropout actually used.
"""
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .nets.factory import MODELS, net_class

DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}
DEFAULT_ITERS = 10_000  # the book's iters_num
# What a run trains with when neither the command line nor the model's recipe (its class's `recipe`) says.
GENERAL_DEFAULTS = {"batch_size": 100, "schedule": "constant", "augment": False, "sampling": "replacement",
                    "label_smoothing": 0.0, "weight_decay": 0.0}
SCHEDULES = ["constant", "step", "cosine", "one-cycle"]


def parse_hidden(value):
    """'50' or '256,128' -> [50] or [256, 128]; ValueError for anything else."""
    try:
        sizes = [int(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(f"{value!r}: give sizes like 50 or 256,256") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{value!r}: sizes must be positive")
    return sizes


def parse_init(value):
    """A positive standard deviation, 'xavier' or 'he'; ValueError for anything else."""
    if value in ("xavier", "he", "pytorch"):
        return value
    try:
        std = float(value)
    except ValueError:
        raise ValueError(f"{value!r}: give a standard deviation, 'xavier', 'he' or 'pytorch'") from None
    if not 0 < std < float("inf"):
        raise ValueError("a standard deviation must be positive and finite")
    return std


def parse_workers(value):
    """'auto' or a whole number of workers (parallel.launch.parse_workers); ValueError for anything else."""
    from .parallel.launch import ParallelError
    from .parallel.launch import parse_workers as count

    try:
        return count(value)
    except ParallelError as e:
        raise ValueError(str(e).replace("--workers ", "")) from None


def parse_outliers(value):
    """fashion, drawn, pairs, cuts, kinds joined by + or a folder (outliers.parse_spec); else ValueError."""
    from .outliers import parse_spec

    return parse_spec(value)


PARSERS = {"hidden": parse_hidden, "init": parse_init, "workers": parse_workers, "outliers": parse_outliers}


def option(flag, default=None, **spec):
    """A dataclass field that is also a command-line option, described as data: spec holds kind (int, float,
    str, flag, dir or choice), help, and where they apply min, max, min_open, max_open, choices, metavar,
    show_default and parse (a name in PARSERS)."""
    return field(default=default, metadata={"option": {"flag": flag, "default": default, **spec}})


@dataclass
class RunSettings:
    """Everything that decides what a training run computes. Paths of outputs (--out, --plot) are not settings."""
    data_dir: str = option("--data-dir", kind="dir",
                           help="A folder with the four MNIST-format IDX files (gzipped or not). "
                                "Default: the cache, downloading what is missing.")
    offline: bool = option("--offline", default=False, kind="flag",
                           help="Never download; use the cache, or the bundled sample. Env: DIGITNET_OFFLINE=1.")
    train_limit: int = option("--train-limit", kind="int", min=1, metavar="N",
                              help="Train on the first N training digits only (before --validation takes its share). "
                                   "--train-limit 10000 is the README's accuracy-table setup.")
    model: str = option("--model", default="two-layer", kind="choice", choices=MODELS, show_default=True,
                        help="two-layer: the book's ch. 5 net; mlp: ch. 6's MultiLayerNet; "
                             "simple-cnn / deep-cnn: ch. 7 / ch. 8; fast-cnn: a batch-norm net that trains with "
                             "its own recipe (8 epochs, one-cycle, augmentation) past 99 % in under a minute.")
    iters: int = option("--iters", kind="int", min=1,
                        help=f"Training steps (the book's iters_num). Default {DEFAULT_ITERS:,}.")
    epochs: int = option("--epochs", kind="int", min=1,
                         help="Epochs instead of --iters (an epoch = training size / batch size steps).")
    batch_size: int = option("--batch-size", kind="int", min=1, help="Default 100 (fast-cnn: its recipe's).")
    optimizer: str = option("--optimizer", kind="choice", choices=list(DEFAULT_LR),
                            help="Default: sgd for two-layer and mlp, adam for the conv nets (the book's choices).")
    lr: float = option("--lr", kind="float", min=0, min_open=True,
                       help="Learning rate. Default: 0.1 for sgd, 0.01 for momentum/nesterov/adagrad, "
                            "0.001 for rmsprop/adam.")
    schedule: str = option("--schedule", kind="choice", choices=SCHEDULES,
                           help="Default constant (fast-cnn: one-cycle). step: x0.1 after each third of training; "
                                "cosine: half a cosine down to 0; one-cycle: up linearly over the first fifth, then "
                                "linearly down to 0.")
    hidden: list = option("--hidden", parse="hidden", metavar="SIZES",
                          help="Hidden units: one size, or a comma list for mlp (e.g. 256,256). "
                               "Defaults: 50 / 100,100 / 100 / 50.")
    activation: str = option("--activation", default="relu", kind="choice", choices=["relu", "sigmoid"],
                             show_default=True, help="mlp only.")
    init: object = option("--init", parse="init", metavar="STD|xavier|he|pytorch",
                          help="Initial weight scale. Defaults: 0.01 (two-layer, simple-cnn, as the book), "
                               "he (mlp, deep-cnn), pytorch (fast-cnn: PyTorch's default spread).")
    weight_decay: float = option("--weight-decay", kind="float", min=0,
                                 help="L2 weight decay lambda. Default 0 (fast-cnn: its recipe's).")
    dropout: float = option("--dropout", kind="float", min=0, max=1, max_open=True,
                            help="Dropout ratio (mlp; deep-cnn's is 0.5 unless set).")
    batch_norm: bool = option("--batch-norm", default=False, kind="flag",
                              help="Batch normalisation after each hidden affine layer (mlp).")
    augment: bool = option("--augment/--no-augment", kind="flag",
                           help="Random shifts (2 px), rotations (10 deg) and scaling (0.9-1.1) of each batch. "
                                "Default: off (fast-cnn: on).")
    elastic: float = option("--elastic", default=0.0, kind="float", min=0, metavar="ALPHA",
                            help="With augmentation, also an elastic distortion of each digit (Simard et al. 2003): "
                                 "random displacements smoothed over 4 pixels, times ALPHA (34 is the classic; "
                                 "slower, for long runs).")
    label_smoothing: float = option("--label-smoothing", kind="float", min=0, max=1, max_open=True, metavar="EPS",
                                    help="Train toward (1 - EPS) on the right digit and EPS/10 on each (fast-cnn "
                                         "only). Default: its recipe's.")
    validation: int = option("--validation", default=0, show_default=True, kind="int", min=0,
                             help="Carve this many training samples out for validation; the best validation "
                                  "epoch's weights are kept.")
    calibration: int = option("--calibration", default=1000, show_default=True, kind="int", min=0, metavar="N",
                              help="Hold the last N training digits out (at most a tenth of them, and none when that "
                                   "is under 100) to fit the model's temperature and its 'not a digit' threshold "
                                   "(docs/rejection.md). With --validation those digits serve (100 at least), and "
                                   "nothing more is held out. 0: none.")
    outliers: str = option("--outliers", kind="str", parse="outliers", metavar="KIND[+KIND...]|DIR",
                           help="Outlier exposure: add images that are not digits to each batch (half a batch), "
                                "taught to spread their probability evenly, so the model can say 'not a digit'. "
                                "fashion: Fashion-MNIST's training images (apt-get install dataset-fashion-mnist); "
                                "drawn: letters, shapes and pen strokes drawn by digitnet; pairs: two touching digits "
                                "cut out as one, and cuts: the reader's wrong cuts (both help `digitnet read` cut "
                                "numbers right); kinds join with +, as in fashion+drawn; DIR: a folder of IDX files.")
    pen_digits: float = option("--pen-digits", default=0.0, kind="float", min=0, max=1, metavar="SHARE",
                               help="Add this share of the training digits again, redrawn as if with a pen (hard "
                                    "edges, strokes thinned or thickened, prepared like a user's picture): drawn "
                                    "digits are then read as well as scanned ones, and, with --outliers, the pen's "
                                    "look is not taken for 'not a digit'. 0.5 in the bundled models' recipe.")
    cut_digits: float = option("--cut-digits", default=0.0, kind="float", min=0, max=1, metavar="SHARE",
                               help="Add this share of the training digits again as `digitnet read` cuts digits "
                                    "out of a number: broken into strokes, or cut from between touching "
                                    "neighbours as read cuts them, so that read does not reject them. "
                                    "0.5 in the bundled fast-cnn's recipe.")
    sampling: str = option("--sampling", kind="choice", choices=["replacement", "shuffle"],
                           help="replacement (the default; fast-cnn: shuffle): the book's random batches; "
                                "shuffle: a new permutation each epoch.")
    seed: int = option("--seed", kind="int", min=0,
                       help="Same seed, same result. Default: a random seed, printed.")
    checkpoint_every: int = option("--checkpoint-every", kind="int", min=1, metavar="STEPS",
                                   help="Save a checkpoint (weights, optimizer and random state) every STEPS steps, "
                                        "to OUT's name with .ckpt.npz. Ctrl-C always saves one.")
    warmup: int = option("--warmup", default=0, kind="int", min=0, metavar="STEPS",
                         help="Ramp the learning rate up linearly over the first STEPS steps, then follow --schedule "
                              "(with a large --batch-size and --lr scaled with it: docs/cluster.md).")
    workers: int = option("--workers", default=1, kind="str", parse="workers", metavar="N|auto",
                          help="Train with N processes, data-parallel over MPI (auto: every usable core); "
                               "--batch-size stays the whole batch. Needs pip install 'digitnet[mpi]'; "
                               "docs/cluster.md.")
    # Not what the run computes, but kept with it, so that --resume goes on writing to the same folder.
    logdir: str = option("--logdir", kind="dir", metavar="DIR",
                         help="Write TensorBoard event files to DIR (e.g. runs/NAME): loss per step, accuracies per "
                              "epoch, weight and activation histograms, first-layer filters, misclassified digits. "
                              "Needs pip install 'digitnet[tensorboard]'; watch with: tensorboard --logdir runs")

    @classmethod
    def from_dict(cls, values):
        """The settings stored by asdict() (in a checkpoint or a model file); keys this digitnet lacks are an error."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown settings {', '.join(sorted(unknown))}")
        return cls(**{"calibration": 0, **values})  # runs from before --calibration held nothing out

    def as_dict(self):
        return asdict(self)

    def resolved(self):
        """A copy with every default that depends on others filled in: seed, optimizer, lr, dropout, iters, and
        what the model's recipe sets (its class's `recipe`: fast-cnn's epochs, schedule, augmentation ...)."""
        net = net_class(self.model)
        recipe = net.recipe
        optimizer = self.optimizer or recipe.get("optimizer") or net.default_optimizer
        lr = default_lr(self.model, optimizer) if self.lr is None else self.lr
        length = {"iters": self.iters, "epochs": self.epochs}
        if self.iters is None and self.epochs is None:
            length = {"iters": None, "epochs": recipe["epochs"]} if "epochs" in recipe else {"iters": DEFAULT_ITERS}
        picked = {name: recipe.get(name, general) if getattr(self, name) is None else getattr(self, name)
                  for name, general in GENERAL_DEFAULTS.items()}
        return replace(self, optimizer=optimizer, lr=lr, **length, **picked,
                       dropout=net.default_dropout if self.dropout is None else self.dropout,
                       seed=secrets.randbelow(2**31) if self.seed is None else self.seed,
                       data_dir=None if self.data_dir is None else str(self.data_dir),
                       logdir=None if self.logdir is None else str(self.logdir))

    @property
    def data_path(self):
        return None if self.data_dir is None else Path(self.data_dir)


def option_fields(*names):
    """The fields that are command-line options, in declaration order (all of them, or those named)."""
    return [f for f in fields(RunSettings) if "option" in f.metadata and (not names or f.name in names)]


def default_lr(model, optimizer):
    """The learning rate a run of `model` with `optimizer` takes when --lr is not given: the model's recipe's rate
    with the recipe's optimizer (fast-cnn: nesterov at 0.1), else DEFAULT_LR's for the optimizer."""
    recipe = net_class(model).recipe
    return recipe["lr"] if "lr" in recipe and optimizer == recipe.get("optimizer") else DEFAULT_LR[optimizer]
