"""Training checkpoints: the weights, the optimizer's state, the random generator's state and where the
run stands, in one pickle-free .npz, so an interrupted run resumes to bit-identical weights."""
import json

import numpy as np

from .errors import DigitnetError
from .model_io import BUFFER_PREFIX, HEADER_KEY, atomic_write, params_digest, read_model_file
from .train import TrainingState

FORMAT = "digitnet-checkpoint"


class CheckpointError(DigitnetError):
    """A checkpoint is missing, damaged, or from another run's settings."""


def optimizer_state(optimizer):
    """(scalars, arrays) of an optimizer: its numbers (lr, iter, ...) and its per-parameter arrays (v, h, m)."""
    scalars, arrays = {}, {}
    for name, value in vars(optimizer).items():
        if name.startswith("_"):  # scratch space, refilled every step
            continue
        if isinstance(value, dict):
            arrays.update({f"{name}.{key}": v for key, v in value.items()})
        elif isinstance(value, (int, float)):
            scalars[name] = value
    return scalars, arrays


def load_optimizer_state(optimizer, scalars, arrays):
    for name, value in scalars.items():
        setattr(optimizer, name, value)
    for key, value in arrays.items():
        name, param = key.split(".", 1)
        if getattr(optimizer, name, None) is None:
            setattr(optimizer, name, {})
        getattr(optimizer, name)[param] = value


def save_checkpoint(path, net, optimizer, rng, state, settings):
    """Write everything needed to resume; settings are the run's options (architecture, data, schedule...)."""
    arrays = {f"param.{k}": v for k, v in net.params.items()}
    arrays.update({f"{BUFFER_PREFIX}{k}": v for k, v in net.buffers().items()})
    opt_scalars, opt_arrays = optimizer_state(optimizer)
    arrays.update({f"opt.{k}": v for k, v in opt_arrays.items()})
    if state.perm is not None:
        arrays["sampler.perm"] = state.perm
    best = None
    if state.best is not None:
        arrays.update({f"best.param.{k}": v for k, v in state.best["params"].items()})
        arrays.update({f"best.buffer.{k}": v for k, v in state.best["buffers"].items()})
        best = {"val_acc": state.best["val_acc"], "epoch": state.best["epoch"]}
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = {
        "format": FORMAT, "format_version": 1, "architecture": net.architecture, "config": net.config,
        "settings": settings, "optimizer": {"class": type(optimizer).__name__, "scalars": opt_scalars},
        "rng_state": rng.bit_generator.state, "step": state.step, "history": state.history,
        "epoch_losses": state.epoch_losses, "pos": state.pos, "best": best, "train_time": state.train_time,
        "sha256": params_digest(arrays),
    }
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """The checkpoint's header and arrays, checked like a model file (format, digest)."""
    from .errors import ModelFileError

    try:
        header, arrays = read_model_file(path, expected_format=FORMAT)
    except ModelFileError as e:
        raise CheckpointError(str(e)) from None
    return header, arrays


def restore_checkpoint(header, arrays, net, optimizer, rng):
    """Put the saved weights, optimizer state and rng state back; returns the TrainingState to go on from."""
    if type(optimizer).__name__ != header["optimizer"]["class"]:
        raise CheckpointError(f"the checkpoint's optimizer is {header['optimizer']['class']}, "
                              f"not {type(optimizer).__name__}")
    for key, value in net.params.items():
        value[...] = arrays[f"param.{key}"]
    net.load_buffers({k[len(BUFFER_PREFIX):]: v for k, v in arrays.items() if k.startswith(BUFFER_PREFIX)})
    load_optimizer_state(optimizer, header["optimizer"]["scalars"],
                         {k[4:]: v.copy() for k, v in arrays.items() if k.startswith("opt.")})
    rng.bit_generator.state = header["rng_state"]
    best = None
    if header["best"] is not None:
        best = dict(header["best"],
                    params={k[len("best.param."):]: v for k, v in arrays.items() if k.startswith("best.param.")},
                    buffers={k[len("best.buffer."):]: v for k, v in arrays.items() if k.startswith("best.buffer.")})
    return TrainingState(step=header["step"], history=header["history"], epoch_losses=header["epoch_losses"],
                         perm=arrays.get("sampler.perm"), pos=header["pos"], best=best,
                         train_time=header["train_time"])
