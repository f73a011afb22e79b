"""A run's own files: claiming --out before the first step (a checkpoint of an interrupted run, a model in a
checkpoint's place, a write-protected file or a folder are refused in one line), the lock that keeps two runs
off one --out, and the half-written files a killed run leaves.
"""
import os
from pathlib import Path

from .checkpoint import load_checkpoint, require_checkpoint
from .errors import DigitnetError


class OutputTaken(DigitnetError):
    """--out belongs to another run: an interrupted one (its checkpoint) or one still training."""


def claim_output(out, checkpoint_path, *, resume, fresh):
    """Make sure this run may write out and its checkpoint; returns a lock to hold while it trains (close()
    releases it), or None where file locks are not available.

    A fresh run refuses (OutputTaken) to start over the checkpoint of an interrupted run, which it would
    overwrite and then delete, unless --fresh says to; and any run refuses an --out that another run, still
    training, holds the lock of. --resume without a checkpoint is refused before the lock's folder is made
    (before, `--resume --out new/m.npz` left an empty folder new/)."""
    if resume:
        require_checkpoint(checkpoint_path)
    refuse_unwritable(out)
    lock = lock_output(out)  # first: a live run's checkpoint was called an interrupted run's (a review)
    try:
        _refuse_to_replace(out, checkpoint_path, resume=resume, fresh=fresh)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    return lock


def _refuse_to_replace(out, checkpoint_path, *, resume, fresh):
    """OutputTaken where this run would replace what it must not: a checkpoint as --out, a folder or a model file
    where its checkpoint goes, an interrupted run's checkpoint (unless --resume or --fresh)."""
    if not resume and out.exists() and _checkpoint_file(out):  # the model would replace another run's checkpoint
        raise OutputTaken(f"{out} is the checkpoint of an interrupted run, which this run's model would replace: "
                          f"choose another --out (continue that run with: digitnet train --resume --out "
                          f"{str(out).removesuffix('.ckpt.npz')}.npz)")
    if checkpoint_path.is_dir():  # before: --fresh trained, saved the model, then failed on "Is a directory"
        raise OutputTaken(f"{checkpoint_path}: a folder, where a run with --out {out} keeps its checkpoint: rename "
                          "it, or choose another --out")
    if checkpoint_path.exists() and _model_file(checkpoint_path):  # --fresh deleted it at the end, --resume refused
        raise OutputTaken(f"{checkpoint_path} is a model file, not a checkpoint, and a run with --out {out} keeps its "
                          "checkpoint there: rename it, or choose another --out")
    if not resume and not fresh and checkpoint_path.exists():
        try:
            where = f" (stopped at step {load_checkpoint(checkpoint_path)[0]['step']:,})"  # its header checked
        except DigitnetError as e:  # an empty or damaged file: --resume could not continue it
            why = str(e).removeprefix(f"{checkpoint_path}: ")
            raise OutputTaken(f"{checkpoint_path} is a damaged checkpoint ({why}), which a new run would overwrite: "
                              "start afresh with --fresh (it is then replaced)") from None
        raise OutputTaken(f"{checkpoint_path} holds an interrupted run{where}, which a new run would overwrite: "
                          f"continue it with: digitnet train --resume --out {out}; or start afresh with --fresh "
                          "(the checkpoint is then replaced)")


def refuse_unwritable(out):
    """A one-line error before the first step, not after the last: an --out that is a folder, or a write-protected
    file (the run trained to its end, then could not save, and its weights were lost)."""
    from .model_io import refuse_write_protected

    if Path(os.path.realpath(out)).is_dir():
        raise OutputTaken(f"{out}: a folder, not a model file: choose another --out")
    refuse_write_protected(out)


def _model_file(path, expected_format=None):
    """Whether path holds a digitnet model (not a checkpoint), or a file of expected_format."""
    from .model_io import FORMAT, read_model_file

    try:
        read_model_file(path, expected_format=expected_format or FORMAT)
    except (DigitnetError, OSError):
        return False
    return True


def _checkpoint_file(path):
    """Whether path holds a training checkpoint."""
    from .checkpoint import FORMAT

    return _model_file(path, FORMAT)


def lock_output(out):
    """An exclusive lock on the hidden file .<name>.lock beside the file out names, a link followed (the model is
    saved through it: a run with --out latest.npz -> real.npz and one with --out real.npz both wrote real.npz);
    fcntl.flock, released when this process ends, however it ends. OutputTaken when another process holds it."""
    try:
        import fcntl
    except ImportError:  # not a Unix: no lock, as before
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    real = Path(os.path.realpath(out))
    path = real.parent / f".{real.name}.lock"
    lock = open(path, "a+")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise OutputTaken(f"another digitnet train (pid {holder}) is writing {out} and its checkpoint: let it "
                          "finish, or choose another --out") from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    remove_run_leftovers(out)  # of a run killed outright mid-write: nobody else writes here now
    return OutputLock(lock, path)


def remove_run_leftovers(out):
    """The half-written temporary files of out, its checkpoint and its metrics (model_io.remove_leftovers)."""
    from .model_io import remove_leftovers

    for path in run_files(out):
        remove_leftovers(path)


def run_files(out):
    """The files a run writes: the model out, its checkpoint and its metrics."""
    from .checkpoint import checkpoint_path_for

    return out, checkpoint_path_for(out), out.with_suffix(".metrics.json")


class OutputLock:
    def __init__(self, file, path):
        self.file, self.path = file, path

    def close(self):
        """Release the lock and remove its file (a run waiting for it was refused, never queued)."""
        if not self.file.closed:
            self.path.unlink(missing_ok=True)
            self.file.close()
