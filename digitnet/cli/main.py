"""The `digitnet` group, and what every command shares: errors as one line, loading the data."""
import functools
import sys
from pathlib import Path

import click
import numpy as np

from .. import __version__
from ..errors import DigitnetError, OptionError


def friendly_errors(command):
    """Our own errors and Ctrl-C become one line on stderr, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OptionError as e:
            raise click.UsageError(str(e)) from None
        except (DigitnetError, FloatingPointError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # disk full, permission denied, a folder where a file should be...
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)
    return wrapper


def load_data(data_dir, offline, dtype=np.float32):
    """The dataset of --data-dir / --offline; the notice of a fallback to the offline sample goes to stderr."""
    from ..data import resolve_dataset

    dataset, notice = resolve_dataset(data_dir and Path(data_dir), offline=offline or None, dtype=dtype)
    if notice:
        click.echo(notice, err=True)
    return dataset


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
