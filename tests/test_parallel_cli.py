"""`digitnet train --workers N` and `digitnet evaluate --workers N` end to end: real MPI processes (the mpich
wheel's mpiexec), real signals. Each test waits on process exit or on a line of output, with a timeout,
never on a clock. Skipped when mpi4py or an MPI launcher is missing."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import faultkit
import numpy as np
import pytest
from click.testing import CliRunner

from digitnet.checkpoint import load_checkpoint
from digitnet.cli import main
from digitnet.model_io import load_model, params_digest
from digitnet.parallel.launch import ParallelError, find_mpiexec

QUICK = ["--offline", "--model", "mlp", "--hidden", "32", "--dropout", "0.3", "--augment", "--batch-size", "51",
         "--seed", "3"]


@pytest.fixture
def mpiexec():
    try:
        return find_mpiexec()
    except ParallelError as e:
        pytest.skip(str(e))


ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def digitnet(*args, cwd, timeout=300, launcher=()):
    return subprocess.run([*launcher, sys.executable, "-m", "digitnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def weights_digest(path):
    net, header = load_model(path)
    return params_digest(net.state_arrays()), header["metadata"]["settings"]["workers"]


def start(*args, cwd):
    """digitnet train in the background, as a shell would start it, with its output piped."""
    return faultkit.start(*args, cwd=cwd, env=ENV)


def wait_for_line(process, text):
    """Read the process's stdout until a line holds text (an event, not a clock); fail if it ends first."""
    for line in iter(process.stdout.readline, ""):
        if text in line:
            return line
    pytest.fail(f"the run ended before printing {text!r}: {process.stderr.read()}")


def processes_mentioning(token):
    """pids of live processes whose command line holds token (a scan of /proc, no psutil)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def rank_pid(token, rank):
    for pid in processes_mentioning(token):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if {f"PMI_RANK={rank}".encode(), f"OMPI_COMM_WORLD_RANK={rank}".encode()} & set(env):  # MPICH, Open MPI
            return pid
    pytest.fail(f"no worker of rank {rank} found")


def test_one_worker_is_the_plain_run_bit_for_bit(tmp_path, mpiexec):
    """N = 1 is today's code path: plain, --workers 1 and `mpiexec -n 1` save the same weights, bit for bit."""
    runs = {"plain": [], "workers1": ["--workers", "1"], "mpiexec1": []}
    for name, extra in runs.items():
        launcher = [mpiexec, "-n", "1"] if name == "mpiexec1" else []
        done = digitnet("train", *QUICK, "--iters", "30", *extra, "--out", f"{name}.npz", cwd=tmp_path,
                        launcher=launcher)
        assert done.returncode == 0, done.stderr
    digests = {name: weights_digest(tmp_path / f"{name}.npz") for name in runs}
    assert len(set(digests.values())) == 1, digests


def test_two_workers_repeat_bit_for_bit_and_resume_where_they_stopped(tmp_path, mpiexec):
    """The same seed and N give the same weights; Ctrl-C stops both workers after the same step with a
    checkpoint holding both random states, and --resume reaches the weights of the uninterrupted run."""
    steps = ["--iters", "1000"]
    for name in ("straight1", "straight2"):
        done = digitnet("train", *QUICK, *steps, "--workers", "2", "--out", f"{name}.npz", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    first, again = weights_digest(tmp_path / "straight1.npz"), weights_digest(tmp_path / "straight2.npz")
    assert first == again and first[1] == 2

    cut = f"cut-{tmp_path.name}.npz"  # a name no other process has on its command line
    run = start("train", *QUICK, *steps, "--workers", "2", "--out", cut, cwd=tmp_path)
    wait_for_line(run, "epoch   1")
    run.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert err.count("interrupted after step") == 1 and "Traceback" not in err
    header, _ = load_checkpoint(tmp_path / cut.replace(".npz", ".ckpt.npz"))
    assert len(header["worker_rng_states"]) == 2 and 0 < header["step"] < 1000
    assert f"interrupted after step {header['step']:,} of" in err
    refused = digitnet("train", "--resume", "--out", cut, "--workers", "3", cwd=tmp_path)
    assert refused.returncode != 0 and "--workers 3 (the run's: 2)" in refused.stderr
    resumed = digitnet("train", "--resume", "--out", cut, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert weights_digest(tmp_path / cut) == first
    assert not processes_mentioning(cut), "orphan processes"


def test_a_killed_worker_ends_the_job_with_one_line(tmp_path, mpiexec):
    out = f"k-{tmp_path.name}.npz"  # a name no other process has on its command line
    run = start("train", *QUICK, "--iters", "100000", "--checkpoint-every", "80", "--workers", "2",
                "--out", out, cwd=tmp_path)
    wait_for_line(run, "epoch   2")  # a checkpoint was written at step 80
    victim = rank_pid(out, 1)
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=30)  # the job must end within 30 s
    lines = [line for line in err.splitlines() if line and not line.startswith("offline:")]
    assert run.returncode == 1 and len(lines) == 1, err
    assert f"worker 1 (pid {victim}) was lost" in lines[0] or (
        f"1 (pid {victim})" in lines[0] and "one was lost and the others ended with it" in lines[0])
    assert f"the last checkpoint is {out.replace('.npz', '.ckpt.npz')}" in lines[0] and "--resume" in lines[0]
    assert not processes_mentioning(out), "orphan processes"


def test_a_nan_loss_stops_every_worker_with_one_line(tmp_path, mpiexec):
    done = digitnet("train", *QUICK, "--iters", "50", "--lr", "1e30", "--workers", "2", "--out", "nan.npz",
                    cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("training diverged") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "nan.npz").exists()


def test_evaluate_shares_the_test_set_and_prints_the_same_report(tmp_path, mpiexec):
    assert digitnet("train", *QUICK, "--iters", "20", "--out", "m.npz", cwd=tmp_path).returncode == 0
    reports = []
    for n in ("1", "2"):
        done = digitnet("evaluate", "m.npz", "--offline", "--workers", n, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        reports.append([line.split(" [")[0] for line in done.stdout.splitlines()])  # without the seconds
    assert reports[0] == reports[1] and any(line.startswith("test accuracy") for line in reports[0])


def test_without_mpi4py_workers_say_what_to_install(tmp_path, monkeypatch):
    import digitnet.parallel.launch

    monkeypatch.setattr(digitnet.parallel.launch, "mpi4py_installed", lambda: False)
    monkeypatch.delenv("PMI_RANK", raising=False)
    monkeypatch.delenv("PMI_SIZE", raising=False)
    result = CliRunner().invoke(main, ["train", *QUICK, "--iters", "5", "--workers", "2",
                                       "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: --workers needs MPI for Python, which is not installed: pip install 'digitnet[mpi]'")
    assert not np.any([p.exists() for p in tmp_path.iterdir()])


def test_checkpoints_along_the_way_leave_a_batch_norm_run_as_it_was(tmp_path, mpiexec):
    """save_point averaged the ranks' batch norm statistics and each rank went on from the average: with
    --checkpoint-every the saved running statistics differed from the same run's without, by a rounding (a
    review). One process was never affected."""
    args = ["--offline", "--model", "mlp", "--hidden", "32", "--batch-norm", "--iters", "60", "--seed", "3",
            "--calibration", "0", "--workers", "2"]
    for name, extra in (("plain", []), ("saved", ["--checkpoint-every", "7"])):
        done = digitnet("train", *args, *extra, "--out", f"{name}.npz", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    plain, saved = (load_model(tmp_path / f"{name}.npz")[0].state_arrays() for name in ("plain", "saved"))
    assert any("running_var" in key for key in plain)
    assert all(np.array_equal(plain[key], saved[key]) for key in plain)
