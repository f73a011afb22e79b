"""The signals that ask a run to stop: Ctrl-C (SIGINT), SIGTERM and SIGHUP, less those it was started ignoring.

A signal ignored when a program starts is meant to be: `nohup` ignores SIGHUP so that a run outlives its
terminal, and a shell without job control starts a background job (`cmd &` in a script) with SIGINT ignored.
Python keeps such a signal ignored, and so does digitnet: a training run's gentle stop (cli.progress), the
`--workers` launcher's forwarding (parallel.launch) and a worker's own handlers (parallel.comm) catch only the
signals heeded(). Before, they caught all three, and `nohup digitnet train ... &` stopped when its terminal closed.
"""
import signal

__all__ = ["STOP_SIGNALS", "heeded"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def heeded(signals=STOP_SIGNALS):
    """Those of `signals` that this process does not ignore, in their order.

    Examples:
        >>> import signal
        >>> before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a program
        >>> heeded() == (signal.SIGINT, signal.SIGTERM)
        True
        >>> _ = signal.signal(signal.SIGHUP, before)
    """
    return tuple(s for s in signals if signal.getsignal(s) is not signal.SIG_IGN)
