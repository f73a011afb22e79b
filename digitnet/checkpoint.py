"""Training checkpoints: the weights, the optimizer's state, the random generator's state and where the
run stands, in one pickle-free .npz, so an interrupted run resumes to bit-identical weights.

The header also holds the run's settings and the identity of the dataset it trained on (name, sizes,
a digest of the arrays), so a resume on other data is refused rather than silently changing the
validation split and the batch order."""
import hashlib
import json
from pathlib import Path

import numpy as np

from .errors import DigitnetError, ModelFileError
from .model_io import HEADER_KEY, atomic_write, params_digest, plain_json, read_model_file
from .train import TrainingState

FORMAT = "digitnet-checkpoint"


class CheckpointError(DigitnetError):
    """A checkpoint is missing, damaged, or from another run's settings or data."""


def _digest(arrays):
    """SHA-256 over the dtype, shape and bytes of each array, in order."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}|{a.shape}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def dataset_identity(dataset):
    """{"name", "n_train", "n_test", "sha256"}: the digest covers the dtype, shape and bytes of all four arrays."""
    return {"name": dataset.name, "n_train": dataset.n_train, "n_test": dataset.n_test,
            "sha256": _digest((dataset.x_train, dataset.t_train, dataset.x_test, dataset.t_test))}


def with_outliers(identity, outliers):
    """A dataset_identity() with the run's outliers (outliers.outlier_sets: trained on, held out) added, if any:
    a folder of them can change between a run's start and its resume, as the digits can."""
    if outliers is None:
        return identity
    return {**identity, "outliers": {"n_train": len(outliers[0]), "n_held_out": len(outliers[1]),
                                     "sha256": _digest(outliers)}}


def check_dataset(path, header, identity):
    """CheckpointError unless the checkpoint at path trained on the dataset whose identity is given: its digits
    (before the run is prepared), then with_outliers() of them once its outliers are loaded. A checkpoint from
    before outliers were in the identity is not asked about them. The folder's name is not compared."""
    saved = header.get("dataset")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: the checkpoint does not say which data it trained on "
                              "(written by an older digitnet); start the run again")
    def digits(entry):  # not the folder's name: the same digits moved to another folder are the same data
        return {k: v for k, v in entry.items() if k not in ("outliers", "name")}
    if digits(saved) != digits(identity):
        raise CheckpointError(f"{path}: refused: the run trained on {describe_dataset(saved)}, not on "
                              f"{describe_dataset(identity)}; resume it with the same data")
    if "outliers" in identity and "outliers" in saved and saved["outliers"] != identity["outliers"]:
        before, now = saved["outliers"], identity["outliers"]
        raise CheckpointError(f"{path}: refused: the run trained with other outliers ({_outliers_in_words(before)}) "
                              f"than its --outliers give now ({_outliers_in_words(now)}); resume it with the same "
                              "outliers")


def _outliers_in_words(entry):
    if not isinstance(entry, dict):
        return "unknown"
    return (f"{entry.get('n_train', 0):,} trained on / {entry.get('n_held_out', 0):,} held out, "
            f"sha256 {str(entry.get('sha256'))[:12]}")


def describe_dataset(identity):
    """A dataset_identity() in words: its name, sizes and the start of its digest (and its outliers')."""
    words = (f"{identity.get('name')} ({identity.get('n_train', 0):,} train / {identity.get('n_test', 0):,} test, "
             f"sha256 {str(identity.get('sha256'))[:12]})")
    return words + (f" with outliers ({_outliers_in_words(identity['outliers'])})" if "outliers" in identity else "")


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


def with_prefix(prefix, arrays):
    return {prefix + k: v for k, v in arrays.items()}


def without_prefix(prefix, arrays):
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def save_checkpoint(path, net, optimizer, rng, state, settings, dataset=None):
    """Write everything needed to resume. settings: the run's options as a dict (RunSettings, asdict);
    dataset: dataset_identity() of the data it trains on."""
    opt_scalars, opt_arrays = optimizer_state(optimizer)
    arrays = {**with_prefix("net.", net.state_arrays()), **with_prefix("opt.", opt_arrays)}
    if state.perm is not None:
        arrays["sampler.perm"] = state.perm
    best = None
    if state.best is not None:
        arrays.update(with_prefix("best.", state.best["arrays"]))
        best = {"val_acc": state.best["val_acc"], "epoch": state.best["epoch"]}
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = {
        "format": FORMAT, "format_version": 1, "architecture": net.architecture, "config": net.config,
        "settings": settings, "dataset": dataset,
        "optimizer": {"class": type(optimizer).__name__, "scalars": opt_scalars},
        "rng_state": rng.bit_generator.state, "worker_rng_states": state.worker_rngs, "step": state.step,
        "history": state.history,
        "epoch_losses": state.epoch_losses, "pos": state.pos, "best": best, "train_time": state.train_time,
        "elapsed": state.elapsed, "sha256": params_digest(arrays),
    }
    arrays[HEADER_KEY] = np.array(json.dumps(header, default=plain_json))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def require_checkpoint(path):
    """CheckpointError unless a checkpoint file is at path (what --resume needs first)."""
    if not Path(path).is_file():
        raise CheckpointError(f"no checkpoint to resume: {path} does not exist (a finished run leaves none; "
                              "--resume continues an interrupted run of the same --out)")


def load_checkpoint(path):
    """The checkpoint's header and arrays, checked like a model file (format, digest)."""
    path = Path(path)
    require_checkpoint(path)
    try:
        header, arrays = read_model_file(path, expected_format=FORMAT)
    except ModelFileError as e:
        raise CheckpointError(str(e)) from None
    if not any(k.startswith("net.") for k in arrays):
        raise CheckpointError(f"{path}: written by an older digitnet, which this one cannot resume; "
                              "start the run again")
    _check_header(path, header)
    return header, arrays


NUMBER = (int, float)
# What a run writes in a checkpoint's header, field by field: a re-sealed "12" for a step, or a string for the
# history, gave tracebacks from deep inside the resumed run.
HEADER_TYPES = {"settings": dict, "optimizer": dict, "rng_state": dict, "step": int, "pos": int, "history": list,
                "epoch_losses": list, "train_time": NUMBER, "elapsed": NUMBER, "best": (dict, type(None)),
                "worker_rng_states": (list, type(None))}


def _check_header(path, header):
    """CheckpointError (one line) unless each field is of the type a run writes, the counts not negative."""
    def refuse(what):
        raise CheckpointError(f"{path}: damaged: {what}, not what a run writes; start the run again (--fresh)")
    for name, kind in HEADER_TYPES.items():
        value = header.get(name, 0.0 if name == "elapsed" else None)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, NUMBER)):
            refuse(f"its {name} is {type(value).__name__}")
    if header["step"] < 0 or header["pos"] < 0:
        refuse(f"a step of {header['step']} and a position of {header['pos']}")
    if not all(isinstance(entry, dict) for entry in header["history"]):
        refuse("its history holds entries that are not epochs")
    optimizer = header["optimizer"]
    if not isinstance(optimizer.get("class"), str) or not isinstance(optimizer.get("scalars"), dict):
        refuse("its optimizer has no class name or settings")


def restore_checkpoint(header, arrays, net, optimizer, rng):
    """Put the saved weights, optimizer state and rng state back; returns the TrainingState to go on from."""
    if type(optimizer).__name__ != header["optimizer"]["class"]:
        raise CheckpointError(f"the checkpoint's optimizer is {header['optimizer']['class']}, "
                              f"not {type(optimizer).__name__}")
    found, expected = without_prefix("net.", arrays), net.state_arrays()
    if set(found) != set(expected) or any(found[k].shape != v.shape for k, v in expected.items()):
        raise CheckpointError("the checkpoint's weights do not fit the run's net (its settings and its arrays "
                              "disagree: a damaged checkpoint); start the run again (--fresh)")
    net.load_state(found)
    try:
        load_optimizer_state(optimizer, header["optimizer"]["scalars"],
                             {k: v.copy() for k, v in without_prefix("opt.", arrays).items()})
        rng.bit_generator.state = header["rng_state"]
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"the checkpoint's optimizer or random state cannot be restored ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:120]}): a damaged checkpoint; start the run again "
                              "(--fresh)") from None
    best = None
    if header["best"] is not None:
        best = dict(header["best"], arrays=without_prefix("best.", arrays))
    return TrainingState(step=header["step"], history=header["history"], epoch_losses=header["epoch_losses"],
                         perm=arrays.get("sampler.perm"), pos=header["pos"], best=best,
                         train_time=header["train_time"], elapsed=header.get("elapsed", 0.0),
                         worker_rngs=header.get("worker_rng_states"))


def checkpoint_path_for(out):
    """Where the run saving its model to `out` keeps its checkpoint: model.npz -> model.ckpt.npz."""
    return out.with_suffix(".ckpt.npz")
