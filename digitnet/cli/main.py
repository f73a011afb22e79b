"""The `digitnet` group, and what every command shares: errors as one line, loading the data."""
import contextlib
import functools
import io
import os
import select
import signal
import sys
import threading
from pathlib import Path

import click
import numpy as np

from ..errors import DigitnetError, OptionError
from ..stop_signals import heeded
from ..version import __version__


def friendly_errors(command):
    """Our own errors and Ctrl-C become one line on stderr, never a traceback. With N workers, a rank that
    fails on its own ends the whole job at once (parallel.fail_alone), its line naming it."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as e:
            raise one_line_error(e) from None
    return wrapper


def one_line_error(e):
    """The click exception that says e in one line (our errors, OSError, Ctrl-C); e itself for a bug, whose
    traceback is wanted. Under N workers the line goes through parallel.fail_alone first, which ends the job."""
    from ..parallel.comm import PeerFailed, describe_error, fail_alone, world_size

    if isinstance(e, (click.exceptions.Exit, click.exceptions.Abort)):  # click's own ways out: as they are
        return e
    if isinstance(e, PeerFailed):  # another rank failed first and says why
        return click.exceptions.Exit(1)
    if type(e).__module__.startswith("mpi4py"):  # a collective failed: another worker was lost, this one was not
        return click.exceptions.Exit(1)  # ends through Python, so the launcher names the one lost, not this one
    if isinstance(e, OptionError):
        error = click.UsageError(str(e))
    elif isinstance(e, (DigitnetError, FloatingPointError)):
        error = click.ClickException(str(e))
        error.exit_code = getattr(e, "exit_code", 1)
    elif isinstance(e, BrokenPipeError) and stdout_gone():  # `digitnet read ... | head`: the reader has left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so Python's last flush says nothing
        return click.exceptions.Exit(128 + signal.SIGPIPE)  # quietly, with the status of a process SIGPIPE ended
    elif isinstance(e, OSError):  # disk full, permission denied, a folder where a file should be...
        where = f"{e.filename}: " if e.filename else ""
        error = click.ClickException(f"{where}{e.strerror or e}")
    elif isinstance(e, click.ClickException):
        error = e
    elif isinstance(e, KeyboardInterrupt):
        fail_alone("interrupted", 130)
        click.echo("\ninterrupted", err=True)
        return click.exceptions.Exit(130)
    else:  # a bug: with N workers one line, for the others must not wait for this rank; else the traceback
        fail_alone(f"worker {world_rank()}: {type(e).__name__}: {describe_error(e)}")
        return e
    if world_size() > 1:
        every = getattr(e, "every_worker", False)
        who = "" if every else f"worker {world_rank()}: "
        fail_alone(f"{who}{error.format_message()}", error.exit_code, every_rank=every)
    return error


def stdout_gone():
    """Whether stdout is a pipe whose reader has closed it (poll says POLLERR), not some other broken pipe."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLERR)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # no real stdout (CliRunner, pythonw)
        return False


def world_rank():
    from ..parallel.comm import world

    return world().rank


def load_data(data_dir, offline, dtype=np.float32):
    """The dataset of --data-dir / --offline; the notice of a fallback to the offline sample goes to stderr.
    dtype: the net's; a float16 net reads float32 data, which it casts itself (the data comes in float32 or
    float64: evaluate of a float16 model gave a traceback)."""
    from ..data import resolve_dataset

    dtype = np.float32 if np.dtype(dtype) == np.float16 else dtype
    dataset, notice = resolve_dataset(data_dir and Path(data_dir), offline=offline or None, dtype=dtype)
    if notice:
        click.echo(notice, err=True)
    return dataset


class Group(click.Group):
    """The `digitnet` group, which remembers the arguments it was invoked with (invoked_args): what
    --workers N runs again in each worker, whether they came from sys.argv or from a script's main([...])."""

    def parse_args(self, ctx, args):
        ctx.meta[ARGS_KEY] = list(args)
        with said_once():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with said_once():  # a command's own options are parsed here
            return super().invoke(ctx)


@contextlib.contextmanager
def said_once():
    """A mistake in the command line, with its usage block from rank 0 alone. Under a plain `mpiexec -n N
    digitnet ...` every rank parses its line before MPI is joined, and each printed the whole usage message;
    the others now say theirs in one line, `worker K: ...` (a rank's own environment or command line can
    give it a mistake rank 0 does not have). An error after MPI is joined goes through parallel.fail_alone."""
    from ..parallel.comm import launched_by_mpi, launcher_rank

    try:
        yield
    except click.UsageError as e:
        rank = launcher_rank() if launched_by_mpi() else 0
        if rank > 0:
            click.echo(f"worker {rank}: Error: {e.format_message()}", err=True)
            raise SaidAlready(e.message, e.ctx) from None
        raise


class SaidAlready(click.UsageError):
    """A usage error this process has printed in its own way: click shows nothing more, and exits 2 (a caller
    of main(..., standalone_mode=False) gets the error, as from any usage error)."""

    def show(self, file=None):
        pass


ARGS_KEY = "digitnet.args"


def invoked_args(ctx):
    """The command line after `digitnet` that the running command came from."""
    args = ctx.meta.get(ARGS_KEY)
    return list(sys.argv[1:]) if args is None else args


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digitnet")
@click.option("--threads", type=click.IntRange(min=1), envvar="DIGITNET_THREADS", default=1, show_default=True,
              help="BLAS threads. One is faster for these small matrices on a 2-core machine (see README, "
                   "Performance). Env: DIGITNET_THREADS.")
def main(threads):
    """Neural networks for handwritten digits, from scratch in NumPy."""
    from threadpoolctl import threadpool_limits

    from ..allocator import keep_freed_memory

    threadpool_limits(threads)  # for the rest of the process
    keep_freed_memory()  # each batch reuses the last one's memory, not fresh pages from the kernel
    stop_signals_as_ctrl_c()


def stop_signals_as_ctrl_c():
    """SIGTERM and SIGHUP end a command as Ctrl-C does: `interrupted`, exit 130, a download's part file removed
    (before, they killed it outright, and a download left its part file and said nothing). Only where they are
    at their defaults, in the main thread: not where the command was started ignoring them (nohup), nor under a
    program that handles them itself. Training turns all three into its gentle stop (progress.ctrl_c_stops),
    `serve` into uvicorn's, a worker of --workers N into its own (parallel.comm.world)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in heeded((signal.SIGTERM, signal.SIGHUP)):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, signal.default_int_handler)
