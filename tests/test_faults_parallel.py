"""Faults of `--workers N` runs, end to end: real mpiexec (the mpich wheel's), real signals, real files, faults
injected where real ones strike (tests/faults/sitecustomize.py). Every run must end, with one line naming the
worker and the cause, no traceback, no process of the job and no digitnet-workers-* folder left, and the
last checkpoint kept. docs/reliability.md's fault table names these tests row by row."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from faultkit import (
    QUICK,
    REPO,
    TIMEOUT_S,
    assert_clean,
    assert_one_line,
    digitnet,
    fault_env,
    interrupted_run,
    job_processes,
    names_lost,
    rank_pid,
    start,
    wait_for_line,
)

from digitnet.checkpoint import load_checkpoint
from digitnet.parallel.launch import ParallelError, find_mpiexec


@pytest.fixture
def mpiexec():
    try:
        return find_mpiexec()
    except ParallelError as e:
        pytest.skip(str(e))


def train2(tmp_path, fault=None, *extra, iters=40):
    env = fault_env(tmp_path, fault)
    done = digitnet("train", *QUICK, "--iters", iters, "--workers", "2", "--out", "m.npz", *extra,
                    cwd=tmp_path, env=env)
    return done, env


def test_a_logdir_that_is_a_file_ends_every_worker(tmp_path, mpiexec):
    """Issue 19, item 1: only rank 0 makes the TensorBoard logger; when it cannot, rank 1 waited forever."""
    (tmp_path / "runs").write_text("a file where a folder should be")
    done, env = train2(tmp_path, None, "--logdir", "runs/x", iters=5)
    assert done.returncode == 1
    assert_one_line(done.stderr, "Error: worker 0: runs/x: Not a directory")
    assert not (tmp_path / "m.npz").exists()
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("fault, worker, cause", [
    ("0:setup:oserror", 0, "injected I/O error at setup"),
    ("1:setup:oserror", 1, "injected I/O error at setup"),
    ("all:setup:oserror", 0, "injected I/O error at setup"),
    ("1:setup:memoryerror", 1, "MemoryError"),  # item 8: an empty message was lost
])
def test_an_exception_at_setup_names_the_worker(tmp_path, mpiexec, fault, worker, cause):
    done, env = train2(tmp_path, fault)
    assert done.returncode == 1
    assert_one_line(done.stderr, f"Error: worker {worker}: ", cause)
    assert "was lost" not in done.stderr
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("fault, worker, cause", [
    ("0:step:25:oserror", 0, "injected I/O error at step:25"),
    ("1:step:25:oserror", 1, "injected I/O error at step:25"),
    ("all:step:25:oserror", None, "injected I/O error at step:25"),
    ("1:step:25:memoryerror", 1, "MemoryError"),
])
def test_an_exception_mid_training_ends_the_job_and_keeps_the_checkpoint(tmp_path, mpiexec, fault, worker, cause):
    """A fault after the checkpoint of step 20: the job ends at once, and that checkpoint resumes."""
    done, env = train2(tmp_path, fault, "--checkpoint-every", "20")
    assert done.returncode == 1
    line = assert_one_line(done.stderr, "Error: worker ", cause, "the last checkpoint is m.ckpt.npz (step 20)",
                           "digitnet train --resume --out m.npz")
    if worker is not None:
        assert f"worker {worker}: " in line
    assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"] == 20
    assert_clean(env, tmp_path)
    resumed = digitnet("train", "--resume", "--out", "m.npz", cwd=tmp_path, env=fault_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "m.ckpt.npz").exists()


def test_a_worker_that_exits_without_a_word_is_the_one_named(tmp_path, mpiexec):
    """Item 7: rank 1 calling os._exit(1) was reported as worker 0 lost."""
    done, env = train2(tmp_path, "1:step:25:exit1", "--checkpoint-every", "20")
    assert done.returncode == 1
    line = assert_one_line(done.stderr, "Error: worker", "the last checkpoint is m.ckpt.npz (step 20)")
    assert names_lost(line, 1), line
    assert_clean(env, tmp_path)


def test_a_worker_killed_as_it_starts_ends_the_job_with_one_line(tmp_path, mpiexec):
    """A worker killed before it had left its pid file: the job ended with mpiexec's status 9 and no word."""
    done, env = train2(tmp_path, "1:startup:kill9")
    assert done.returncode == 1
    assert_one_line(done.stderr, "Error: a worker ended while starting, before it had joined the job "
                    "(mpiexec's exit status")
    assert not (tmp_path / "m.npz").exists()
    assert_clean(env, tmp_path)


def test_the_output_of_a_job_read_by_head_ends_quietly_and_the_job_with_it(tmp_path, mpiexec):
    """`train --workers 2 | head -1`: the launcher's output thread died of a BrokenPipeError (a traceback), and
    mpiexec, blocked on the pipe no one read, never ended: only SIGKILL stopped the job (a review)."""
    import subprocess

    env = fault_env(tmp_path)
    args = [sys.executable, "-m", "digitnet", "train", *QUICK, "--iters", "400", "--workers", "2", "--out", "m.npz"]
    job = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = job.stdout.readline()
    job.stdout.close()  # as head does after its line
    err = job.stderr.read()
    assert job.wait(timeout=TIMEOUT_S) == 141 and first, err
    assert "Traceback" not in err and "Broken pipe" not in err, err
    assert (tmp_path / "m.npz").exists()  # the job went on to its end
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("fault, worker", [("0:checkpoint:oserror", 0), ("1:checkpoint:oserror", 1),
                                           ("all:checkpoint:oserror", None)])
def test_an_exception_while_checkpointing_ends_the_job(tmp_path, mpiexec, fault, worker):
    done, env = train2(tmp_path, fault, "--checkpoint-every", "20")
    assert done.returncode == 1
    line = assert_one_line(done.stderr, "injected I/O error at checkpoint")
    assert f"worker {worker}: " in line if worker is not None else "Error: worker " in line
    assert not (tmp_path / "m.ckpt.npz").exists() and not (tmp_path / "m.npz").exists()
    assert_clean(env, tmp_path)


def test_a_full_disk_while_writing_the_second_checkpoint_keeps_the_first(tmp_path, mpiexec):
    env = fault_env(tmp_path, "0:write:.ckpt.npz:enospc", DIGITNET_TEST_FAULT_SKIP="1")
    done = digitnet("train", *QUICK, "--iters", "60", "--workers", "2", "--out", "m.npz", "--checkpoint-every",
                    "20", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert_one_line(done.stderr, "Error: worker 0: ", "No space left on device",
                    "the last checkpoint is m.ckpt.npz (step 20)")
    assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"] == 20
    assert_clean(env, tmp_path)


def long_run(tmp_path, fault=None, **extra):
    env = fault_env(tmp_path, fault, **extra)
    run = start("train", *QUICK, "--iters", "100000", "--workers", "2", "--out", "m.npz", "--checkpoint-every",
                "160", cwd=tmp_path, env=env)
    wait_for_line(run, "epoch   1")  # both workers are training
    return run, env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("target", ["launcher", "worker 0", "worker 1"])
def test_a_signal_stops_every_worker_after_the_same_step_with_a_checkpoint(tmp_path, mpiexec, signum, target):
    """SIGTERM (a batch system), SIGHUP (a closed terminal) and SIGINT (Ctrl-C), to the launcher or to one
    worker: all workers stop after the same step, rank 0 writes the checkpoint, and it resumes."""
    run, env = long_run(tmp_path)
    pid = run.pid if target == "launcher" else rank_pid(env, int(target[-1]))
    os.kill(pid, signum)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130, err
    line = assert_one_line(err, "interrupted after step", "checkpoint saved to m.ckpt.npz",
                           "digitnet train --resume --out m.npz")
    step = load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"]
    assert f"interrupted after step {step:,} of" in line
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("target", ["launcher", "worker 1"])
def test_a_job_started_ignoring_sighup_as_nohup_starts_it_goes_on_through_it(tmp_path, mpiexec, target):
    """`nohup digitnet train --workers 2 ... &`: the launcher forwarded SIGHUP (a closed terminal) to the
    workers, and they caught it too, so the job stopped. It is ignored now, as nohup means it to be."""
    env = fault_env(tmp_path)
    run = start("train", *QUICK, "--iters", "3000", "--workers", "2", "--out", "m.npz", cwd=tmp_path, env=env,
                ignoring=(signal.SIGHUP,))
    wait_for_line(run, "epoch   1")
    os.kill(run.pid if target == "launcher" else rank_pid(env, 1), signal.SIGHUP)
    out, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 0, err
    assert "step   3000" in out and (tmp_path / "m.npz").is_file()
    assert_clean(env, tmp_path)


def test_a_worker_that_cannot_read_the_checkpoint_it_resumes_ends_the_job_naming_it(tmp_path, mpiexec):
    """A worker that failed before it joined MPI (reading the checkpoint, on --resume) left no pid file, and the
    launcher, which watched the workers once all had left theirs, waited for good with worker 0 spinning in MPI.
    Workers join MPI first now: the failure is one line naming the worker, and the checkpoint is kept."""
    run, env = long_run(tmp_path)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130, err
    before = (tmp_path / "m.ckpt.npz").read_bytes()
    done = digitnet("train", *QUICK, "--iters", "100000", "--workers", "2", "--out", "m.npz", "--checkpoint-every",
                    "160", "--resume", cwd=tmp_path, env=fault_env(tmp_path, "1:resume:oserror"))
    assert done.returncode == 1, done.stderr
    assert_one_line(done.stderr, "Error: worker 1: injected I/O error at resume")
    assert (tmp_path / "m.ckpt.npz").read_bytes() == before
    assert_clean(env, tmp_path)


def started(env, rank):
    """Whether the worker of that rank has a process yet (one that has just ended does not count)."""
    wanted = {f"PMI_RANK={rank}".encode(), f"OMPI_COMM_WORLD_RANK={rank}".encode()}
    for pid in job_processes(env):
        try:
            if wanted & set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")):
                return True
        except OSError:  # gone since job_processes looked (ProcessLookupError, FileNotFoundError)
            continue
    return False


def test_a_ctrl_c_as_the_workers_start_ends_the_job_without_a_traceback(tmp_path, mpiexec):
    """A Ctrl-C before the workers had joined MPI went to mpiexec, which passed it to workers still importing:
    their KeyboardInterrupt tracebacks, and exit status 2 or 11. Wherever it lands now: 130, no traceback."""
    env = fault_env(tmp_path)
    run = start("train", *QUICK, "--iters", "100000", "--workers", "2", "--out", "m.npz", cwd=tmp_path, env=env)
    while not all(started(env, rank) for rank in (0, 1)):  # both workers' processes are there: they import
        assert run.poll() is None, run.communicate()
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130 and "Traceback" not in err, err
    assert_clean(env, tmp_path)


def test_a_ctrl_c_while_the_workers_prepare_the_run_says_interrupted_as_one_process_does(tmp_path, mpiexec):
    """Ctrl-C while the workers made their training set (--pen-digits takes seconds): "Error: interrupted", where
    one process says "interrupted" (a review). Worker 1 is held in run.prepare until the signal comes."""
    mark = tmp_path / "preparing"
    env = fault_env(tmp_path, "1:setup:hold", DIGITNET_TEST_MARK=str(mark))
    run = start("train", *QUICK, "--iters", "100000", "--workers", "2", "--out", "m.npz", cwd=tmp_path, env=env)
    deadline = time.monotonic() + TIMEOUT_S
    while not mark.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Error" not in err and "Traceback" not in err, err
    assert not (tmp_path / "m.npz").exists()
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("rank", [0, 1])
def test_a_worker_killed_outright_ends_the_job_naming_it(tmp_path, mpiexec, rank):
    run, env = long_run(tmp_path)
    wait_for_line(run, "epoch   2")  # the checkpoint of step 160 is written
    victim = rank_pid(env, rank)
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 1
    line = assert_one_line(err, "the last checkpoint is m.ckpt.npz")
    assert names_lost(line, rank, victim), line
    assert f"(step {load_checkpoint(tmp_path / 'm.ckpt.npz')[0]['step']:,})" in line
    assert_clean(env, tmp_path)


def test_a_launcher_killed_outright_leaves_no_worker_running(tmp_path, mpiexec):
    """kill -9 of `digitnet train --workers 2`: the workers notice their launcher is gone and end, and the
    worker folder goes with them."""
    run, env = long_run(tmp_path)
    wait_for_line(run, "epoch   2")
    workers = [rank_pid(env, 0), rank_pid(env, 1)]
    run.kill()
    run.wait(timeout=TIMEOUT_S)
    deadline = time.monotonic() + TIMEOUT_S  # a safety net; the loop ends on the event (no process left)
    while [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in state(p)] \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"] >= 160
    while (len(os.listdir(env["TMPDIR"])) or len([p for p in job_pids(env) if p != run.pid])) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_clean(env, tmp_path)


def test_a_launcher_killed_outright_mid_checkpoint_leaves_no_temporary_file(tmp_path, mpiexec):
    """kill -9 of the launcher while rank 0 is inside a checkpoint's write (held there by the injector): the
    reaper ends the workers, then removes the half-written file too."""
    mark = tmp_path / "writing"
    run, env = long_run(tmp_path, "0:write:.ckpt.npz:hold", DIGITNET_TEST_FAULT_SKIP="1",
                        DIGITNET_TEST_MARK=str(mark))
    deadline = time.monotonic() + TIMEOUT_S  # a safety net; the loops end on their events
    while not mark.exists() and time.monotonic() < deadline:  # rank 0 is inside the second checkpoint's write
        time.sleep(0.05)
    assert list(tmp_path.glob(".m.ckpt.npz.*.tmp")), "the write is under way"
    run.kill()
    run.wait(timeout=TIMEOUT_S)
    while (list(tmp_path.glob(".*.tmp")) or len(os.listdir(env["TMPDIR"]))
           or [p for p in job_pids(env) if p != run.pid]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"] == 160
    assert_clean(env, tmp_path)


def state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def job_pids(env):
    from faultkit import job_processes

    return job_processes(env)


def test_a_second_ctrl_c_while_the_checkpoint_is_written_ends_at_once_keeping_the_last(tmp_path, mpiexec):
    """The first Ctrl-C asks for a stop and a checkpoint; a second one while rank 0 writes it (held there by
    the injector) ends every worker at once; the checkpoint of step 160 is kept, whole."""
    mark = tmp_path / "writing"
    run, env = long_run(tmp_path, "0:write:.ckpt.npz:hold", DIGITNET_TEST_FAULT_SKIP="1",
                        DIGITNET_TEST_MARK=str(mark))
    wait_for_line(run, "epoch   2")
    deadline = time.monotonic() + TIMEOUT_S
    while not mark.exists() and time.monotonic() < deadline:  # rank 0 is inside the second checkpoint's write
        time.sleep(0.05)
    writer = int(mark.read_text())
    while run.poll() is None and time.monotonic() < deadline:  # Ctrl-C again until the job ends
        try:
            os.kill(writer, signal.SIGINT)
        except ProcessLookupError:  # the writer has ended, and the job with it (on a busy machine, not at once)
            break
        time.sleep(0.2)
    _, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 130, err
    line = assert_one_line(err, "the last checkpoint is m.ckpt.npz (step 160)")
    assert line.startswith("interrupted; "), line  # as one process says it (row 220), not "Error: interrupted"
    assert load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"] == 160
    assert_clean(env, tmp_path)


def test_an_error_every_worker_meets_is_said_once_and_blames_none(tmp_path, mpiexec):
    """Under a plain mpiexec each rank printed an error they all met (a resume with another worker count), and
    with --workers the line named whichever worker wrote it first: the NaN loss all of them reduced was "worker
    1" in one run and "worker 0" in the next (a review)."""
    env, _ = interrupted_run(tmp_path)
    done = digitnet("train", "--resume", "--out", "r/r.npz", cwd=tmp_path, env=env, launcher=[mpiexec, "-n", "2"])
    assert done.returncode != 0 and "Traceback" not in done.stderr
    wanted = "Error: r/r.ckpt.npz was written by 1 worker(s); resume it with --workers 1, not 2"
    assert done.stderr.count(wanted) == 1, done.stderr
    done, _ = train2(tmp_path, None, "--lr", "1e30", iters=20)
    assert_one_line(done.stderr, "Error: training diverged: the loss became")
    done, _ = train2(tmp_path, None, "--batch-norm", "--batch-size", "3", iters=2)  # a setting every worker checks
    assert_one_line(done.stderr, "Error: --batch-size 3: batch normalization needs batches of 2 or more per worker")
    assert_clean(env, tmp_path)


def test_under_a_plain_mpiexec_a_failing_rank_ends_the_job_with_its_line(tmp_path, mpiexec):
    env = fault_env(tmp_path, "1:step:5:oserror")
    done = digitnet("train", *QUICK, "--iters", "40", "--out", "m.npz", cwd=tmp_path, env=env,
                    launcher=[mpiexec, "-n", "2"])
    assert done.returncode != 0
    assert "Error: worker 1: injected I/O error at step:5" in done.stderr and "Traceback" not in done.stderr
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("args, wanted", [
    (["train", "--no-such-option"], "No such option '--no-such-option'"),  # a command's own option
    (["--threads", "0", "train"], "Invalid value for '--threads'"),  # the group's
    (["train", "--offline", "--resume", "--fresh"], "give --resume or --fresh, not both"),  # the command's checks
])
def test_under_a_plain_mpiexec_a_mistake_in_the_command_line_is_said_once(tmp_path, mpiexec, args, wanted):
    """Every rank parses its line before MPI is joined: each printed the whole usage message. Rank 0 still
    does; the others say theirs in one line, naming the rank (its mistake may be its own)."""
    done = digitnet(*args, cwd=tmp_path, env=fault_env(tmp_path, None), launcher=[mpiexec, "-n", "2"])
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert done.stderr.count("Usage: ") == 1 and len(errors) == 1, done.stderr
    assert wanted in errors[0] and "Traceback" not in done.stderr
    assert f"worker 1: {errors[0]}" in done.stderr.splitlines()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 4, done.stderr  # Usage, Try ... --help, Error (rank 0); worker 1: Error


def test_under_a_plain_mpiexec_a_mistake_of_one_rank_alone_is_said(tmp_path, mpiexec):
    """A rank's own environment (or command line) can hold a mistake rank 0 does not have: it is not lost."""
    script = tmp_path / "rank.sh"
    script.write_text('#!/bin/sh\n[ "$PMI_RANK" = 1 ] && export DIGITNET_THREADS=0\nexec "$@"\n')
    script.chmod(0o755)
    done = digitnet("models", cwd=tmp_path, env=fault_env(tmp_path, None), launcher=[mpiexec, "-n", "2", script])
    assert done.returncode == 2, done.stderr
    assert "worker 1: Error: Invalid value for '--threads': 0 is not in the range x>=1." in done.stderr.splitlines()


def test_under_a_plain_mpiexec_a_new_run_keeps_an_interrupted_runs_checkpoint(tmp_path, mpiexec):
    """The launch docs/cluster.md gives for clusters: no rank claimed --out, so a new run overwrote an interrupted
    run's checkpoint and deleted it at its end (and two jobs could write one --out). Rank 0 claims it now, and
    the refusal is one line, not one a rank."""
    env, checkpoint = interrupted_run(tmp_path)
    before = checkpoint.read_bytes()
    done = digitnet("train", *QUICK, "--iters", "10", "--out", "r/r.npz", cwd=tmp_path, env=env,
                    launcher=[mpiexec, "-n", "2"])
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]  # and MPICH's "Abort(1)"
    assert done.returncode != 0 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "r/r.ckpt.npz holds an interrupted run (stopped at step" in errors[0] and "--fresh" in errors[0]
    assert checkpoint.read_bytes() == before and not (tmp_path / "r/r.npz").exists()
    fresh = digitnet("train", *QUICK, "--iters", "10", "--out", "r/r.npz", "--fresh", cwd=tmp_path, env=env,
                     launcher=[mpiexec, "-n", "2"])
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "r/r.npz").is_file() and not checkpoint.exists()
    assert_clean(env, tmp_path / "r")


def sample_folder(folder, shift=0):
    """The bundled sample's training digits as an MNIST folder (as its test set too), labels shifted by `shift`."""
    import gzip

    folder.mkdir(parents=True)
    sample = REPO / "digitnet" / "data" / "sample"
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        raw = bytearray(gzip.decompress((sample / name).read_bytes()))
        if "labels" in name:
            raw[8:] = bytes((b + shift) % 10 for b in raw[8:])
        for kind in ("train", "t10k"):
            (folder / name.replace("train", kind)).write_bytes(gzip.compress(bytes(raw)))


def test_under_a_plain_mpiexec_workers_given_other_data_are_refused(tmp_path, mpiexec):
    """docs/cluster.md asks for the same data at the same path on every host. A worker whose folder held other
    digits of the same sizes trained on a mix without a word (of other sizes, MPI failed with a stack of its
    internals); the workers' data are compared once they are loaded."""
    sample_folder(tmp_path / "a" / "data")
    sample_folder(tmp_path / "b" / "data", shift=1)
    env = fault_env(tmp_path)
    args = ["train", "--model", "mlp", "--hidden", "16", "--batch-size", "50", "--iters", "20", "--data-dir", "data",
            "--out", tmp_path / "m.npz"]
    first = [mpiexec, "-n", "1", "-wdir", tmp_path / "a", sys.executable, "-m", "digitnet", *args,
             ":", "-n", "1", "-wdir", tmp_path / "b"]
    done = digitnet(*args, cwd=tmp_path, env=env, launcher=list(map(str, first)))
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]  # and MPICH's "Abort(1)"
    assert done.returncode != 0 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "worker 1 has other data than worker 0" in errors[0] and "same data" in errors[0]
    assert not (tmp_path / "m.npz").exists()
    assert_clean(env, tmp_path)


def test_a_worker_that_has_begun_to_exit_counts_as_gone(monkeypatch):
    """A worker killed outright may still be tearing itself down when mpiexec has ended: the launcher looked,
    found it still there, and named the other worker as the one lost, or none (exit 143; seen twice on a busy
    2-core machine). Begun to exit (PF_EXITING in /proc/<pid>/stat), a zombie or gone, it counts as gone."""
    import io
    import subprocess

    from digitnet.parallel import launch

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not launch.ending(child.pid) and not launch.ending(os.getpid())
        stat = "1234 (python3) {state} 1 1 1 0 -1 {flags} 0 0 0 0"
        real_open = open

        def fake(flags, state="R"):
            return lambda path, *a, **k: (io.StringIO(stat.format(state=state, flags=flags))
                                          if path == f"/proc/{child.pid}/stat" else real_open(path, *a, **k))

        monkeypatch.setattr(launch, "open", fake(0x400000 | launch.PF_EXITING), raising=False)
        assert launch.ending(child.pid)  # running still, but exiting
        monkeypatch.setattr(launch, "open", fake(0x400000), raising=False)
        assert not launch.ending(child.pid)
        monkeypatch.setattr(launch, "open", fake(0x400000, state="Z"), raising=False)
        assert launch.ending(child.pid)
        monkeypatch.undo()
    finally:
        child.kill()
        child.wait()
    assert launch.ending(child.pid)  # reaped: gone


def test_a_ctrl_c_in_the_grace_before_mpi_abort_only_ends_the_wait(monkeypatch):
    """fail_alone waits comm.ABORT_GRACE_S between a failing rank's line and MPI_Abort, for mpiexec to forward the
    line; a Ctrl-C then must not escape as a traceback and skip the MPI_Abort that ends the other ranks."""
    from digitnet.parallel import comm

    waited = []

    def interrupted(seconds):
        waited.append(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(comm.time, "sleep", interrupted)
    comm._grace()
    assert waited == [comm.ABORT_GRACE_S] and comm.ABORT_GRACE_S > 0


def test_a_script_calling_main_runs_its_own_arguments_in_the_workers(tmp_path, mpiexec):
    """Item 5: the workers ran sys.argv (the script's own flags), not the arguments given to main()."""
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom digitnet.cli import main\n"
                      f"main(['train', {', '.join(map(repr, QUICK))}, '--iters', '10', '--workers', '2', "
                      "'--out', 'scripted.npz'])\n")
    env = fault_env(tmp_path)
    import subprocess

    done = subprocess.run([sys.executable, str(script), "--the-scripts-own-flag"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "scripted.npz").is_file()
    assert_clean(env, tmp_path)


def test_workers_import_the_launchers_digitnet_not_the_current_folders(tmp_path, mpiexec):
    """Item 6: from a folder holding another digitnet/, the workers ran that one and wrote no model."""
    impostor = tmp_path / "digitnet"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "__main__.py").write_text("open('impostor-ran', 'w').close()\n")
    (impostor / "cli.py").write_text("open('impostor-ran', 'w').close()\ndef main(*a, **k): pass\n")
    env = fault_env(tmp_path)
    import subprocess

    code = "import sys; sys.path.remove(''); from digitnet.cli import main; main(prog_name='digitnet')"
    done = subprocess.run([sys.executable, "-c", code, "train", *QUICK, "--iters", "10", "--workers", "2",
                           "--out", "m.npz"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.npz").is_file() and not (tmp_path / "impostor-ran").exists()
    assert_clean(env, tmp_path)
