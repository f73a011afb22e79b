"""Run one experiment: seed it, hand it the data, write NAME.json (its numbers) and NAME.png (its figure).

NAME.json depends on nothing but the code, the seed, --quick and the data: the same seed writes the
same file, however many workers ran it. Wall-clock times go to NAME-timings.json beside it.
"""
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.images import PIXELS
from ..errors import DigitnetError

SYNTHETIC = "none (synthetic inputs)"


@dataclass
class Context:
    """What an experiment may ask for: where to write, its seed, the reduced --quick settings, workers, data."""
    out: Path = Path("experiments")
    seed: int = 0
    quick: bool = False
    workers: int = 1
    data_dir: Path = None
    offline: bool = False
    echo: object = print
    data_name: str = None
    _datasets: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out = Path(self.out)

    def rng(self, *keys):
        """A Generator for one part of the experiment: the seed and the part's name, so that parts do not
        share draws and adding a part changes no other part's numbers."""
        return np.random.default_rng([self.seed, *(zlib.crc32(str(k).encode()) for k in keys)])

    def pick(self, full, quick):
        """The book's setting, or the reduced one under --quick."""
        return quick if self.quick else full

    def dataset(self, flatten=True, dtype=np.float32):
        """The data load_mnist finds: --data-dir, else full MNIST (cache or download), else the bundled sample."""
        key = (flatten, np.dtype(dtype).name)
        if key not in self._datasets:
            from ..data import resolve_dataset

            ds, notice = resolve_dataset(self.data_dir, offline=self.offline or None, flatten=flatten, dtype=dtype)
            if notice and not self._datasets:
                self.echo(notice)
            _fits_the_book(ds)
            self._datasets[key] = ds
        ds = self._datasets[key]
        self.data_name = f"{ds.name} ({ds.n_train:,} train / {ds.n_test:,} test digits)"
        return ds



MIN_TRAIN, MIN_TEST = 1_000, 100  # enough for every experiment's batches and splits (the bundled sample: 8,000 / 2,000)


def _fits_the_book(ds):
    """DigitnetError, one line, unless ds is digits the book's experiments can run on: MNIST's 28x28 pictures, at
    least MIN_TRAIN to train on and MIN_TEST to test (before: a ValueError traceback from inside an experiment)."""
    pixels = int(np.prod(ds.x_train.shape[1:]))
    if pixels != PIXELS or ds.n_train < MIN_TRAIN or ds.n_test < MIN_TEST:
        raise DigitnetError(f"{ds.name}: the book's experiments need MNIST's 28x28 digits, at least {MIN_TRAIN:,} to "
                            f"train on and {MIN_TEST:,} to test; this data has {ds.n_train:,} and {ds.n_test:,} "
                            f"pictures of {pixels:,} pixels")


def train_losses(net, x, t, *, optimizer, iters, batch_size, rng):
    """The loss of every mini-batch step of digitnet.train (batches drawn with replacement, as the book)."""
    from ..train import train

    losses = []
    train(net, x, t, iters=iters, batch_size=batch_size, optimizer=optimizer, rng=rng, train_eval_size=batch_size,
          on_step=losses.append)
    return losses


def to_json(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path, data):
    Path(path).write_text(json.dumps(data, indent=1, default=to_json) + "\n")


def run_experiment(name, ctx):
    """Run experiment `name`; returns (result dict, [files written], summary lines, wall seconds)."""
    from . import get

    module = get(name)
    out = ctx.out
    out.mkdir(parents=True, exist_ok=True)
    ctx.data_name = None  # set by ctx.dataset() if the experiment reads data
    start = time.perf_counter()
    body = module.run(ctx)
    wall = time.perf_counter() - start
    timings = body.pop("timings", {})
    result = {"experiment": name, "book_script": module.BOOK, "title": module.TITLE, "seed": ctx.seed,
              "quick": ctx.quick, "data": ctx.data_name or SYNTHETIC, **body}
    json_path, png_path, timings_path = (out / f"{name}{suffix}" for suffix in (".json", ".png", "-timings.json"))
    timings = {"wall_s": round(wall, 2), "workers": ctx.workers, **timings}
    shown = {**result, "timings": timings}  # the figure and the summary may show times and "_pictures"
    result = {k: v for k, v in result.items() if not k.startswith("_")}
    write_json(json_path, result)
    write_json(timings_path, timings)
    module.plot(shown, png_path)
    return result, [png_path, json_path, timings_path], module.summary(shown), wall
