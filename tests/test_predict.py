"""predict_images, top_k and `digitnet predict`, and how well a small net reads the hand-drawn set."""
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from click.testing import CliRunner
from PIL import Image

import digitnet
from digitnet.cli import main
from digitnet.cli.predict import command as predict_command
from digitnet.predict import predict_images, top_k
from digitnet.preprocess import ImageError
from digitnet.pretrained import bundled_models

HANDWRITING = Path(__file__).resolve().parent / "fixtures" / "handwriting"
SET = sorted(p for p in HANDWRITING.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"))


TRAIN = """
import sys
import numpy as np
import digitnet
from digitnet.data import load_sample

sample = load_sample()
x = np.concatenate([sample.x_train, sample.x_test])
t = np.concatenate([sample.t_train, sample.t_test])
rng = np.random.default_rng(0)
net = digitnet.TwoLayerNet(784, 100, 10, rng=rng, dtype=np.float32)
digitnet.train(net, x, t, iters=2000, sampling="shuffle", train_eval_size=1000, rng=rng)
digitnet.save_model(sys.argv[1], net)
"""


@pytest.fixture(scope="session")
def all_digits_model_file(tmp_path_factory):
    """The book's two-layer net, 784-100-10, trained on all 10,000 bundled digits (20 epochs, seeded).

    Trained in a child process with one BLAS thread: a few seconds, where a multi-threaded OpenBLAS
    on a busy two-core machine takes ten times longer for matrices this small."""
    path = tmp_path_factory.mktemp("model") / "model.npz"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", TRAIN, str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="session")
def trained_net(all_digits_model_file):
    return digitnet.load_model(all_digits_model_file)[0]


def test_the_handwriting_set_is_what_it_claims():
    labels = Counter(int(p.name[0]) for p in SET)
    assert sorted(labels) == list(range(10)) and min(labels.values()) >= 3
    assert sum(p.stat().st_size for p in SET) < 1_000_000
    assert {p.suffix.lower() for p in SET} == {".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"}
    kinds = Counter(p.name.split("_")[1] for p in SET)
    assert kinds["thin"] >= 30 and kinds["scan"] >= 10 and kinds["alpha"] >= 10 and kinds["blue"] >= 1


def test_hand_drawn_digits_are_recognised(trained_net):
    results = predict_images(trained_net, SET)
    wrong = [(Path(r["file"]).name, r["digit"]) for r in results if r["digit"] != int(Path(r["file"]).name[0])]
    rate = 1 - len(wrong) / len(SET)
    print(f"\nhand-drawn set: {len(SET) - len(wrong)}/{len(SET)} = {100 * rate:.1f}% recognised; "
          f"missed: {', '.join(f'{name} as {d}' for name, d in wrong) or 'none'}")
    assert rate >= 0.90, f"only {100 * rate:.1f}% recognised; missed {wrong}"


def test_predict_images_takes_a_models_name_or_path_and_one_path_alone(trained_net, all_digits_model_file):
    """A name or a path as the net (it gave AttributeError), and one path as the images (it was read as a list of
    one-character paths)."""
    want = predict_images(trained_net, [SET[0]])
    assert predict_images(str(all_digits_model_file), str(SET[0])) == want
    assert predict_images(Path(all_digits_model_file), SET[0]) == want
    assert predict_images("two-layer", [SET[0]]) == predict_images(digitnet.pretrained("two-layer"), [SET[0]])


def test_predict_images_gives_one_record_per_image(trained_net):
    images = [SET[0], str(SET[1]), SET[2].read_bytes(), Image.open(SET[3])]
    results = predict_images(trained_net, images, keep_images=True)
    assert len(results) == 4
    for r in results:
        assert set(r) == {"file", "digit", "probabilities", "rejected", "image"}
        assert r["rejected"] is False  # a model file without a calibration rejects nothing
        assert len(r["probabilities"]) == 10 and all(isinstance(p, float) for p in r["probabilities"])
        assert sum(r["probabilities"]) == pytest.approx(1.0)
        assert r["digit"] == int(np.argmax(r["probabilities"]))
        assert r["image"].shape == (28, 28)
    assert results[0]["file"] == str(SET[0]) and results[2]["file"] == "<image 2>"
    assert results[3]["file"] == str(SET[3])


def test_a_bad_image_raises_or_is_reported(trained_net):
    images = [SET[0], b"not an image", SET[1]]
    with pytest.raises(ImageError):
        predict_images(trained_net, images)
    results = predict_images(trained_net, images, on_error="report")
    assert "digit" in results[0] and "digit" in results[2]
    assert set(results[1]) == {"file", "error"} and "not an image" in results[1]["error"]


def test_answers_come_a_batch_at_a_time_before_the_later_pictures_are_opened(trained_net):
    """predict_images read every picture before it classified one: 12,000 files held 401 MB and `predict` printed
    nothing until the end. iter_predictions answers each batch as it is read."""
    from digitnet.predict import iter_predictions

    opened = []

    def pictures():
        for i in range(10):
            opened.append(i)
            yield SET[i % len(SET)]

    answers = iter_predictions(trained_net, pictures(), batch_size=4)
    first = next(answers)
    assert opened == [0, 1, 2, 3] and first["file"] == str(SET[0])
    rest = list(answers)
    assert len(rest) == 9 and opened == list(range(10))
    assert [first, *rest] == predict_images(trained_net, [SET[i % len(SET)] for i in range(10)])


def test_cli_prints_a_folders_first_answers_before_it_opens_the_last_picture(tmp_path):
    """`digitnet predict FOLDER` printed nothing until every picture was read. Here the last picture is a pipe that
    is written only once the first batch's answers are out: before, the run waited on it and printed nothing."""
    import threading

    from faultkit import TIMEOUT_S, as_from_a_terminal

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(256):  # the command's batch
        (folder / f"d{i:03d}.png").write_bytes(SET[i % len(SET)].read_bytes())
    pipe = tmp_path / "last.png"
    os.mkfifo(pipe)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-m", "digitnet", "predict", "--model", "two-layer", "--json",
                              str(folder), str(pipe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=HANDWRITING.parents[2], preexec_fn=as_from_a_terminal)
    watchdog = threading.Timer(TIMEOUT_S, child.kill)  # only if the answers never come: the test fails then
    watchdog.start()
    writer = threading.Thread(target=pipe.write_bytes, args=(SET[0].read_bytes(),), daemon=True)
    try:
        lines = []
        for line in iter(child.stdout.readline, ""):
            lines.append(line)
            if "d254.png" in line:  # its line ends as the next object (d255's, the batch's last) begins
                break
        else:
            pytest.fail(f"the run ended before printing its first batch: {child.stderr.read()}")
        writer.start()  # the run opens the pipe only now
        out, err = child.stdout.read(), child.stderr.read()  # what readline has buffered, then the rest
        child.wait(timeout=TIMEOUT_S)
    finally:
        watchdog.cancel()
        child.kill()
        if writer.is_alive():  # the run never opened the pipe: open it here, so the writer ends
            os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
    records = json.loads("".join(lines) + out)
    assert child.returncode == 0, err
    assert len(records) == 257 and records[-1]["file"] == str(pipe) and records[-1]["digit"] == records[0]["digit"]


def test_a_model_with_other_inputs_is_refused():
    net = digitnet.TwoLayerNet(100, 10, 10, dtype=np.float32)
    with pytest.raises(digitnet.DigitnetError, match="100 inputs"):
        predict_images(net, [SET[0]])


def test_top_k():
    p = [0.05, 0.6, 0.0, 0.25, 0.1, 0, 0, 0, 0, 0]
    assert top_k(p, 3) == [(1, 0.6), (3, 0.25), (4, 0.1)]
    assert top_k(np.array(p), 1) == [(1, 0.6)]


def run(*args):
    return CliRunner().invoke(predict_command, [str(a) for a in args])


def test_cli_prints_digit_and_top_3(all_digits_model_file):
    r = run(all_digits_model_file, SET[0], SET[-1])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{SET[0]}: ") and lines[0].count("%") == 3


def test_cli_json_is_one_array(all_digits_model_file):
    r = run(all_digits_model_file, SET[0], SET[5], "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert [d["file"] for d in data] == [str(SET[0]), str(SET[5])]
    assert all(len(d["probabilities"]) == 10 and 0 <= d["digit"] <= 9 for d in data)


def test_cli_goes_on_after_a_bad_file_and_exits_1(all_digits_model_file, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG but not really")
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    r = run(all_digits_model_file, SET[0], bad, blank, SET[1])
    assert r.exit_code == 1
    assert len(r.stdout.strip().splitlines()) == 2  # both good files still read
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 2 and "bad.png" in errors[0] and "blank.png" in errors[1] and "no digit" in errors[1]
    r = run(all_digits_model_file, SET[0], bad, "--json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert "digit" in data[0] and data[1]["file"] == str(bad) and "error" in data[1]


def test_cli_show_preprocessed_writes_the_28x28_pngs(all_digits_model_file, tmp_path):
    out = tmp_path / "seen"
    r = run(all_digits_model_file, SET[0], SET[1], "--show-preprocessed", out, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    written = sorted(out.iterdir())
    assert len(written) == 2 and sorted(Path(d["preprocessed"]) for d in data) == written
    with Image.open(written[0]) as im:
        assert im.size == (28, 28) and im.mode == "L" and im.getextrema() == (0, 255)


def test_cli_bad_model_is_one_line(tmp_path):
    r = run(tmp_path / "absent.npz", SET[0])
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "no such model file" in r.stderr


# ------------------------------------------------------------- the bundled models, folders, --explain

def test_cli_without_a_model_uses_the_bundled_committee_and_says_which():
    r = run(SET[0], SET[-1], "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # one line on stderr
    from digitnet.committee import Committee
    from digitnet.pretrained import best_model_name, committee_names

    names = committee_names("predict")
    assert names[0] == best_model_name() and len(names) == 3
    assert r.stderr.startswith(f"using the bundled models {', '.join(names[:-1])} and {names[-1]} together")
    got = json.loads(r.stdout)
    want = predict_images(Committee([digitnet.pretrained(n) for n in names]), [SET[0], SET[-1]])
    assert [g["probabilities"] for g in got] == [w["probabilities"] for w in want]
    alone = predict_images(digitnet.pretrained(names[0]), [SET[0], SET[-1]])
    assert [g["probabilities"] for g in got] != [a["probabilities"] for a in alone]  # not the best alone


def test_cli_model_option_takes_a_bundled_name_or_a_path(all_digits_model_file):
    r = run("--model", "two-layer", SET[0])
    assert r.exit_code == 0 and "bundled model two-layer" in r.stderr
    by_path = run("--model", all_digits_model_file, SET[0], "--json")
    old_form = run(all_digits_model_file, SET[0], "--json")
    assert by_path.exit_code == old_form.exit_code == 0 and by_path.stderr == ""
    assert json.loads(by_path.stdout) == json.loads(old_form.stdout)
    r = run("--model", "two-layer", all_digits_model_file, SET[0])
    assert r.exit_code == 2 and "two models" in r.stderr
    r = run("--model", "no-such-model", SET[0])
    assert r.exit_code == 1 and f"not a bundled model ({', '.join(bundled_models())})" in r.stderr


def test_cli_reads_every_image_in_a_folder(all_digits_model_file, tmp_path):
    r = run(all_digits_model_file, HANDWRITING, "--json")
    assert r.exit_code == 0, r.output
    assert [d["file"] for d in json.loads(r.stdout)] == [str(p) for p in SET]  # sorted by name, images only
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    r = run(all_digits_model_file, empty)
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "no image files in this folder" in r.stderr
    # an empty folder among other inputs is reported like a missing file, and the others are still read (it used to
    # end the run before any was read)
    r = run(all_digits_model_file, SET[0], empty, SET[1], "--json")
    records = json.loads(r.stdout)
    assert r.exit_code == 1 and [d["file"] for d in records] == [str(SET[0]), str(empty), str(SET[1])]
    assert "digit" in records[0] and "digit" in records[2] and "no image files in this folder" in records[1]["error"]
    args = ["read", str(SET[0]), str(empty), "--model", str(all_digits_model_file), "--json"]
    result = CliRunner().invoke(main, args)
    records = json.loads(result.stdout)
    assert result.exit_code == 1 and "text" in records[0] and "no image files in this folder" in records[1]["error"]


def test_cli_explain_writes_the_why_picture_per_file(all_digits_model_file, tmp_path):
    from digitnet.explain import BLUE, RED

    out = tmp_path / "why"
    r = run(all_digits_model_file, SET[0], SET[7], "--explain", out, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    written = sorted(out.iterdir())
    assert [p.name for p in written] == sorted(f"{Path(p).stem}.explain.png" for p in (SET[0], SET[7]))
    assert sorted(Path(d["explanation"]) for d in data) == written
    with Image.open(written[0]) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    assert im.size[0] > 2 * 28 * 8  # the input and the gradient side by side, zoomed
    # the largest |gradient| is drawn in pure red or pure blue; both directions appear
    assert np.any(np.all(pixels == RED, axis=1)) or np.any(np.all(pixels == BLUE, axis=1))
    red = pixels[:, 0].astype(int) - pixels[:, 2]
    assert np.any(red > 60) and np.any(red < -60)


def test_cli_explain_explains_the_digit_it_prints_with_the_probabilities_it_prints(tmp_path, monkeypatch):
    """--explain showed the committee's first net's own digit and plain softmax: the letter K was printed as one
    digit and explained as another (a review). /api/explain answered the printed digit all along."""
    from digitnet import explain

    shown = []
    monkeypatch.setattr(explain, "explanation_png", lambda result, pixels, path: shown.append(result) or path)
    letter = Path(__file__).parent / "fixtures" / "nondigits" / "letter-cap-K.png"
    r = CliRunner().invoke(main, ["predict", "--json", "--explain", str(tmp_path / "why"), str(letter)])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)[0]
    first = explain.explain(digitnet.pretrained(), digitnet.preprocess.to_mnist(str(letter)))
    assert first["digit"] != printed["digit"]  # the case: the first net alone reads another digit
    assert shown[0]["target"] == shown[0]["digit"] == printed["digit"]
    np.testing.assert_allclose(shown[0]["probabilities"], printed["probabilities"])


@pytest.mark.parametrize("command,option", [("predict", "--explain"), ("read", "--show")])
def test_ctrl_c_while_the_pictures_are_written_is_one_line_and_exit_130(tmp_path, monkeypatch, command, option):
    """Ctrl-C while reading said `interrupted` and exited 130; while predict wrote its pictures, click's
    `Aborted!` and exit 1."""
    one = Image.new("L", (120, 120), 255)
    one.paste(0, (54, 15, 66, 105))
    one.save(tmp_path / "one.png")

    def interrupted(picture, fp, filename):  # Pillow's PNG writer, stopped by Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setitem(Image.SAVE, "PNG", interrupted)
    result = CliRunner().invoke(main, [command, str(tmp_path / "one.png"), "--model", "two-layer", option,
                                       str(tmp_path / "out")])
    assert result.exit_code == 130 and result.stderr.strip().endswith("interrupted"), result.output
    assert "Aborted" not in result.output and list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "read"])
def test_a_model_whose_outputs_overflow_says_so_in_one_line(tmp_path, command):
    """A model whose weights overflow (finite, so it loads) read every picture as 0 at "nan%", with a RuntimeWarning,
    and --json wrote NaN, which is not JSON. It is one line now, exit 1."""
    from digitnet.model_io import save_model

    net = digitnet.pretrained("two-layer")
    for name in ("W1", "W2"):
        net.params[name][...] *= np.float32(1e30)
    with pytest.warns(UserWarning, match="saved without the net's calibration"):  # not the weights it fits
        model = save_model(tmp_path / "big.npz", net)
    picture = str(Path(__file__).parent / "fixtures" / "handwriting" / "3_thin_offcentre_1.png")
    r = CliRunner().invoke(main, [command, "--model", str(model), "--json", picture])
    assert r.exit_code == 1 and "NaN," not in r.output and "Warning" not in r.output, r.output
    assert "Error: the model's outputs are not finite" in r.output


def test_cli_reports_a_broken_link_in_a_folder_and_says_which_subfolders_it_did_not_search(all_digits_model_file,
                                                                                           tmp_path):
    """A broken link among a folder's pictures was passed over with exit code 0, and the pictures in a subfolder
    without a word (a review)."""
    folder = tmp_path / "scans"
    (folder / "older").mkdir(parents=True)
    Image.open(SET[0]).save(folder / "a.png")
    Image.open(SET[1]).save(folder / "older" / "b.png")
    (folder / "broken.png").symlink_to(tmp_path / "gone.png")
    r = run(all_digits_model_file, folder, "--json")
    records = json.loads(r.stdout)
    assert r.exit_code == 1 and [Path(d["file"]).name for d in records] == ["a.png", "broken.png"]
    assert "digit" in records[0] and "broken.png: a broken link (to " in records[1]["error"]
    assert f"note: {folder}: 1 subfolder not searched (only the images in the folder itself are read)" in r.stderr


def _without_root_reading_everything():
    """The command prefix under which permissions hold: root reads every file (CAP_DAC_OVERRIDE), so a root
    process runs the child without that capability (util-linux's setpriv)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and setpriv (util-linux) is not here to drop root's right to read everything")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_cli_reads_the_others_when_one_named_file_or_folder_cannot_be_read(tmp_path):
    """click refused the whole command line (exit 2, nothing read) for one unreadable file named on it, and a
    folder that cannot be listed was "a folder, not an image file"."""
    Image.open(SET[0]).save(tmp_path / "ok.png")
    Image.open(SET[1]).save(tmp_path / "secret.png")
    (tmp_path / "locked").mkdir()
    for path in (tmp_path / "secret.png", tmp_path / "locked"):
        path.chmod(0)
    try:
        args = [*_without_root_reading_everything(), sys.executable, "-m", "digitnet", "predict", "--model",
                "two-layer", "--json", *(str(tmp_path / name) for name in ("ok.png", "secret.png", "locked"))]
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=HANDWRITING.parents[2])
        records = json.loads(r.stdout)
        assert r.returncode == 1 and [Path(d["file"]).name for d in records] == ["ok.png", "secret.png", "locked"]
        assert "digit" in records[0] and "permission denied" in records[1]["error"].lower()
        assert records[2]["error"] == f"{tmp_path / 'locked'}: a folder that cannot be read (permission denied)"
    finally:
        for path in (tmp_path / "secret.png", tmp_path / "locked"):
            path.chmod(0o755)


def test_cli_reads_a_picture_from_a_pipe():
    """/dev/stdin, <(...) and a FIFO are no regular files: each was called "no such file"."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "digitnet", "predict", "--model", "two-layer", "--json", "/dev/stdin"]
    r = subprocess.run(args, input=SET[0].read_bytes(), capture_output=True, timeout=120, env=env,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr
    by_file = run("--model", "two-layer", "--json", SET[0])
    assert json.loads(r.stdout)[0]["digit"] == json.loads(by_file.stdout)[0]["digit"]


def test_read_show_draws_a_piped_picture_and_goes_on_to_the_next(tmp_path):
    """`digitnet read a.png /dev/stdin b.png --show DIR` opened /dev/stdin again to draw on it, found it empty,
    and stopped the run there: b.png was never read, and with --json nothing was printed (a review)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "digitnet", "read", "--model", "two-layer", "--json", str(SET[1]), "/dev/stdin",
            str(SET[2]), "--show", str(tmp_path / "shown")]
    r = subprocess.run(args, input=SET[0].read_bytes(), capture_output=True, timeout=120, env=env,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert [d["file"] for d in records] == [str(SET[1]), "/dev/stdin", str(SET[2])]
    assert all("text" in d and Path(d["shown"]).is_file() for d in records), records
    import digitnet

    assert records[1]["text"] == digitnet.read(SET[0], "two-layer").text  # the piped picture itself was read


def test_read_show_of_an_empty_pipe_says_it_is_empty(tmp_path):
    """Read into memory for --show, an empty pipe was "not an image file digitnet reads (PNG, JPEG, ...)", where
    without --show it is "empty (0 bytes)" (a review)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "digitnet", "read", "--model", "two-layer", "/dev/stdin", "--show", str(tmp_path)]
    r = subprocess.run(args, input=b"", capture_output=True, timeout=120, env=env,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 1 and "Error: /dev/stdin: empty (0 bytes), not an image" in r.stderr.decode(), r.stderr


def test_cli_ends_quietly_when_the_reader_of_its_output_leaves():
    """`digitnet read FOLDER | head -1` printed "Error: Broken pipe" and exited 1."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "digitnet", "read", "--model", "two-layer", str(HANDWRITING)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             cwd=Path(__file__).resolve().parents[1])
    first = child.stdout.readline()
    child.stdout.close()  # as head does after its line: the next line the reader writes finds no one
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 141 and first.startswith(str(HANDWRITING).encode())
    assert "Error" not in stderr and "Broken pipe" not in stderr and "Traceback" not in stderr, stderr
