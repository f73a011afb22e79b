"""What a training run shows on the terminal: a progress bar, a line per epoch, and Ctrl-C handled gently."""
import contextlib
import os
import signal

from ..stop_signals import heeded
from ..train import Callback


class ProgressPrinter(Callback):
    """A progress bar of steps (on a terminal) and one line per epoch."""

    def __init__(self, total, done=0):
        from tqdm import tqdm

        self.tqdm = tqdm
        # disable=None: a bar on a terminal only; a --workers run's rank 0 writes to a pipe to one (launch.py)
        on_terminal = False if os.environ.get("DIGITNET_TERMINAL") else None
        self.bar = tqdm(total=total, unit="step", leave=False, disable=on_terminal, dynamic_ncols=True)
        self.bar.update(done)

    def on_step(self, state, loss):
        self.bar.update(1)

    def on_epoch(self, state, r):
        self.bar.clear()
        val = f"  val acc {100 * r['val_acc']:6.2f}%" if "val_acc" in r else ""
        self.tqdm.write(f"epoch {r['epoch']:3d}  step {r['iteration']:6d}  loss {r['train_loss']:.4f}  "
                        f"train acc {100 * r['train_acc']:6.2f}%{val}  test acc {100 * r['test_acc']:6.2f}%  "
                        f"{r['elapsed_s']:7.1f}s")

    def close(self):
        self.bar.close()


@contextlib.contextmanager
def ctrl_c_stops():
    """Yields stop(): true once Ctrl-C was pressed (or SIGTERM or SIGHUP came: a batch system's notice, a
    closed terminal), so training ends after the step in progress and the checkpoint holds a whole step.
    A second one stops at once (KeyboardInterrupt; a checkpoint being written is then not replaced). A signal
    the run was started ignoring stays ignored (stop_signals.heeded: SIGHUP under nohup)."""
    interrupted = []

    def on_signal(signum, frame):
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)

    previous = {signum: signal.signal(signum, on_signal) for signum in heeded()}
    try:
        yield lambda: bool(interrupted)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

