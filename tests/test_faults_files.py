"""Faults of one-process runs and of the files they write, end to end (`python -m digitnet` in a subprocess,
real signals, real files): full disks (a real tmpfs where this machine lets us mount one, else OSError(ENOSPC)
injected at the write call by tests/faults/sitecustomize.py), read-only folders, damaged checkpoints and
metrics, two runs on one --out. docs/reliability.md's fault table names these tests row by row."""
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

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
    start,
    wait_for_line,
)
from helpers import write_mnist_folder

from digitnet.checkpoint import load_checkpoint
from digitnet.model_io import load_model


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def mounted(folder, options):
    """A tmpfs mounted on folder (root only); skips where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def read_only(folder):
    """folder made read-only for this process: a read-only tmpfs for root (who ignores permissions), else
    chmod 0555."""
    if os.geteuid() == 0:
        with mounted(folder, "ro,size=64k") as f:
            yield f
    else:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


@contextlib.contextmanager
def full_disk(folder):
    """A 256 KiB tmpfs on folder, filled up but for a few KiB."""
    with mounted(folder, "size=256k") as f:
        filler = f / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as out:
            out.write(b"\0" * (252 * 1024))
        yield f


@pytest.mark.parametrize("extra", [[], ["--checkpoint-every", "5"]])
def test_a_fresh_run_refuses_to_overwrite_an_interrupted_runs_checkpoint(tmp_path, extra):
    """Issue 19, item 2: a new run with the same --out deleted the interrupted run's checkpoint, silently."""
    env, checkpoint = interrupted_run(tmp_path)
    before = sha(checkpoint)
    done = digitnet("train", *QUICK, "--iters", "10", "--out", "r/r.npz", *extra, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert_one_line(done.stderr, "r/r.ckpt.npz holds an interrupted run (stopped at step",
                    "digitnet train --resume --out r/r.npz", "--fresh")
    assert sha(checkpoint) == before and not (tmp_path / "r/r.npz").exists()
    fresh = digitnet("train", *QUICK, "--iters", "10", "--out", "r/r.npz", "--fresh", *extra, cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert (tmp_path / "r/r.npz").is_file() and not checkpoint.exists()
    assert_clean(env, tmp_path / "r")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_second_run_on_the_same_out_is_refused_and_a_signal_stops_the_first_with_a_checkpoint(tmp_path, signum):
    env = fault_env(tmp_path)
    first = start("train", *QUICK, "--iters", "100000", "--out", "m.npz", cwd=tmp_path, env=env)
    wait_for_line(first, "epoch   1")
    second = digitnet("train", *QUICK, "--iters", "10", "--out", "m.npz", "--fresh", cwd=tmp_path, env=env)
    assert second.returncode == 1
    assert_one_line(second.stderr, f"another digitnet train (pid {first.pid}) is writing m.npz")
    first.send_signal(signum)  # a batch system's notice (SIGTERM), a closed terminal (SIGHUP)
    _, err = first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 130
    step = load_checkpoint(tmp_path / "m.ckpt.npz")[0]["step"]
    assert_one_line(err, f"interrupted after step {step:,}", "--resume --out m.npz")
    assert not (tmp_path / ".m.npz.lock").exists()
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("second_out", ["m.npz", "latest.npz"])
def test_a_second_run_on_a_live_runs_out_is_told_it_is_live_also_through_a_link(tmp_path, second_out):
    """Once the first run had written a checkpoint, a second run on its --out was told that the checkpoint "holds
    an interrupted run"; and a second run with --out latest.npz -> m.npz was not refused at all: the lock went by
    the name typed, and both runs wrote m.npz, its metrics another run's (a review)."""
    env = fault_env(tmp_path)
    (tmp_path / "latest.npz").symlink_to("m.npz")
    first = start("train", *QUICK, "--iters", "100000", "--out", "m.npz", "--checkpoint-every", "160",
                  cwd=tmp_path, env=env)
    try:
        wait_for_line(first, "epoch   2")  # the checkpoint of step 160 is there
        assert (tmp_path / "m.ckpt.npz").is_file()
        second = digitnet("train", *QUICK, "--iters", "10", "--out", second_out, cwd=tmp_path, env=env)
        assert second.returncode == 1, second.stderr
        assert_one_line(second.stderr, f"another digitnet train (pid {first.pid}) is writing {second_out}")
        assert first.poll() is None  # the first run trains on, its checkpoint left as it was
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 130
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT])
def test_a_run_started_ignoring_a_signal_goes_on_through_it(tmp_path, signum):
    """`nohup digitnet train ... &` ignores SIGHUP, a script's `digitnet train ... &` SIGINT: the run caught them
    all the same, and stopped when its terminal closed. A signal it was started ignoring stays ignored now."""
    env = fault_env(tmp_path)
    run = start("train", *QUICK, "--iters", "3000", "--out", "m.npz", cwd=tmp_path, env=env, ignoring=(signum,))
    wait_for_line(run, "epoch   1")
    run.send_signal(signum)
    out, err = run.communicate(timeout=TIMEOUT_S)
    assert run.returncode == 0, err
    assert "step   3000" in out and (tmp_path / "m.npz").is_file() and not (tmp_path / "m.ckpt.npz").exists()
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_checkpoint_is_refused_and_kept(tmp_path, damage):
    env, checkpoint = interrupted_run(tmp_path)
    data = checkpoint.read_bytes()
    if damage == "truncated":
        checkpoint.write_bytes(data[:len(data) // 2])
    else:
        i = len(data) // 2
        checkpoint.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    before = sha(checkpoint)
    done = digitnet("train", "--resume", "--out", "r/r.npz", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert_one_line(done.stderr, "Error: r/r.ckpt.npz")
    assert sha(checkpoint) == before
    assert_clean(env, tmp_path / "r")


def test_a_full_disk_while_saving_the_model_keeps_the_previous_model(tmp_path):
    """A real full filesystem (tmpfs): the new model cannot be written, the one there stays whole."""
    env = fault_env(tmp_path)
    with mounted(tmp_path / "disk", "size=1m") as disk:
        assert digitnet("train", *QUICK, "--iters", "5", "--out", disk / "m.npz", cwd=tmp_path, env=env).returncode == 0
        before = sha(disk / "m.npz")
        filler = disk / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as out:
            for _ in range(1024):
                out.write(b"\0" * 1024)
        done = digitnet("train", *QUICK, "--iters", "5", "--out", disk / "m.npz", cwd=tmp_path, env=env)
        assert done.returncode == 1
        assert_one_line(done.stderr, "No space left on device")
        assert sha(disk / "m.npz") == before
        assert_clean(env, disk)


def test_a_stop_signal_while_the_model_is_saved_waits_for_it(tmp_path):
    """SIGTERM (or Ctrl-C) after the last step, while the run calibrated and saved its model: the run ended
    "interrupted" with no model and no checkpoint, all its training lost (a review). The save now goes on first."""
    env = fault_env(tmp_path, "0:write:m.npz:sigterm")
    done = digitnet("train", *QUICK, "--iters", "30", "--checkpoint-every", "10", "--plot", "--out", "m.npz",
                    cwd=tmp_path, env=env)
    assert done.returncode == 130, done.stderr
    assert_one_line(done.stderr, "interrupted after the last step; m.npz was saved first")
    assert load_model(tmp_path / "m.npz")[1]["metadata"]["steps"] == 30 and (tmp_path / "m.metrics.json").is_file()
    assert not (tmp_path / "m.ckpt.npz").exists() and not (tmp_path / "m.curves.png").exists()  # stopped there
    assert "saved m.npz" in done.stdout
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("suffix, kept", [(".metrics.json", "m.npz"), (".ckpt.npz", None), ("m.npz", None)])
def test_a_full_disk_at_each_write_is_one_line_and_leaves_no_temporary_file(tmp_path, suffix, kept):
    """ENOSPC injected inside atomic_write's write (after some bytes): model, checkpoint, metrics."""
    env = fault_env(tmp_path, f"0:write:{suffix}:enospc")
    done = digitnet("train", *QUICK, "--iters", "10", "--checkpoint-every", "5", "--out", "m.npz", cwd=tmp_path,
                    env=env)
    assert done.returncode == 1
    assert_one_line(done.stderr, "No space left on device")
    assert not (tmp_path / "m.metrics.json").exists()
    if kept:
        assert (tmp_path / kept).is_file()
    assert_clean(env, tmp_path)


def test_a_full_disk_under_the_tensorboard_logs_is_one_line_and_the_run_goes_on(tmp_path):
    """A thread's traceback and a hang at first; then an error that ended the run with nothing saved, no model and
    no checkpoint (a review). The logs are an extra: the run now goes on without them, and saves its model."""
    env = fault_env(tmp_path)
    with full_disk(tmp_path / "disk") as disk:
        done = digitnet("train", *QUICK, "--iters", "200", "--logdir", disk / "runs" / "x", "--out", "m.npz",
                        cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert_one_line(done.stderr, "Warning: cannot write TensorBoard logs to", "No space left on device",
                    "training goes on without them")
    assert load_model(tmp_path / "m.npz")[1]["metadata"]["steps"] == 200
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("where", ["out", "logdir"])
def test_a_read_only_folder_is_refused_before_training(tmp_path, where):
    env = fault_env(tmp_path)
    with read_only(tmp_path / "ro") as ro:
        args = ["--out", ro / "m.npz"] if where == "out" else ["--out", "m.npz", "--logdir", ro / "runs"]
        done = digitnet("train", *QUICK, "--iters", "10", *args, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert_one_line(done.stderr, "Error: ", "ro")
    assert "epoch" not in done.stdout  # refused before any training
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("content", ['{"epochs": [{"epoch": 1, "train_l', '{"epochs": 5}',
                                     '{"epochs": [{"epoch": "one", "train_loss": []}]}', None])
def test_evaluate_plots_survives_a_damaged_metrics_file(tmp_path, content):
    """Item 9: a truncated metrics.json (JSONDecodeError) or {"epochs": 5} (TypeError) gave tracebacks; a missing
    one (a bundled model's) left the learning curves out without a word."""
    env = fault_env(tmp_path)
    assert digitnet("train", *QUICK, "--iters", "10", "--out", "m.npz", cwd=tmp_path, env=env).returncode == 0
    json.loads((tmp_path / "m.metrics.json").read_text())  # written whole
    if content is None:
        (tmp_path / "m.metrics.json").unlink()
    else:
        (tmp_path / "m.metrics.json").write_text(content)
    done = digitnet("evaluate", "m.npz", "--offline", "--plots", "pics", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert_one_line(done.stderr, "note: m.metrics.json" if content is None else "warning: m.metrics.json",
                    "the learning curves are left out")
    assert (tmp_path / "pics" / "confusion_matrix.png").is_file()
    assert not (tmp_path / "pics" / "learning_curves.png").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_on_port_0_prints_the_port_it_listens_on_and_a_stop_says_interrupted(tmp_path, model_file, signum):
    """A stop (Ctrl-C, or a service manager's SIGTERM) printed click's "Aborted!", exit 1, where every other
    command says "interrupted", exit 130 (a review)."""
    import urllib.request

    env = fault_env(tmp_path)
    server = start("serve", str(model_file), "--port", "0", cwd=tmp_path, env=env, stderr=subprocess.STDOUT)
    try:
        line = wait_for_line(server, "serving ")
        url = line.split(" at ")[1].split()[0]
        assert not url.endswith(":0/"), line
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url + "health", timeout=60) as reply:
            assert reply.status == 200
    finally:
        server.send_signal(signum)
        out, _ = server.communicate(timeout=TIMEOUT_S)
    assert server.returncode == 130, out
    assert out.strip().splitlines()[-1] == "interrupted" and "Aborted" not in out and "Traceback" not in out, out
    assert_clean(env, tmp_path)


@pytest.mark.parametrize("script,args,wanted", [
    ("read_accuracy.py", ["--digits", "sample", "-n", "1", "--model", "nosuch"], "no bundled model 'nosuch'"),
    ("read_accuracy.py", ["--digits", "sample", "-n", "1", "--model-file", "gone.npz"], "gone.npz: no such model file"),
    ("rejection_report.py", ["--model-file", "gone.npz"], "gone.npz: no such model file"),
    ("rejection_report.py", ["nosuch"], "no bundled model 'nosuch'"),
])
def test_the_measuring_scripts_name_a_bad_model_in_one_line(tmp_path, script, args, wanted):
    """scripts/read_accuracy.py and scripts/rejection_report.py gave a traceback for an unknown model name or a
    missing model file."""
    env = fault_env(tmp_path, DIGITNET_TEST_DATA=str(tmp_path / "no-such-data"))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1, done.stderr
    assert_one_line(done.stderr, script.removesuffix(".py") + ": ", wanted)
    assert_clean(env, tmp_path)


def test_the_accuracy_script_with_no_data_to_measure_on_says_so_and_fails(tmp_path):
    """scripts/accuracy.py with no MNIST folder and no download skipped every run and ended with 0 (a review)."""
    env = fault_env(tmp_path, DIGITNET_TEST_DATA=str(tmp_path / "no-such-data"), DIGITNET_CACHE_DIR=str(tmp_path),
                    DIGITNET_MNIST_MIRRORS="http://127.0.0.1:9/")  # the discard port: refused at once
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "accuracy.py"), "two-layer-mnist10k"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1 and "two-layer-mnist10k     skipped: full MNIST is not cached" in done.stdout
    assert done.stderr.startswith("nothing measured: give the MNIST runs a folder of MNIST's four IDX files")


def script(tmp_path, name, *args, data):
    """scripts/NAME run in tmp_path with the official test set looked for in data; (exit status, stdout, stderr)."""
    env = fault_env(tmp_path, DIGITNET_TEST_DATA=str(data), DIGITNET_CACHE_DIR=str(tmp_path),
                    DIGITNET_MNIST_MIRRORS="http://127.0.0.1:9/")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / name), *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    return done.returncode, done.stdout, done.stderr


def test_the_measuring_scripts_read_a_folder_of_plain_idx_files_and_name_a_partial_one_in_one_line(tmp_path):
    """They looked for one gzipped file: a folder of plain IDX files (which digitnet reads) was "missing", and a
    folder with only the test files gave a DataError traceback (a review)."""
    from digitnet.data import load_sample

    sample = load_sample(normalize=False, flatten=False, dtype=None)
    images, labels = sample.x_test[:100, 0], sample.t_test[:100]
    plain = write_mnist_folder(tmp_path / "plain", images, labels, images, labels)
    for path in plain.iterdir():  # unzipped, as `gunzip` leaves them
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    status, out, err = script(tmp_path, "read_accuracy.py", "-n", 1, "--kinds", "separated", "--model", "two-layer",
                              data=plain)
    assert status == 0 and "from the official MNIST test set" in out and "separated: whole numbers" in out, err
    (plain / "train-images-idx3-ubyte").unlink()
    for name in ("read_accuracy.py", "rejection_report.py"):
        status, out, err = script(tmp_path, name, "two-layer" if name == "rejection_report.py" else "-n1", data=plain)
        assert "Traceback" not in err and "train-images-idx3-ubyte.gz: not found" in out + err, err
    assert status == 0 and "missing, so not measured: the official MNIST test set" in out


@pytest.mark.parametrize("args, wanted", [(["--kinds", "separated,nosuch"], "no kind 'nosuch': the kinds are"),
                                          (["-n", "0"], "-n must be 1 or more, not 0")])
def test_read_accuracy_refuses_a_kind_or_count_it_cannot_measure_before_measuring(tmp_path, args, wanted):
    """--kinds separated,typo measured the separated numbers for minutes, then gave a traceback (a review)."""
    status, out, err = script(tmp_path, "read_accuracy.py", "--digits", "sample", *args, data=tmp_path / "none")
    assert status == 2 and wanted in err and out == "" and "Traceback" not in err


def test_make_pretrained_refuses_to_make_models_without_the_test_set_before_training(tmp_path):
    """Without it the models were made with no test accuracy, and the default model switched to deep-cnn without
    a word (a review)."""
    status, out, err = script(tmp_path, "make_pretrained.py", "two-layer", data=tmp_path / "none")
    assert status == 2 and out == "" and "Traceback" not in err
    assert "the bundled models' test accuracy, and which is the default, come from the official MNIST test set" in err


def test_the_load_test_finds_a_model_named_relative_to_where_it_runs(tmp_path):
    """The server ran in the repository, so a model named relative to the current folder was not found (a review)."""
    pytest.importorskip("fastapi")
    from digitnet.pretrained import bundled_path

    shutil.copy(bundled_path("two-layer"), tmp_path / "m.npz")
    status, out, err = script(tmp_path, "load_test.py", "m.npz", "--requests", 4, "--clients", 1, "--abuse-every", 0,
                              "--time-limit", 120, data=tmp_path / "none")
    assert status == 0 and "result: ok" in out, out + err


@pytest.mark.parametrize("extra", [[], ["--fresh"]])
def test_a_new_run_will_not_save_its_model_over_an_interrupted_runs_checkpoint(tmp_path, extra):
    """`--out m.ckpt.npz` (a new run named after the interrupted m.npz's checkpoint) wrote its model over that
    checkpoint, and `--resume --out m.npz` then found a model file there: the interrupted run was lost (a review)."""
    env, checkpoint = interrupted_run(tmp_path)
    before = sha(checkpoint)
    done = digitnet("train", *QUICK, "--iters", "10", "--out", "r/r.ckpt.npz", *extra, cwd=tmp_path, env=env)
    assert done.returncode == 1 and "epoch" not in done.stdout, done.stdout
    assert_one_line(done.stderr, "r/r.ckpt.npz is the checkpoint of an interrupted run, which this run's model "
                    "would replace", "digitnet train --resume --out r/r.npz")
    assert sha(checkpoint) == before
    assert digitnet("train", "--resume", "--out", "r/r.npz", cwd=tmp_path, env=env).returncode == 0


def test_an_empty_checkpoint_or_a_folder_in_its_place_is_said_as_it_is(tmp_path):
    """An empty m.ckpt.npz was called an interrupted run to continue with --resume, which then said it was no
    model file; a folder named m.ckpt.npz let --fresh train to its end and fail there (a review)."""
    env = fault_env(tmp_path)
    (tmp_path / "m.ckpt.npz").write_bytes(b"")
    done = digitnet("train", *QUICK, "--iters", "10", "--out", "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "epoch" not in done.stdout
    assert_one_line(done.stderr, "m.ckpt.npz is a damaged checkpoint (", "start afresh with --fresh")
    fresh = digitnet("train", *QUICK, "--iters", "10", "--out", "m.npz", "--fresh", cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stderr
    (tmp_path / "d.ckpt.npz").mkdir()
    done = digitnet("train", *QUICK, "--iters", "10", "--out", "d.npz", "--fresh", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "epoch" not in done.stdout and not (tmp_path / "d.npz").exists()
    assert_one_line(done.stderr, "d.ckpt.npz: a folder, where a run with --out d.npz keeps its checkpoint")


def test_an_out_that_cannot_be_written_is_refused_before_the_first_step(tmp_path):
    """A write-protected --out, or a folder named as one, was found only when the run had trained to its end, and
    its weights were lost; a model named X.ckpt.npz was taken for the checkpoint of --out X.npz, which --fresh
    then deleted. Each is one line now, before any training."""
    import stat

    env = fault_env(tmp_path)
    done = digitnet("train", *QUICK, "--iters", "5", "--out", "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    model = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "m.npz").chmod(stat.S_IRUSR)
    (tmp_path / "d.npz").mkdir()
    (tmp_path / "best.ckpt.npz").write_bytes(model)
    for out, extra, said in (("m.npz", [], "m.npz: write-protected, not replaced"),
                             ("d", [], "d.npz: a folder, not a model file"),  # .npz is added to a bare name
                             ("best.npz", ["--fresh"], "best.ckpt.npz is a model file, not a checkpoint")):
        done = digitnet("train", *QUICK, "--iters", "100000", "--out", out, *extra, cwd=tmp_path, env=env)
        assert done.returncode == 1 and "epoch" not in done.stdout, done.stdout
        assert_one_line(done.stderr, said)
    assert (tmp_path / "m.npz").read_bytes() == model == (tmp_path / "best.ckpt.npz").read_bytes()
