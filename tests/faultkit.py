"""Shared by the fault tests (tests/test_faults_*.py): run digitnet as a user would, with a fault injected
(tests/faults/sitecustomize.py), and check what is left afterwards: no process of the job, no
digitnet-workers-* folder in the run's own TMPDIR, no temporary file beside the outputs."""
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitnet.stop_signals import STOP_SIGNALS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INJECTOR = HERE / "faults"  # holds sitecustomize.py
TIMEOUT_S = 240  # a safety net on a busy 2-core machine: every test waits on an exit or a line, not on this

QUICK = ["--offline", "--model", "mlp", "--hidden", "16", "--batch-size", "50", "--seed", "3"]


def fault_env(tmp_path, fault=None, **extra):
    """The environment of a run under test: one BLAS thread, a TMPDIR of its own (where the launcher's
    digitnet-workers-* folder goes), the injector on the path when fault is given."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    path = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    if fault:
        path.insert(0, str(INJECTOR))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(path), **extra)
    env.pop("DIGITNET_TEST_FAULT", None)
    if fault:
        env["DIGITNET_TEST_FAULT"] = fault
    return env


def digitnet(*args, cwd, env, timeout=TIMEOUT_S, launcher=()):
    return subprocess.run([*launcher, sys.executable, "-m", "digitnet", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def start(*args, cwd=None, env=None, ignoring=(), **popen):
    """`python -m digitnet ARGS` in the background, its output piped, as from a terminal: Ctrl-C, SIGTERM and
    SIGHUP at their defaults in it, whatever this test process inherited (a CI job run in the background ignores
    SIGINT, under nohup SIGHUP, and digitnet keeps a signal it was started ignoring ignored: stop_signals), but
    for the signals in `ignoring` (as nohup starts it: SIGHUP; a script's background job: SIGINT)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-m", "digitnet", *map(str, args)], cwd=cwd, env=env, text=True,
                            preexec_fn=functools.partial(as_from_a_terminal, ignoring), **popen)


def as_from_a_terminal(ignoring=()):
    """(In the child, before exec) the stop signals back at their defaults, those in `ignoring` ignored."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN if signum in ignoring else signal.SIG_DFL)


def wait_for_line(process, text):
    """Read stdout until a line holds text (an event, not a clock); fail if the process ends first."""
    for line in iter(process.stdout.readline, ""):
        if text in line:
            return line
    pytest.fail(f"the run ended before printing {text!r}: {process.stderr.read()}")


def error_lines(stderr):
    """stderr less the offline-sample notice and blank lines."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("offline:")]


def job_processes(env):
    """pids of live processes whose environment holds this run's TMPDIR (the launcher, mpiexec, hydra's
    proxy, the workers): a scan of /proc, no psutil. Zombies do not count."""
    token = f"TMPDIR={env['TMPDIR']}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if token in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def rank_pid(env, rank):
    """The pid of the worker of that rank in this run (MPICH's PMI_RANK, Open MPI's rank variable)."""
    for pid in job_processes(env):
        try:
            environ = set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if {f"PMI_RANK={rank}".encode(), f"OMPI_COMM_WORLD_RANK={rank}".encode()} & environ:
            return pid
    pytest.fail(f"no worker of rank {rank} found")


def assert_clean(env, *folders):
    """Nothing of the job left: no process, no digitnet-workers-* folder, no temporary file of atomic_write.
    Processes killed a moment ago may still be exiting: this waits for them to go (a stray never does)."""
    deadline = time.monotonic() + 60  # a safety net only: the loop ends when the last process is gone
    while job_processes(env) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in job_processes(env)}
    assert left == {}, f"stray processes of the job: {left}"
    assert list(Path(env["TMPDIR"]).iterdir()) == [], "files left in TMPDIR"
    for folder in folders:
        assert not [p.name for p in Path(folder).glob(".*.tmp")], "a temporary file was left"


def names_lost(line, rank, pid=None):
    """The error line says worker `rank` (with that pid) was lost: alone, or among workers that ended at once
    (launch.WorkerLost: which of them went first cannot be told, so all are named)."""
    me = f"{rank} (pid {pid if pid is not None else ''}"
    return f"worker {me}" in line and "was lost" in line or (
        line.count("(pid ") > 1 and me in line and "one was lost and the others ended with it" in line)


def assert_one_line(stderr, *wanted):
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for text in wanted:
        assert text in lines[0], lines[0]
    return lines[0]


def interrupted_run(tmp_path, out="r/r.npz"):
    """(env, checkpoint path): a real interrupted run, Ctrl-C after the first epoch, leaves r/r.ckpt.npz."""
    env = fault_env(tmp_path)
    run = start("train", *QUICK, "--iters", "100000", "--out", out, cwd=tmp_path, env=env)
    wait_for_line(run, "epoch   1")
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130, err
    return env, tmp_path / out.replace(".npz", ".ckpt.npz")
