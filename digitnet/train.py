"""Mini-batch training with per-epoch evaluation, as in the book's train_neuralnet.py."""
import time

import numpy as np

from .functions import labels_of
from .optimizers import SGD

SAMPLINGS = ("replacement", "shuffle")


def evaluate(net, x, t, batch_size=1000):
    """(mean loss, accuracy) over a whole set, in batches so memory stays flat."""
    labels = labels_of(t)
    total_loss, correct = 0.0, 0
    for i in range(0, x.shape[0], batch_size):
        xb, tb = x[i:i + batch_size], labels[i:i + batch_size]
        scores = net.predict(xb)
        total_loss += float(net.lastLayer.forward(scores, tb)) * xb.shape[0]
        correct += int(np.sum(scores.argmax(axis=1) == tb))
    return total_loss / x.shape[0], correct / x.shape[0]


def batch_indices(train_size, batch_size, total_iters, sampling, rng):
    """Yield one index array per step.

    "replacement" is the book's np.random.choice(train_size, batch_size): every batch drawn afresh,
    with replacement. "shuffle" walks a new permutation each epoch, so each sample is seen once per epoch.
    """
    if sampling == "replacement":
        for _ in range(total_iters):
            yield rng.integers(0, train_size, batch_size)
    elif sampling == "shuffle":
        perm, pos = rng.permutation(train_size), 0
        for _ in range(total_iters):
            if pos + batch_size > train_size:
                perm, pos = rng.permutation(train_size), 0
            yield perm[pos:pos + batch_size]
            pos += batch_size
    else:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, not {sampling!r}")


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
          keep_best=False, train_eval_size=None, rng=None, on_epoch=None, on_step=None):
    """Train net by mini-batch gradient descent; returns one metrics dict per epoch.

    An epoch is max(train_size // batch_size, 1) steps, as in the book. Give iters or epochs.
    schedule(step) sets the optimizer's learning rate before each step; augment(x_batch, rng) transforms
    each batch. With a validation set and keep_best, the weights of the epoch with the best validation
    accuracy are restored at the end. train_eval_size: measure training accuracy on the first n samples
    only (a full pass costs as much as an epoch of inference). on_epoch(record) is called after each
    epoch's evaluation; on_step(loss) after every step.
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
    x_train_eval, t_train_eval = x_train[:train_eval_size], t_train[:train_eval_size]

    history, epoch_losses, best = [], [], None
    train_time, start = 0.0, time.perf_counter()
    step_start = time.perf_counter()
    for step, idx in enumerate(batch_indices(train_size, batch_size, total_iters, sampling, rng), start=1):
        x_batch = x_train[idx]
        if augment is not None:
            x_batch = augment(x_batch, rng)
        if schedule is not None:
            optimizer.lr = schedule(step - 1)
        loss, grads = net.loss_and_gradient(x_batch, t_train[idx])
        optimizer.update(net.params, grads)
        loss = float(loss)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training diverged: the loss became {loss} at step {step} "
                                     "(is the learning rate too high?)")
        epoch_losses.append(loss)
        if on_step is not None:
            on_step(loss)
        if step % iters_per_epoch == 0 or step == total_iters:
            train_time += time.perf_counter() - step_start
            record = {
                "epoch": len(history) + 1,
                "iteration": step,
                "train_loss": float(np.mean(epoch_losses)),
                "train_acc": evaluate(net, x_train_eval, t_train_eval)[1],
            }
            if x_val is not None:
                record["val_loss"], record["val_acc"] = evaluate(net, x_val, t_val)
                if keep_best and (best is None or record["val_acc"] > best[0]):
                    best = (record["val_acc"], record["epoch"], snapshot(net))
            if x_test is not None:
                record["test_loss"], record["test_acc"] = evaluate(net, x_test, t_test)
            record["train_time_s"] = round(train_time, 3)
            record["elapsed_s"] = round(time.perf_counter() - start, 3)
            history.append(record)
            epoch_losses = []
            if on_epoch is not None:
                on_epoch(record)
            step_start = time.perf_counter()
    if keep_best and best[1] != history[-1]["epoch"]:
        restore(net, best[2])
    if keep_best:
        for record in history:
            record["best"] = record["epoch"] == best[1]
    return history
