"""Mini-batch training with per-epoch evaluation, as in the book's train_neuralnet.py."""
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .functions import labels_of
from .optimizers import SGD

SAMPLINGS = ("replacement", "shuffle")


def evaluate(net, x, t, batch_size=250):
    """(mean loss, accuracy) over a whole set, in batches so memory stays flat."""
    labels = labels_of(t)
    total_loss, correct = 0.0, 0
    for i in range(0, x.shape[0], batch_size):
        xb, tb = x[i:i + batch_size], labels[i:i + batch_size]
        scores = net.predict(xb)
        total_loss += float(net.lastLayer.forward(scores, tb)) * xb.shape[0]
        correct += int(np.sum(scores.argmax(axis=1) == tb))
    return total_loss / x.shape[0], correct / x.shape[0]


@dataclass
class TrainingState:
    """Where a run stands: with the net, the optimizer and the rng, all it needs to go on bit for bit."""
    step: int = 0
    history: list = field(default_factory=list)
    epoch_losses: list = field(default_factory=list)
    perm: np.ndarray = None  # shuffle sampling: this epoch's permutation and the position in it
    pos: int = 0
    best: dict = None  # keep_best: {"val_acc", "epoch", "params", "buffers"} of the best epoch so far
    train_time: float = 0.0


class TrainingInterrupted(Exception):
    """stop() asked training to end; raised between two steps, so the state is whole."""

    def __init__(self, state):
        super().__init__(f"interrupted after step {state.step}")
        self.state = state


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


def snapshot(net):
    return {k: v.copy() for k, v in net.params.items()}, {k: v.copy() for k, v in net.buffers().items()}


def restore(net, state):
    params, buffers = state
    for k, v in params.items():
        net.params[k][...] = v
    net.load_buffers(buffers)


def train(net, x_train, t_train, x_test=None, t_test=None, *, iters=None, epochs=None, batch_size=100,
          optimizer=None, schedule=None, sampling="replacement", augment=None, x_val=None, t_val=None,
          keep_best=False, train_eval_size=None, rng=None, on_epoch=None, on_step=None,
          state=None, checkpoint=None, checkpoint_every=None, stop=None):
    """Train net by mini-batch gradient descent; returns one metrics dict per epoch.

    An epoch is max(train_size // batch_size, 1) steps, as in the book. Give iters or epochs.
    schedule(step) sets the optimizer's learning rate before each step; augment(x_batch, rng) transforms
    each batch. With a validation set and keep_best, the weights of the epoch with the best validation
    accuracy are restored at the end. train_eval_size: measure training accuracy on the first n samples
    only (a full pass costs as much as an epoch of inference). on_epoch(record) is called after each
    epoch's evaluation; on_step(loss) after every step.

    Interruption and resumption: checkpoint(state) is called every checkpoint_every steps and when
    stop() turns true after a step, which then raises TrainingInterrupted. Passing a saved state back
    (with the net, optimizer and rng restored) continues the run exactly where it stopped.
    """
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
    optimizer = optimizer or SGD(lr=0.1)
    rng = rng if rng is not None else np.random.default_rng()
    state = state if state is not None else TrainingState()
    x_train_eval, t_train_eval = x_train[:train_eval_size], t_train[:train_eval_size]

    start = time.perf_counter() - (state.history[-1]["elapsed_s"] if state.history else 0.0)
    step_start = time.perf_counter()
    while state.step < total_iters:
        idx = next_batch(state, train_size, batch_size, sampling, rng)
        x_batch = x_train.take(idx, axis=0)  # take() gathers rows faster than x_train[idx]
        if augment is not None:
            x_batch = augment(x_batch, rng)
        if schedule is not None:
            optimizer.lr = schedule(state.step)
        loss, grads = net.loss_and_gradient(x_batch, t_train.take(idx, axis=0))
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(f"training diverged: the loss became {loss} at step {state.step + 1} "
                                     "(is the learning rate too high?)")
        optimizer.update(net.params, grads)
        state.step += 1
        state.epoch_losses.append(loss)
        if on_step is not None:
            on_step(loss)
        if state.step % iters_per_epoch == 0 or state.step == total_iters:
            now = time.perf_counter()
            state.train_time += now - step_start
            record = {
                "epoch": len(state.history) + 1,
                "iteration": state.step,
                "train_loss": float(np.mean(state.epoch_losses)),
                "train_acc": evaluate(net, x_train_eval, t_train_eval)[1],
            }
            if x_val is not None:
                record["val_loss"], record["val_acc"] = evaluate(net, x_val, t_val)
                if keep_best and (state.best is None or record["val_acc"] > state.best["val_acc"]):
                    params, buffers = snapshot(net)
                    state.best = {"val_acc": record["val_acc"], "epoch": record["epoch"],
                                  "params": params, "buffers": buffers}
            if x_test is not None:
                record["test_loss"], record["test_acc"] = evaluate(net, x_test, t_test)
            record["train_time_s"] = round(state.train_time, 3)
            record["elapsed_s"] = round(time.perf_counter() - start, 3)
            state.history.append(record)
            state.epoch_losses = []
            if on_epoch is not None:
                on_epoch(record)
            step_start = time.perf_counter()
        if checkpoint is not None and checkpoint_every and state.step % checkpoint_every == 0:
            checkpoint(state)
        if stop is not None and stop() and state.step < total_iters:
            if checkpoint is not None:
                checkpoint(state)
            raise TrainingInterrupted(state)
    history = state.history
    if keep_best:
        best = state.best
        if best["epoch"] != history[-1]["epoch"]:
            restore(net, (best["params"], best["buffers"]))
        for record in history:
            record["best"] = record["epoch"] == best["epoch"]
    return history
