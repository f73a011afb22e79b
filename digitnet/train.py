"""Mini-batch training with per-epoch evaluation, as in the book's train_neuralnet.py."""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import on_every_worker
from .functions import labels_of
from .optimizers import SGD
from .parallel import DataParallel, SingleProcess

SAMPLINGS = ("replacement", "shuffle")


def evaluate(net, x, t, batch_size=250):
    """The mean loss and the accuracy of a network over a whole set, in batches so that memory stays flat.

    Runs in inference mode (no dropout, batch norm on its running statistics) and leaves weight decay out of
    the loss.

    Args:
        net: a digitnet network.
        x: the inputs.
        t: their labels (integers or one-hot).
        batch_size: samples per forward pass.

    Returns:
        (mean loss, accuracy), two floats.

    Examples:
        >>> import numpy as np
        >>> import digitnet
        >>> from digitnet.data import load_sample
        >>> data = load_sample()
        >>> loss, accuracy = digitnet.evaluate(digitnet.pretrained("two-layer"), data.x_test, data.t_test)
        >>> accuracy > 0.95
        True
    """
    return net.evaluate(x, t, batch_size)


@dataclass
class TrainingState:
    """Where a run stands: with the net, the optimizer and the rng, all it needs to go on bit for bit."""
    step: int = 0
    history: list = field(default_factory=list)
    epoch_losses: list = field(default_factory=list)
    perm: np.ndarray = None  # shuffle sampling: this epoch's permutation and the position in it
    pos: int = 0
    best: dict = None  # keep_best: {"val_acc", "epoch", "arrays"} of the best epoch so far
    train_time: float = 0.0  # seconds spent in training steps, evaluation excluded
    elapsed: float = 0.0  # seconds since the run began, evaluation included
    worker_rngs: list = None  # with N workers: each rank's random state (dropout, augmentation), for checkpoints


class TrainingInterrupted(Exception):
    """stop() asked training to end; raised between two steps, so the state is whole."""

    def __init__(self, state):
        super().__init__(f"interrupted after step {state.step}")
        self.state = state


class Callback:
    """A hook into the training loop: subclass it and override what you need.

    on_step(state, loss) runs after every step (state.step is the number of steps done);
    on_epoch(state, record) after each epoch's evaluation (record is the epoch's metrics dict,
    already appended to state.history). Progress bars, epoch lines and logs plug in here."""

    def on_step(self, state, loss):
        pass

    def on_epoch(self, state, record):
        pass


class FunctionCallback(Callback):
    """on_step(loss) and on_epoch(record) as plain functions, either one optional."""

    def __init__(self, on_step=None, on_epoch=None):
        self.step_function, self.epoch_function = on_step, on_epoch

    def on_step(self, state, loss):
        if self.step_function is not None:
            self.step_function(loss)

    def on_epoch(self, state, record):
        if self.epoch_function is not None:
            self.epoch_function(record)


class Clock:
    """Training time (steps only) and elapsed time (evaluation too), carried over from a resumed state."""

    def __init__(self, state):
        self.start = time.perf_counter() - state.elapsed
        self.step_start = time.perf_counter()

    def flush(self, state):
        """Add the time since the last flush to state.train_time and bring state.elapsed up to now."""
        now = time.perf_counter()
        state.train_time += now - self.step_start
        state.elapsed = now - self.start
        self.step_start = now

    def skip(self, state):
        """Count the time since the last flush as elapsed but not as training (it went to evaluation)."""
        now = time.perf_counter()
        state.elapsed = now - self.start
        self.step_start = now


def next_batch(state, train_size, batch_size, sampling, rng):
    """The indices of the next batch.

    "replacement" is the book's np.random.choice(train_size, batch_size): every batch drawn afresh,
    with replacement. "shuffle" walks a new permutation each epoch, so each sample is seen once per epoch.
    """
    if sampling == "replacement":
        return rng.integers(0, train_size, batch_size)
    if sampling != "shuffle":
        raise ValueError(f"sampling must be one of {SAMPLINGS}, not {sampling!r}")
    if state.perm is None or state.pos + batch_size > train_size:
        state.perm, state.pos = rng.permutation(train_size), 0
    idx = state.perm[state.pos:state.pos + batch_size]
    state.pos += batch_size
    return idx


def batch_indices(train_size, batch_size, total_iters, sampling, rng):
    """Yield total_iters batches of indices (see next_batch)."""
    state = TrainingState()
    for _ in range(total_iters):
        yield next_batch(state, train_size, batch_size, sampling, rng)


def validation_split(x, t, size, rng):
    """Carve `size` random samples out of the training data for validation: ((x, t) train, (x, t) validation).

    Tune on these, never on the test set."""
    if not 0 < size < x.shape[0]:
        raise ValueError(f"validation size must be between 1 and {x.shape[0] - 1}, not {size}")
    perm = rng.permutation(x.shape[0])
    train_idx, val_idx = np.sort(perm[size:]), np.sort(perm[:size])
    return (x[train_idx], t[train_idx]), (x[val_idx], t[val_idx])


class OutlierExposure:
    """Outlier exposure (Hendrycks et al., 2019): every batch of digits gets `per_batch` outliers drawn at
    random from `outliers`, whose target is the uniform distribution over the classes. The loss of a batch is
    then the mean over its digits and outliers alike of the cross-entropy to each one's target, so the net
    learns to spread its probability over the classes for what is not a digit (digitnet.outliers makes them).

    The training loop steps through pool(): the digits with one-hot targets, then the outliers."""

    def __init__(self, outliers, per_batch):
        self.outliers = np.asarray(outliers)
        self.per_batch = int(per_batch)
        if self.outliers.ndim < 2 or self.outliers.shape[0] < 1 or self.per_batch < 1:
            raise ValueError("outlier exposure needs at least one outlier image and one outlier per batch")
        self.n_digits = None

    def pool(self, x_train, t_train):
        """(x, t) to draw batches from: the digits then the outliers, targets as probability rows."""
        if self.outliers.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"outliers of shape {self.outliers.shape[1:]} for digits of shape {x_train.shape[1:]}")
        self.n_digits = x_train.shape[0]
        classes = int(labels_of(t_train).max()) + 1 if np.ndim(t_train) == 1 else t_train.shape[1]
        classes = max(classes, 10)
        if np.ndim(t_train) == 1:
            digits = np.eye(classes, dtype=x_train.dtype)[t_train]
        else:
            digits = t_train.astype(x_train.dtype)
        uniform = np.full((self.outliers.shape[0], classes), 1.0 / classes, dtype=x_train.dtype)
        return (np.concatenate([x_train, self.outliers.astype(x_train.dtype, copy=False)]),
                np.concatenate([digits, uniform]))

    @classmethod
    def of(cls, outliers, per_batch, batch_size, x_train, t_train):
        """(exposure, x, t) for train(): with outliers (per_batch of them a batch, default half a batch), the
        exposure and its pool; without, (None, x_train, t_train)."""
        if outliers is None:
            return None, x_train, t_train
        exposure = cls(outliers, per_batch or max(batch_size // 2, 1))
        return (exposure, *exposure.pool(x_train, t_train))

    def add_outliers(self, batch, rng):
        return np.concatenate([batch, self.n_digits + rng.integers(0, self.outliers.shape[0], self.per_batch)])


def snapshot(net):
    """A copy of everything the net would save (params and buffers); net.load_state(copy) puts it back."""
    return {k: v.copy() for k, v in net.state_arrays().items()}


def train_step(net, optimizer, schedule, x_train, t_train, batch_size, sampling, augment, rng, state,
               team=None, asked_to_stop=False, exposure=None):
    """One step of mini-batch gradient descent: draw a batch, backprop, check the loss, update.

    exposure: an OutlierExposure; x_train and t_train are then its pool (digits, then outliers) and each
    batch gets its share of outliers, drawn after the digits.
    With N workers (team: a DataParallel) every rank draws the same batch and takes its share; one Allreduce
    gives all of them the whole batch's gradient and loss, and whether any was asked to stop, so all of them
    update alike and stop, or fail, after the same step. Returns (loss, stop)."""
    team = team or DataParallel(SingleProcess(), net, rng)
    batch = next_batch(state, x_train.shape[0] if exposure is None else exposure.n_digits, batch_size, sampling, rng)
    if exposure is not None:
        batch = exposure.add_outliers(batch, rng)
    idx = team.share(batch)
    x_batch = x_train.take(idx, axis=0)  # take() gathers rows faster than x_train[idx]
    if augment is not None:
        x_batch = augment(x_batch, team.rng)
    if schedule is not None:
        optimizer.lr = schedule(state.step)
    loss, grads = net.loss_and_gradient(x_batch, t_train.take(idx, axis=0))
    grads, loss, stop = team.reduce(grads, float(loss), asked_to_stop, len(idx), len(batch))
    if not math.isfinite(loss):  # the whole batch's loss: every worker sees it
        raise on_every_worker(FloatingPointError(f"training diverged: the loss became {loss} at step "
                                                 f"{state.step + 1} (is the learning rate too high?)"))
    optimizer.update(net.params, grads)
    state.step += 1
    state.epoch_losses.append(loss)
    return loss, stop


def epoch_record(net, state, sets, keep_best, clock, team=None):
    """Evaluate at the end of an epoch; append the metrics dict to state.history and return it.

    sets: {"train": (x, t), "val": (x, t) or None, "test": (x, t) or None}. With N workers each scores its
    share of every set, with batch norm's running statistics averaged over the ranks first."""
    clock.flush(state)
    team = team or DataParallel(SingleProcess(), net, None)
    team.average_buffers(net)
    scored, train_acc = team.evaluate(net, *sets["train"])
    record = {"epoch": len(state.history) + 1, "iteration": state.step,
              "train_loss": float(np.mean(state.epoch_losses)), "train_acc": train_acc}
    if sets["val"] is not None:
        record["val_loss"], record["val_acc"] = team.evaluate(net, *sets["val"])
        if keep_best and (state.best is None or record["val_acc"] > state.best["val_acc"]):
            state.best = {"val_acc": record["val_acc"], "epoch": record["epoch"], "arrays": snapshot(net)}
    if sets["test"] is not None:
        record["test_loss"], record["test_acc"] = team.evaluate(net, *sets["test"])
    losses = {"training": scored, "val": record.get("val_loss", 0.0), "test": record.get("test_loss", 0.0)}
    for which, loss in losses.items():  # the last update may diverge after its own loss was checked
        if not math.isfinite(loss):
            raise on_every_worker(FloatingPointError(
                f"training diverged: the loss on the {which} digits became {loss} after step {state.step} "
                "(is the learning rate too high?)"))
    clock.skip(state)
    record["train_time_s"] = round(state.train_time, 3)
    record["elapsed_s"] = round(state.elapsed, 3)
    state.history.append(record)
    state.epoch_losses = []
    return record


# long: the training loop in one place to read, its parts already helpers (train_step, epoch_record, save_point)
def train(net, x_train, t_train, x_test=None, t_test=None, *, iters=None, epochs=None, batch_size=100,
          optimizer=None, schedule=None, sampling="replacement", augment=None, x_val=None, t_val=None,
          keep_best=False, train_eval_size=None, rng=None, on_epoch=None, on_step=None, callbacks=(),
          state=None, checkpoint=None, checkpoint_every=None, stop=None, comm=None, outliers=None,
          outliers_per_batch=None):
    """Train a network by mini-batch gradient descent; returns one metrics dict per epoch.

    Each step draws a batch, runs `net.loss_and_gradient` and `optimizer.update`. An epoch is
    max(train_size // batch_size, 1) steps, as in the book; after each one the net is evaluated on the
    training set (or its first train_eval_size samples), the validation set and the test set. Give iters or
    epochs. NumPy's overflow warnings are silenced inside the loop: a loss that turns NaN or infinite ends the
    run with one FloatingPointError naming the step, before the bad step is applied.

    Args:
        net: any digitnet network (or one with `loss_and_gradient`, `evaluate` and `params`).
        x_train: the training inputs.
        t_train: their labels (integers or one-hot).
        x_test: test inputs, evaluated after every epoch (optional).
        t_test: their labels.
        iters: the number of steps (the book's iters_num).
        epochs: or the number of epochs.
        batch_size: samples per step; with workers, the global batch.
        optimizer: an optimizer (default SGD(lr=0.1), the book's recipe).
        schedule: schedule(step) -> learning rate, set before each step (e.g. optimizers.CosineLR).
        sampling: "replacement" (each batch drawn at random, as the book) or "shuffle" (a new permutation
            each epoch).
        augment: augment(x_batch, rng) -> transformed batch, applied to every batch (e.g. augment.Augmenter).
        x_val: validation inputs, evaluated after every epoch.
        t_val: their labels.
        keep_best: with a validation set, restore the weights of the epoch with the best validation accuracy.
        train_eval_size: measure training accuracy on the first n samples only (a full pass costs as much as
            an epoch of inference).
        rng: a NumPy Generator for the batches (and augmentation); default unseeded.
        on_epoch: on_epoch(record), called with each epoch's metrics dict.
        on_step: on_step(loss), called after every step.
        callbacks: objects with on_step(state, loss) and on_epoch(state, record).
        state: a TrainingState from an interrupted run, to continue it where it stopped.
        checkpoint: checkpoint(state), called every checkpoint_every steps and when stop() turns true.
        checkpoint_every: steps between checkpoints.
        stop: stop() -> bool, polled after each step; when true, training raises TrainingInterrupted after a
            checkpoint, and passing that state back (with the net, optimizer and rng restored) continues the
            run bit for bit.
        comm: a communicator from digitnet.parallel (world() under mpiexec) for data-parallel training, each
            rank computing its share of every batch; only rank 0 calls checkpoint. Default: one process.

        outliers: images that are not digits, shaped like x_train, for outlier exposure (see
            OutlierExposure): outliers_per_batch of them are added to each batch of digits. Evaluation and
            the epoch metrics see the digits only.
        outliers_per_batch: how many outliers join each batch (default batch_size // 2).

    Returns:
        A list with one dict per epoch: "epoch", "iteration", "train_loss", "train_acc", "test_loss" and
        "test_acc" (with a test set), "val_loss" and "val_acc" (with a validation set), "train_time_s" and
        "elapsed_s".

    Examples:
        >>> import numpy as np
        >>> from digitnet import SGD, TwoLayerNet, train
        >>> from digitnet.data import load_sample
        >>> data = load_sample()
        >>> net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0), dtype=np.float32)
        >>> history = train(net, data.x_train, data.t_train, data.x_test, data.t_test, iters=400,
        ...                 batch_size=100, optimizer=SGD(lr=0.1), rng=np.random.default_rng(0))
        >>> len(history), history[-1]["iteration"], history[-1]["test_acc"] > 0.8
        (5, 400, True)
    """
    _check_pairs(x_test, t_test, x_val, t_val, train_eval_size)
    _check_labels(t_train)
    total_iters, iters_per_epoch = _check(x_train, iters, epochs, batch_size, keep_best, x_val)
    optimizer = optimizer or SGD(lr=0.1)
    rng = rng if rng is not None else np.random.default_rng()
    state = state if state is not None else TrainingState()
    hooks = [*callbacks, FunctionCallback(on_step, on_epoch)]
    sets = {"train": (x_train[:train_eval_size], t_train[:train_eval_size]),
            "val": None if x_val is None else (x_val, t_val), "test": None if x_test is None else (x_test, t_test)}
    exposure, x_steps, t_steps = OutlierExposure.of(outliers, outliers_per_batch, batch_size, x_train, t_train)
    team = DataParallel(comm or SingleProcess(), net, rng)
    if batch_size < team.comm.size:
        raise ValueError(f"batch size {batch_size} gives {team.comm.size} workers less than a sample each")
    if state.step:  # a resumed run: each rank takes its own random stream back
        team.restore_rng_state(state.worker_rngs)
    clock = Clock(state)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        while state.step < total_iters:
            # One process asks stop() after each step. N workers ask it before the step's Allreduce, which
            # carries the answer to every rank, so all of them stop after the same step.
            several = team.comm.size > 1
            loss, agreed = train_step(net, optimizer, schedule, x_steps, t_steps, batch_size, sampling, augment,
                                      rng, state, team, several and stop is not None and stop(), exposure)
            stop_now = agreed if several else stop is not None and stop()
            for hook in hooks:
                hook.on_step(state, loss)
            if state.step % iters_per_epoch == 0 or state.step == total_iters:
                record = epoch_record(net, state, sets, keep_best, clock, team)
                for hook in hooks:
                    hook.on_epoch(state, record)
            if checkpoint is not None and checkpoint_every and state.step % checkpoint_every == 0:
                clock.flush(state)
                save_point(checkpoint, net, state, team)
            if stop_now and state.step < total_iters:
                clock.flush(state)  # the time since the last epoch's end belongs to the run too
                if checkpoint is not None:
                    save_point(checkpoint, net, state, team)
                raise TrainingInterrupted(state)
    return _finish(net, state, keep_best)


def save_point(checkpoint, net, state, team):
    """checkpoint(state) on rank 0, with batch norm's statistics averaged and every rank's random state;
    every rank learns whether it worked (a full disk must not leave the others waiting in an Allreduce).
    Each rank then goes on with its own statistics, as it would have without the checkpoint (kept averaged,
    --checkpoint-every changed the model a run saved by a rounding's worth)."""
    own = {k: np.array(v, copy=True) for k, v in net.buffers().items()} if team.comm.size > 1 else {}
    team.average_buffers(net)
    state.worker_rngs = team.gather_rng_states()
    error = None
    if team.comm.rank == 0:
        try:
            checkpoint(state)
        except Exception as e:
            error = e
    if own:
        net.load_buffers(own)
    team.agree_on_failure(error)
    if error is not None:
        raise error


def _check_pairs(x_test, t_test, x_val, t_val, train_eval_size):
    """ValueError before the first step for a test or validation set without its labels (or labels without their
    inputs), or a train_eval_size under 1: they failed after a whole epoch, with an IndexError or a division by 0."""
    for what, x, t in (("test", x_test, t_test), ("validation", x_val, t_val)):
        if (x is None) != (t is None):
            given, missing = ("inputs", "labels") if t is None else ("labels", "inputs")
            raise ValueError(f"the {what} {given} were given without their {missing}")
    if train_eval_size is not None and train_eval_size < 1:
        raise ValueError(f"train_eval_size must be at least 1 (or None: all), not {train_eval_size}")


def _check_labels(t_train):
    """ValueError for class labels below 0 (the loss's indexing took -1 for the last class, without a word)."""
    labels = np.asarray(labels_of(t_train))
    if labels.size and labels.min() < 0:
        raise ValueError(f"class labels must be 0 or more, not {labels.min()}")


def _check(x_train, iters, epochs, batch_size, keep_best, x_val):
    """(total steps, steps per epoch), or ValueError for arguments that cannot train."""
    if (iters is None) == (epochs is None):
        raise ValueError("give exactly one of iters and epochs")
    if keep_best and x_val is None:
        raise ValueError("keep_best needs a validation set")
    train_size = x_train.shape[0]
    if batch_size < 1 or batch_size > train_size:
        raise ValueError(f"batch size must be between 1 and the training set size {train_size}, not {batch_size}")
    iters_per_epoch = max(train_size // batch_size, 1)
    total_iters = iters if iters is not None else epochs * iters_per_epoch
    if total_iters < 1:
        raise ValueError(f"nothing to train: {total_iters} iterations")
    return total_iters, iters_per_epoch


def _finish(net, state, keep_best):
    """The history; with keep_best, the best validation epoch's weights put back and its record marked."""
    history = state.history
    if keep_best:
        best = state.best
        if best["epoch"] != history[-1]["epoch"]:
            net.load_state(best["arrays"])
        for record in history:
            record["best"] = record["epoch"] == best["epoch"]
    return history
