"""Fault injection for tests/test_faults_*.py: Python imports this module at start-up when this folder is on
PYTHONPATH, in the test's own process tree only (the launcher and every MPI worker inherit the variable).

DIGITNET_TEST_FAULT="RANK:WHERE:WHAT" makes the process of that rank (an int, or "all"; a process without MPI
is rank 0) fail:
  WHERE  startup        as Python starts, before digitnet is imported (a worker lost before it joined the job)
         setup          when the run is being prepared (run.prepare)
         resume         when a checkpoint is read (checkpoint.load_checkpoint)
         step:N         before training step N (train.train_step)
         checkpoint     on entering a checkpoint (train.save_point), every rank there
         write:SUFFIX   inside the atomic write of a file whose name ends with SUFFIX, after some bytes
  WHAT   oserror        OSError(EIO)           memoryerror   MemoryError() (no message)
         enospc         OSError(ENOSPC)        exit1         os._exit(1) (no word, no exit file)
         kill9          SIGKILL to itself      interrupt     KeyboardInterrupt (a second Ctrl-C)
         sigterm        SIGTERM to itself, then on with the function (one stop signal, as a batch system sends)
         hold           write the file DIGITNET_TEST_MARK, then wait there until a signal's handler raises
DIGITNET_TEST_FAULT_SKIP=K lets the first K occasions pass (write:SUFFIX: the K+1-th such file fails).
Nothing here is part of digitnet; the faults are injected where the real ones would strike.
"""
import errno
import os
import signal


def my_rank():
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def strike(what, where):
    if what == "oserror":
        raise OSError(errno.EIO, f"injected I/O error at {where}")
    if what == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), where)
    if what == "memoryerror":
        raise MemoryError()
    if what == "interrupt":
        raise KeyboardInterrupt
    if what == "exit1":
        os._exit(1)
    if what == "sigterm":  # the handler runs as kill returns; then the function goes on, as after a real one
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if what == "kill9":
        os.kill(os.getpid(), signal.SIGKILL)
    if what == "hold":
        mark = os.environ["DIGITNET_TEST_MARK"]
        with open(mark + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(mark + ".tmp", mark)  # the test waits for this file, then signals this process
        while True:
            signal.pause()  # until a handler raises (a second Ctrl-C)
    raise ValueError(f"unknown fault {what!r}")


def strike_first(module, name, what, where):
    """module.name replaced by a function that strikes, then (if the strike returns) calls the original."""
    original = getattr(module, name)

    def faulty(*args, **kwargs):
        strike(what, where)
        return original(*args, **kwargs)
    setattr(module, name, faulty)


def install(spec):
    rank, where, what = spec.split(":", 2)
    if ":" in what:  # step:N or write:SUFFIX carry their own colon
        where, what = f"{where}:{what.split(':')[0]}", what.split(":", 1)[1]
    if rank != "all" and int(rank) != my_rank():
        return
    if where == "startup":
        strike(what, where)
        return
    import importlib

    # by sys.modules: the package's own names shadow some modules (digitnet.train is also a function)
    checkpoint_module, model_io, run, train = (importlib.import_module(f"digitnet.{name}")
                                               for name in ("checkpoint", "model_io", "run", "train"))

    if where == "setup":
        strike_first(run, "prepare", what, where)
    elif where == "resume":
        strike_first(checkpoint_module, "load_checkpoint", what, where)
    elif where.startswith("step:"):
        n, train_step = int(where.split(":")[1]), train.train_step

        def faulty_step(*args, **kwargs):
            state = args[9]
            if state.step + 1 == n:
                strike(what, where)
            return train_step(*args, **kwargs)
        train.train_step = faulty_step
    elif where == "checkpoint":
        strike_first(train, "save_point", what, where)
    elif where.startswith("write:"):
        suffix, atomic_write = where.split(":", 1)[1], model_io.atomic_write
        skip = [int(os.environ.get("DIGITNET_TEST_FAULT_SKIP", "0"))]

        def faulty_atomic_write(path, write):
            if not str(path).endswith(suffix) or skip[0] > 0:
                skip[0] -= str(path).endswith(suffix)
                return atomic_write(path, write)

            def partial(f):
                f.write(b"PK\x03\x04 partial")
                strike(what, str(path))
                f.seek(0)  # a strike that returns (sigterm): the file is then written whole, as it would have been
                f.truncate()
                write(f)
            return atomic_write(path, partial)
        for module in (model_io, checkpoint_module, run):
            if hasattr(module, "atomic_write"):
                module.atomic_write = faulty_atomic_write
        model_io.atomic_write = faulty_atomic_write
    else:
        raise ValueError(f"unknown place {where!r}")


if os.environ.get("DIGITNET_TEST_FAULT"):
    install(os.environ["DIGITNET_TEST_FAULT"])
