"""Interrupted training resumes to bit-identical weights: Ctrl-C (a real SIGINT) and a hard kill."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faultkit
import numpy as np
import pytest

from digitnet.model_io import load_model

REPO = Path(__file__).resolve().parents[1]
# Every source of randomness at once: shuffling, augmentation, dropout, Adam's state, best-epoch keeping.
RUN = ["train", "--model", "mlp", "--hidden", "32", "--optimizer", "adam", "--schedule", "cosine", "--dropout", "0.2",
       "--augment", "--validation", "500", "--sampling", "shuffle", "--epochs", "12", "--seed", "7"]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "DIGITNET_OFFLINE": "1",
            "DIGITNET_CACHE_DIR": str(tmp_path / "cache")}


def digitnet(*args, env):
    return subprocess.run([sys.executable, "-m", "digitnet", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300)


def start(args, env):
    return faultkit.start(*args, env=env)


def wait_for_line(proc, text):
    for line in proc.stdout:
        if text in line:
            return
    raise AssertionError(f"the run ended before printing {text!r}: {proc.stderr.read()}")


def weights(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k != "__header__"}


@pytest.fixture
def uninterrupted(tmp_path, env):
    out = tmp_path / "straight.npz"
    r = digitnet(*RUN, "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    return weights(out)


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(tmp_path, env, uninterrupted):
    out = tmp_path / "resumed.npz"
    proc = start([*RUN, "--out", out], env)
    wait_for_line(proc, "epoch   3")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "checkpoint saved" in stderr and "--resume" in stderr
    checkpoint = out.with_suffix(".ckpt.npz")
    assert checkpoint.exists() and not out.exists()

    r = digitnet("train", "--resume", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout
    assert_identical(uninterrupted, weights(out))
    assert not checkpoint.exists()  # a finished run leaves nothing to resume
    epochs = json.loads(out.with_suffix(".metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(1, 13))


def test_hard_kill_after_a_periodic_checkpoint_resumes_bit_identical(tmp_path, env, uninterrupted):
    out = tmp_path / "killed.npz"
    checkpoint = out.with_suffix(".ckpt.npz")
    proc = start([*RUN, "--checkpoint-every", "37", "--out", out], env)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    wait_for_line(proc, "epoch   4")
    proc.kill()  # no handler runs: only the periodic checkpoint survives
    proc.communicate(timeout=60)
    assert checkpoint.exists()
    r = digitnet("train", "--resume", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    assert_identical(uninterrupted, weights(out))


def test_resume_without_a_checkpoint_is_one_clear_line(tmp_path, env):
    r = digitnet("train", "--resume", "--out", tmp_path / "none.npz", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "none.ckpt.npz" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = digitnet("train", "--resume", "--out", tmp_path / "new" / "m.npz", env=env)
    assert r.returncode == 1 and "no checkpoint to resume" in r.stderr
    assert not (tmp_path / "new").exists()  # before: an empty folder made for the lock was left


def test_a_fresh_run_that_diverges_does_not_name_the_replaced_runs_checkpoint(tmp_path, env):
    """With --fresh, a run that diverged before writing a checkpoint called the replaced run's its 'last good
    checkpoint': --resume would have gone on with that other run (its seed, its learning rate, its length)."""
    out = tmp_path / "m.npz"
    r = digitnet("train", "--lr", "1e8", "--iters", "200", "--checkpoint-every", "1", "--seed", "0", "--out", out,
                 env=env)  # diverges after a few steps, its checkpoint kept
    assert "last good checkpoint" in r.stderr and out.with_suffix(".ckpt.npz").exists(), r.stderr
    r = digitnet("train", "--fresh", "--lr", "1e38", "--iters", "50", "--seed", "9", "--out", out, env=env)
    assert r.returncode == 1 and "training diverged" in r.stderr and "Traceback" not in r.stderr
    assert "last good checkpoint" not in r.stderr and "no checkpoint of this run was written" in r.stderr


def test_resume_takes_options_equal_to_the_runs_own(tmp_path, env):
    """--hidden 50 and --init 0.01 (the two-layer net's defaults, which the run left out) and --offline (the run read
    the sample, through DIGITNET_OFFLINE=1) were refused as differing from the run's "None" and "False"."""
    out = tmp_path / "m.npz"
    digitnet("train", "--lr", "1e8", "--iters", "200", "--checkpoint-every", "1", "--seed", "0", "--out", out, env=env)
    assert out.with_suffix(".ckpt.npz").exists()  # the run diverged after a few steps; its checkpoint is kept
    r = digitnet("train", "--resume", "--out", out, "--hidden", "50", "--init", "0.01", "--offline", env=env)
    assert "resuming" in r.stdout and "differ" not in r.stderr, r.stderr  # (it goes on, and diverges again)
    r = digitnet("train", "--resume", "--out", out, "--hidden", "60", "--init", "he", env=env)
    assert r.returncode == 1 and "--hidden 60 (the run's: 50)" in r.stderr and "--init he (the run's: 0.01)" in r.stderr


def test_divergence_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, env):
    out = tmp_path / "diverged.npz"
    r = digitnet("train", "--lr", "1e8", "--iters", "200", "--checkpoint-every", "1", "--seed", "0", "--out", out,
                 env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "diverged" in r.stderr and "learning rate" in r.stderr and "last good checkpoint" in r.stderr
    with np.load(out.with_suffix(".ckpt.npz")) as npz:
        weights = [k for k in npz.files if k.startswith("net.")]
        assert weights and all(np.all(np.isfinite(npz[k])) for k in weights)


QUICK = ["train", "--iters", 4000, "--seed", 2]  # 80 steps an epoch on the sample: interrupted long before the end


def interrupted_run(out, env, *extra):
    """A real run stopped by Ctrl-C after its first epoch: its checkpoint is left beside out."""
    proc = start([*QUICK, *extra, "--out", out], env)
    wait_for_line(proc, "epoch   1")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out.with_suffix(".ckpt.npz").exists(), stderr
    return out.with_suffix(".ckpt.npz")


def test_resume_refuses_options_that_differ_from_the_run(tmp_path, env):
    out = tmp_path / "m.npz"
    checkpoint = interrupted_run(out, env)
    before = checkpoint.read_bytes()
    r = digitnet("train", "--resume", "--lr", "0.5", "--iters", 100, "--seed", 2, "--out", out, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "--lr 0.5 (the run's: 0.1)" in lines[0] and "--iters 100 (the run's: 4000)" in lines[0]
    assert "--seed" not in lines[0]  # given, but the same as the run's
    assert checkpoint.read_bytes() == before and not out.exists()


def copy_sample(folder):
    """A data folder of our own: the bundled sample's files, its training digits doubling as the test set."""
    folder.mkdir()
    sample = REPO / "digitnet" / "data" / "sample"
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes((sample / name).read_bytes())
        (folder / name.replace("train", "t10k")).write_bytes((sample / name).read_bytes())
    return folder


def test_resume_on_other_data_is_refused_in_one_line(tmp_path, env):
    import gzip

    data = copy_sample(tmp_path / "data")
    out = tmp_path / "m.npz"
    checkpoint = interrupted_run(out, env, "--data-dir", data)
    labels = data / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8:] = bytes((b + 1) % 10 for b in raw[8:])  # same name, same sizes, other labels
    labels.write_bytes(gzip.compress(bytes(raw)))
    r = digitnet("train", "--resume", "--data-dir", data, "--out", out, env=env)  # the same folder: no conflict
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused: the run trained on" in lines[0] and "same data" in lines[0], r.stderr
    assert checkpoint.exists() and not out.exists()


def test_resume_takes_the_data_where_it_lies_now_and_options_that_change_nothing(tmp_path, env):
    """A run started with --data-dir data (relative) could be resumed only from the folder it started in: from
    another, --data-dir ../data was refused as "differ" from the run's; so was --checkpoint-every, and the command
    it printed to continue left out --plot (a review). Where the data lies changes nothing the run computes, and
    its identity is checked (other data is still refused: the tests above); nor do checkpoints."""
    data, out = copy_sample(tmp_path / "data"), tmp_path / "m.npz"
    proc = faultkit.start(*QUICK, "--data-dir", "data", "--plot", "--out", "m.npz", cwd=tmp_path, env=env)
    wait_for_line(proc, "epoch   1")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(120) == 130
    assert "Continue with: digitnet train --resume --out m.npz --plot" in proc.stderr.read()
    (tmp_path / "sub").mkdir()
    moved = data.rename(tmp_path / "moved")
    r = subprocess.run([sys.executable, "-m", "digitnet", "train", "--resume", "--data-dir", "../moved",
                        "--checkpoint-every", "500", "--plot", "--out", "../m.npz"], cwd=tmp_path / "sub", env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and out.is_file() and (tmp_path / "m.curves.png").is_file(), r.stderr
    settings = load_model(out)[1]["metadata"]["settings"]
    assert settings["data_dir"] == "../moved" and settings["checkpoint_every"] == 500
    assert moved.is_dir()


def test_resume_on_fewer_digits_says_the_data_changed_not_that_the_run_s_options_do_not_fit(tmp_path, env):
    """The data is checked before the run's own options are fitted to it: on 3,000 digits, the run's
    --validation 5000 was refused ("leaves no training data") as if the user had typed it."""
    import gzip

    data = copy_sample(tmp_path / "data")
    out = tmp_path / "m.npz"
    checkpoint = interrupted_run(out, env, "--data-dir", data, "--validation", "5000")
    for name, header in (("train-images-idx3-ubyte.gz", 16), ("train-labels-idx1-ubyte.gz", 8)):
        raw = bytearray(gzip.decompress((data / name).read_bytes()))
        raw[4:8] = (3000).to_bytes(4, "big")
        size = 28 * 28 if "images" in name else 1
        (data / name).write_bytes(gzip.compress(bytes(raw[:header + 3000 * size])))
    r = digitnet("train", "--resume", "--data-dir", data, "--out", out, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused: the run trained on" in lines[0] and "3,000 train" in lines[0], r.stderr
    assert checkpoint.exists() and not out.exists()


def test_resume_with_other_outliers_in_the_folder_is_refused_in_one_line(tmp_path, env):
    """The dataset's identity covered the digits only: a run whose --outliers folder changed between its start
    and its resume went on, trained on other outliers from the middle of its run, without a word."""
    from helpers import write_mnist_folder

    def outliers(seed):
        images = (255 * np.random.default_rng(seed).random((300, 28, 28)) ** 4).astype(np.uint8)
        return write_mnist_folder(tmp_path / "outliers", images, np.zeros(300), images, np.zeros(300))

    folder, out = outliers(1), tmp_path / "m.npz"
    checkpoint = interrupted_run(out, env, "--outliers", folder)
    before = checkpoint.read_bytes()
    outliers(2)  # the same folder, the same sizes, other pictures
    r = digitnet("train", "--resume", "--out", out, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("offline: ")]  # the sample's note
    assert len(lines) == 1 and "refused: the run trained with other outliers (270 trained on / 30 held out" in lines[0]
    assert "resume it with the same outliers" in lines[0], r.stderr
    assert checkpoint.read_bytes() == before and not out.exists()
    outliers(1)  # put back: it resumes
    r = digitnet("train", "--resume", "--out", out, env=env)
    assert r.returncode == 0 and out.exists(), r.stderr


CRAFTED = {  # a checkpoint's header re-sealed with what no run writes (its header has no digest of its own)
    "a step as text": lambda h: h.__setitem__("step", "12"),
    "history as text": lambda h: h.__setitem__("history", "x"),
    "a random state of another shape": lambda h: h.__setitem__("rng_state", {"bit_generator": "PCG64", "state": 5}),
    "settings that build another net": lambda h: h["settings"].__setitem__("hidden", [17]),
    "optimizer settings as a list": lambda h: h["optimizer"].__setitem__("scalars", [1]),
}


def test_a_damaged_checkpoint_is_one_line_not_a_traceback(tmp_path, env):
    """Each of CRAFTED gave a traceback (ValueError, TypeError, AttributeError mid-training; a review)."""
    out = tmp_path / "m.npz"
    checkpoint = interrupted_run(out, env)
    with np.load(checkpoint) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for what, change in CRAFTED.items():
        header = json.loads(str(arrays["__header__"]))
        change(header)
        np.savez(checkpoint, **{**arrays, "__header__": np.array(json.dumps(header))})
        r = digitnet("train", "--resume", "--out", out, env=env)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (what, r.stderr)
        lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("offline: ")]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "start the run again" in lines[0], (what, lines)
        assert not out.exists()


def test_resume_after_a_finished_run_says_there_is_no_checkpoint(tmp_path, env):
    out = tmp_path / "done.npz"
    assert digitnet("train", "--iters", 20, "--seed", 0, "--out", out, env=env).returncode == 0
    r = digitnet("train", "--resume", "--out", out, env=env)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no checkpoint to resume: ") and "done.ckpt.npz" in lines[0]
    assert "no such model file" not in r.stderr



def test_a_run_hashes_its_data_once_however_many_checkpoints_it_writes(tmp_path, monkeypatch):
    """A resume's check and each checkpoint (and with workers, their comparison) hashed all the data again, a
    fraction of a second each for 60,000 digits: now once a run, kept on the Run."""
    import shutil

    from click.testing import CliRunner

    from digitnet import checkpoint, run
    from digitnet.cli import main

    hashed, out, kept, identity = [], tmp_path / "m.npz", tmp_path / "kept.ckpt.npz", checkpoint.dataset_identity
    for module in (run, checkpoint):  # wherever it is called from
        monkeypatch.setattr(module, "dataset_identity", lambda data: hashed.append(data) or identity(data))

    def save_and_keep(path, *args):  # the run deletes its checkpoint when it ends: keep the first, as if interrupted
        checkpoint.save_checkpoint(path, *args)
        if not kept.exists():
            shutil.copyfile(path, kept)
    monkeypatch.setattr(run, "save_checkpoint", save_and_keep)
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "cache"))
    args = ["train", "--offline", "--train-limit", "2000", "--seed", "1", "--iters", "40", "--checkpoint-every", "5",
            "--out", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert len(hashed) == 1  # 8 checkpoints
    out.unlink()
    shutil.copyfile(kept, tmp_path / "m.ckpt.npz")  # step 5: the resumed run writes 6 more
    resumed = CliRunner().invoke(main, [*args, "--resume"])
    assert resumed.exit_code == 0 and "resuming" in resumed.output, resumed.output
    assert len(hashed) == 2 and out.exists()  # the resume's check and its checkpoint shared one hash
