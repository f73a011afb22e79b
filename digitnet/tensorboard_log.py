"""Training as TensorBoard shows it: event files written with tensorboardX (`pip install 'digitnet[tensorboard]'`).

What a run writes, the x axis always the training step:
- scalars: loss/step (every step), learning_rate (every step), and per epoch loss/train, loss/test,
  loss/validation, accuracy/train, accuracy/test, accuracy/validation (whichever the epoch measured);
- histograms per epoch: weights/<param> for every entry of net.params (W1, b1, ...), and
  activations/<NN>_<layer> (01_Conv1, 02_Relu1, ...) for every layer's output on a fixed batch of test digits
  (the book's ch. 6 activation distributions, watched over training; at most 2**20 values of each, spread out);
- images per epoch: images/first_layer_weights (a conv net's filters, or a dense net's W1 columns as
  square pictures) and images/misclassified (the fixed batch's wrong answers with their predicted digits,
  pictures of any square size).

Only this module imports tensorboardX; the command line imports it only when --logdir is given.
"""
import os

import numpy as np

from .data.images import as_square_images
from .errors import DigitnetError
from .functions import labels_of
from .plots import _mosaic, first_layer_tiles
from .train import Callback

PROBE_SIZE = 500  # test digits run forward each epoch for the activation histograms and the misclassified grid
STEP_BATCH = 100  # per-step scalars are written this many at a time, and at every epoch's end
HISTOGRAM_VALUES = 1 << 20  # a histogram of more values takes every k-th: a conv layer's maps hold millions


def spread_sample(values, n=HISTOGRAM_VALUES):
    """At most about n of the values, every k-th in memory order: the same positions each epoch, spread over
    every digit and feature map. Building a histogram costs ~30 ns a value; the shape needs far fewer."""
    flat = values.reshape(-1)
    return flat[::-(-flat.size // n)]


def diverging(values):
    """RGB uint8 of values in [-1, 1]: red positive, blue negative, white 0; NaN (the gaps) light grey."""
    v = np.clip(np.nan_to_num(values), -1, 1)
    rgb = np.stack([1 - np.maximum(-v, 0), 1 - np.abs(v), 1 - np.maximum(v, 0)], axis=-1)
    rgb[np.isnan(values)] = 0.8
    return (255 * rgb).round().astype(np.uint8)


def first_layer_picture(W1, max_units=100, cell=56):
    """The first layer's units as tiles (H, W, 3): plots.first_layer_tiles (a conv net's filters, first channel,
    or a dense net's W1 columns as square pictures); each unit scaled to its own largest |weight| and enlarged to
    about `cell` pixels, so 5x5 filters are big enough to see. None for any other W1."""
    tiles = first_layer_tiles(W1)
    if tiles is None:
        return None
    tiles = tiles[:max_units]
    scale = np.abs(tiles).max(axis=(1, 2), keepdims=True)
    tiles = tiles / np.where(scale > 0, scale, 1.0)
    zoom = max(1, cell // tiles.shape[1])
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    canvas, _ = _mosaic(tiles, cols=min(10, len(tiles)), gap=4)
    return diverging(canvas)


def misclassified_picture(x, t, y, max_items=32, zoom=3):
    """The first max_items digits with y != t, dark ink on white, each captioned with its predicted and true
    digit, under a line saying how many were wrong: an RGB array (H, W, 3)."""
    from PIL import Image, ImageDraw, ImageFont

    images, wrong = as_square_images(x), np.flatnonzero(t != y)
    shown = wrong[:max_items]
    tiles = np.ones((max(len(shown), 1), images.shape[1] * zoom, images.shape[2] * zoom))
    for k, i in enumerate(shown):
        tiles[k] = 1 - np.clip(images[i], 0, 1).repeat(zoom, axis=0).repeat(zoom, axis=1)
    canvas, corners = _mosaic(tiles, cols=min(8, len(tiles)), gap=8, label_h=16)
    header = 20  # room for the summary line
    canvas = np.vstack([np.full((header, canvas.shape[1]), np.nan), canvas])
    picture = Image.fromarray((255 * np.nan_to_num(canvas, nan=0.92)).round().astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=12)
    more = f" (first {len(shown)})" if len(wrong) > len(shown) else ""
    draw.text((8, 4), f"{len(wrong)} of {len(t)} wrong{more}", fill=(0, 0, 0), font=font)
    for (y0, x0), i in zip(corners, shown):  # each caption in the 16 pixels above its tile
        draw.text((x0, header + y0 - 15), f"pred {y[i]}, true {t[i]}", fill=(200, 0, 0), font=font)
    return np.asarray(picture)


class TensorBoardLogger(Callback):
    """A training callback that writes the run's scalars, histograms and images into logdir (a new event file
    beside any already there); use it as a context manager, or close() it.

    probe: (x, t), a fixed small batch (test digits) for the activation histograms and the misclassified grid.
    optimizer: whose learning rate to log each step.
    purge_step: when resuming, the first step of the resumed run: TensorBoard hides what an interrupted
    run logged from that step on, so the curves do not show the replayed steps twice.
    on_failure: called once with a one-line message when the logs cannot be written (a full disk), after
    which nothing more is logged and training goes on; None: the next step or epoch raises DigitnetError.
    """

    def __init__(self, logdir, net, probe=None, *, optimizer=None, purge_step=None, max_misclassified=32,
                 on_failure=None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise DigitnetError("--logdir needs tensorboardX: pip install 'digitnet[tensorboard]'") from None
        self.net, self.optimizer, self.steps = net, optimizer, []
        self.probe = None if probe is None else (probe[0][:PROBE_SIZE], labels_of(probe[1])[:PROBE_SIZE])
        self.max_misclassified = max_misclassified
        # Event files are named by the second they were opened in: the first step and the process make a resumed
        # run's file another one, sorted after the interrupted run's (TensorBoard reads them in name order).
        suffix = f".{purge_step or 1:010d}.{os.getpid()}"
        # A long queue: with tensorboardX's default of 10, add_scalar waits on the writer thread every few steps.
        self.logdir, self.error, self.on_failure, self.said = logdir, None, on_failure, False
        self.writer = SummaryWriter(str(logdir), purge_step=purge_step, max_queue=1000, flush_secs=10,
                                    filename_suffix=suffix)
        self.catch_write_errors()

    def catch_write_errors(self):
        """tensorboardX writes events in a thread of its own: a full disk there kills the thread (a traceback)
        and the next writes wait on its queue forever. Its file's write and flush are wrapped instead: the
        first OSError is kept, and the next step or epoch raises it as one line (check)."""
        events = getattr(getattr(self.writer._get_file_writer(), "event_writer", None), "_ev_writer", None)
        for name in ("write_event", "flush", "close"):
            method = getattr(events, name, None)
            if method is not None:
                setattr(events, name, self._guarded(method))

    def _guarded(self, method):
        def call(*args, **kwargs):
            if self.error is not None:
                return None
            try:
                return method(*args, **kwargs)
            except OSError as e:
                self.error = e
        return call

    def check(self):
        """Whether the logs can still be written; a write that failed raises, or is said once (on_failure)."""
        if self.error is None:
            return True
        message = f"cannot write TensorBoard logs to {self.logdir}: {self.error.strerror or self.error}"
        if self.on_failure is None:
            raise DigitnetError(message)
        if not self.said:
            self.said = True
            self.on_failure(message)
        return False

    @classmethod
    def for_run(cls, run, state=None, on_failure=None):
        """The logger of `digitnet train --logdir` for a digitnet.run.Run; state: the checkpoint's, when resuming."""
        return cls(run.settings.logdir, run.net, (run.dataset.x_test, run.dataset.t_test), optimizer=run.optimizer,
                   purge_step=None if state is None else state.step + 1, on_failure=on_failure)

    def on_step(self, state, loss):
        """After each step (state.step counts them from 1): its mini-batch loss and the learning rate it used.
        Kept, and handed to the writer STEP_BATCH at a time: about a fifth less CPU time than waking
        tensorboardX's writer thread every step (its queue pickles each event through a pipe)."""
        if not self.check():
            return
        self.steps.append((state.step, loss, None if self.optimizer is None else self.optimizer.lr))
        if len(self.steps) >= STEP_BATCH:
            self.write_steps()

    def write_steps(self):
        for step, loss, lr in self.steps:
            self.writer.add_scalar("loss/step", loss, step)
            if lr is not None:
                self.writer.add_scalar("learning_rate", lr, step)
        self.steps = []

    def on_epoch(self, state, record):
        """After an epoch's evaluation: record is the epoch's entry of the history."""
        if not self.check():
            return
        self.write_steps()
        step = record["iteration"]
        for split, name in (("train", "train"), ("test", "test"), ("val", "validation")):
            for kind in ("loss", "acc"):
                value = record.get(f"{split}_{kind}")
                if value is not None:
                    self.writer.add_scalar(f"{'accuracy' if kind == 'acc' else 'loss'}/{name}", value, step)
        for key, value in self.net.params.items():
            self.writer.add_histogram(f"weights/{key}", value, step)
        self.log_first_layer(step)
        if self.probe is not None:
            self.log_probe(step)
        self.writer.flush()
        self.check()

    def log_first_layer(self, step):
        W1 = self.net.params.get("W1")
        picture = None if W1 is None else first_layer_picture(W1)
        if picture is not None:
            self.writer.add_image("images/first_layer_weights", picture, step, dataformats="HWC")

    def log_probe(self, step):
        """One forward pass over the probe batch: each layer's output as a histogram, then the wrong answers."""
        x, t = self.probe
        for i, (name, out) in enumerate(self.net.forward_layers(x), start=1):  # numbered: TensorBoard sorts tags
            self.writer.add_histogram(f"activations/{i:02d}_{name}", spread_sample(out), step)
        predicted = out.argmax(axis=1)
        try:
            picture = misclassified_picture(x, t, predicted, self.max_misclassified)
        except ValueError:  # rows of pixels that are no square picture: the histograms, without the picture
            return
        self.writer.add_image("images/misclassified", picture, step, dataformats="HWC")

    def close(self):
        if self.error is not None:  # the writer cannot write: closing it would wait on its queue
            self.check()
            return
        self.write_steps()
        self.writer.close()  # flushes what is queued; closing twice is harmless
        self.check()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
