"""digitnet.read and `digitnet read`: the Reading (text, digits with boxes in the picture's pixels,
specks), rejection through the model's Confidence, the command's text, JSON and --show pictures, and bad
input as one line. Numbers come from official MNIST test digits (skipped without them) or are drawn here."""
import json

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("scipy")
from click.testing import CliRunner
from PIL import Image

import digitnet
from digitnet.calibration import Confidence, confidence_of
from digitnet.cli import main
from digitnet.data.numbers import compose, lines
from digitnet.data.photos import enlarged, on_a_desk, photographed, shadow
from digitnet.image_io import ImageError
from digitnet.reader import reading_nets


@pytest.fixture(scope="module")
def net():
    return digitnet.pretrained("deep-cnn")


@pytest.fixture(scope="module")
def mnist_test(mnist_10k_dir):
    from digitnet.data.mnist import load_dataset

    ds = load_dataset(mnist_10k_dir, flatten=False)
    return ds.x_test.reshape(-1, 28, 28), ds.t_test


def number_picture(x, t, idx, kind="separated", seed=0):
    """(dark-on-light uint8 picture, truth) of the digits x[idx]."""
    return 255 - compose(x[idx], kind, np.random.default_rng(seed)), "".join(str(int(t[i])) for i in idx)


def test_read_gives_text_digits_and_boxes_in_the_pictures_pixels(mnist_test, tmp_path):
    x, t = mnist_test
    picture, truth = number_picture(x, t, [3, 2, 1, 30])  # the official test set's 0, 1, 2 and 3
    net = reading_nets()  # the default committee, as `digitnet read` reads
    small = digitnet.read(picture, net)
    assert small.text == truth == "0123" and small.specks == 0
    big = Image.fromarray(picture).resize((picture.shape[1] * 15, picture.shape[0] * 15), Image.BICUBIC)
    assert max(big.size) > 1200  # read() works on it reduced; the boxes must still be the big picture's pixels
    path = tmp_path / "big.png"
    big.save(path)
    reading = digitnet.read(path, net)
    assert reading.text == truth
    for d, s in zip(reading.digits, small.digits):
        assert d["value"] == s["value"] and d["line"] == 0 and not d["rejected"] and 0.5 < d["confidence"] <= 1
        np.testing.assert_allclose(d["box"], 15 * np.array(s["box"]), atol=20)
        x0, y0, x1, y1 = d["box"]
        assert np.asarray(big.convert("L"))[y0:y1, x0:x1].min() < 64  # the ink is inside the box
    lefts = [d["box"][0] for d in reading.digits]
    assert lefts == sorted(lefts)
    assert json.loads(json.dumps(reading.to_json())) == reading.to_json()


@pytest.mark.xfail(strict=True, reason="the hook of this 3 (test digit 18) goes with the 2 before it: the deep-cnn "
                   "reads the 3 with its hook as a 5 (docs/reading.md)")
def test_the_hook_of_a_3_is_the_3s(mnist_test):
    x, t = mnist_test
    picture, truth = number_picture(x, t, [3, 2, 1, 18])
    reading = digitnet.read(picture, reading_nets())
    assert reading.text == truth == "0123"
    two, three = reading.digits[2]["box"], reading.digits[3]["box"]
    assert two[2] <= three[0]  # the boxes of neighbours that do not touch do not overlap


def test_a_number_photographed_with_a_shadow_across_it_is_read(held_out_digits):
    """A shadow's edge across a photo (a third of it shadowed) was read as ink: 0620 came out 04119."""
    x, t = held_out_digits
    net = reading_nets()
    numbers = [range(0, 4), range(4, 9), range(9, 12), range(12, 16), range(16, 20)]
    for k, (idx, angle) in enumerate(zip(numbers, [0.3, 2.2, 4.0, 1.0, 5.5])):
        picture, truth = number_picture(x, t, list(idx), seed=k)
        big = enlarged(picture)
        assert digitnet.read(photographed(big, np.ones(big.shape)), net).text == truth  # evenly lit
        assert digitnet.read(photographed(big, shadow(big.shape, angle, 0.15 * min(big.shape))), net).text == truth


def test_a_blank_sheet_with_a_shadow_across_it_has_no_digit():
    """Where a shadow's edge meets the picture's at a sharp angle, the closing that finds the paper's tone filled
    the shadow's tip in with the light paper beside it: 15 of 20 blank sheets 500 px wide read as digits (a '1' in
    a corner; a one-off count). The tip is shade now, not ink."""
    from digitnet.data.photos import lit

    net, read = reading_nets(), 0
    for seed in range(10):
        photo = lit(np.full((300, 500), 255, dtype=np.uint8), "shadowed", np.random.default_rng(seed))
        try:
            read += bool(digitnet.read(photo, net).text.replace("?", "").strip())
        except digitnet.DigitnetError as e:
            assert "no digit found" in str(e)
    assert read == 0


def test_a_number_on_a_sheet_photographed_on_a_dark_desk_is_read(held_out_digits):
    """The desk round the sheet was taken for the paper, and the sheet for light ink on it: 705 read 775."""
    x, t = held_out_digits
    net = reading_nets()
    for k, idx in enumerate([range(20, 23), range(23, 27), range(27, 32)]):
        picture, truth = number_picture(x, t, list(idx), seed=k)
        big = enlarged(picture)
        photo = on_a_desk(big, margin=30 + 10 * k, desk=40 + 20 * k)
        assert digitnet.read(photographed(photo, np.ones(photo.shape)), net).text == truth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_digit_on_noisy_grey_paper_is_read_as_one(seed):
    """A 0 and a 5 drawn with a marker (16 px) on grey paper with heavy noise, saved as a poor JPEG: a noise spike
    set the ink's strength, only the strongest ink counted as strokes, the strokes measured too wide, and `read`
    cut the digit in two: 0 read 10, 5 read 55 (7-9 of 30 such pictures read wrong, a review; `predict` right)."""
    import io
    import math

    from PIL import ImageDraw

    def ring(cx, cy, rx, ry, a0, a1):
        return [(300 * (cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / 24))),
                 300 * (cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / 24)))) for i in range(25)]
    five = [(216, 36), (96, 36), (90, 135)] + ring(0.5, 0.65, 0.23, 0.22, 230, 520)
    rng = np.random.default_rng(seed)
    for digit, stroke in (("0", ring(0.5, 0.5, 0.25, 0.38, 0, 360)), ("5", five)):
        pen = Image.new("L", (300, 300), 0)
        ImageDraw.Draw(pen).line(stroke, fill=255, width=16, joint="curve")
        m = np.asarray(pen) / 255.0
        grey = 200 * (1 - m) + 120 * m + rng.normal(0, 25, m.shape)
        jpeg = io.BytesIO()
        Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(jpeg, "JPEG", quality=10)
        assert digitnet.read(jpeg.getvalue()).text == digit


def test_read_defaults_to_the_bundled_model(mnist_test):
    x, t = mnist_test
    picture, truth = number_picture(x, t, [10, 11, 12])
    assert digitnet.read(picture).text == truth


def test_several_lines_are_joined_by_newlines(mnist_test, net):
    x, t = mnist_test
    rng = np.random.default_rng(4)
    top, bottom = compose(x[[0, 1]], "separated", rng), compose(x[[2, 3, 4]], "separated", rng)
    reading = digitnet.read(255 - lines([top, bottom], rng), net)
    assert reading.text == "".join(str(int(v)) for v in t[[0, 1]]) + "\n" + "".join(str(int(v)) for v in t[[2, 3, 4]])
    assert [d["line"] for d in reading.digits] == [0, 0, 1, 1, 1]


class Rejecting:
    """The bundled net with a Confidence that rejects what it is less sure of than `threshold`."""

    def __init__(self, net, threshold):
        # the net's one temperature, so that the confidences read are its msp scores, and a threshold of ours
        # (None: rejects nothing)
        self.net = net
        self.confidence = Confidence(temperature=confidence_of(net).temperature, threshold=threshold)
        self.params, self.input_dim = net.params, net.input_dim

    def predict(self, x, train_flg=False):
        return self.net.predict(x, train_flg)


def test_rejected_digits_are_question_marks_unless_rejection_is_off(mnist_test, net):
    x, t = mnist_test
    picture, truth = number_picture(x, t, [0, 1, 2, 3])
    confident = digitnet.read(picture, Rejecting(net, None))
    threshold = sorted(d["confidence"] for d in confident.digits)[1]  # the least sure digit falls under it
    wary = Rejecting(net, threshold)
    reading = digitnet.read(picture, wary)
    marked = "".join("?" if d["confidence"] < threshold else v for d, v in zip(confident.digits, truth))
    assert reading.text == marked and reading.text.count("?") == 1
    assert [d["rejected"] for d in reading.digits] == [c == "?" for c in marked]
    assert [d["value"] for d in reading.digits] == [int(v) for v in truth]  # still says what it would have read
    assert digitnet.read(picture, wary, reject=False).text == truth


def test_a_committee_averages_its_nets_and_the_first_one_rejects(mnist_test, net):
    x, t = mnist_test
    picture, truth = number_picture(x, t, [0, 1, 2, 3])
    alone = digitnet.read(picture, net)
    twice = digitnet.read(picture, [net, net])  # the mean of one net's probabilities with themselves: itself
    assert twice.text == alone.text == truth
    for a, b in zip(alone.digits, twice.digits):
        assert a["box"] == b["box"] and a["confidence"] == pytest.approx(b["confidence"])
    from digitnet.pretrained import bundled_models

    fast = digitnet.pretrained("fast-cnn") if "fast-cnn" in bundled_models() else digitnet.pretrained("two-layer")
    pair = digitnet.read(picture, (net, fast))
    means = [np.mean([confidence_of(n).probabilities(n.predict(d_field[None]))[0].max() for n in (net, fast)])
             for d_field in _fields(picture, pair)]
    assert [d["confidence"] for d in pair.digits] == pytest.approx(means, rel=1e-4)
    wary = Rejecting(net, 1.01)  # rejects everything: first, its threshold rules; second, it is only a voice
    assert digitnet.read(picture, (wary, net)).text == "????"
    assert digitnet.read(picture, (net, wary)).text == truth


def _fields(picture, reading):
    """The 28x28 field segment made of each digit read, found again from its box (the ink inside it)."""
    from digitnet.ink import ink_map
    from digitnet.preprocess import to_field

    ink = ink_map(np.asarray(picture, dtype=np.float32) / 255, "picture")
    out = []
    for d in reading.digits:
        x0, y0, x1, y1 = d["box"]
        out.append(to_field(ink[y0:y1, x0:x1].astype(np.float32)).reshape(1, 28, 28).astype(np.float32))
    return out


def test_read_with_no_net_uses_the_manifests_reading_committee():
    from digitnet.pretrained import committee_names
    from digitnet.reader import reading_nets

    committee, names = reading_nets(), committee_names("read")
    assert len(committee) == len(names) >= 2 and reading_nets() is committee  # loaded once
    for net, name in zip(committee.nets, names):
        first = next(iter(net.params))
        assert np.array_equal(net.params[first], digitnet.pretrained(name).params[first])


def test_a_number_small_on_a_big_page_is_read_not_taken_for_specks(net, tmp_path):
    """A page of handwriting photographed whole has digits 1.5-3 % of its width: four digits 42 px high on a
    2400x1600 page were "no digit found: only 4 specks of ink" (to_mnist's 3 %, meant for one digit that fills
    its picture, of the page reduced to 1200x800)."""
    from digitnet.data import load_sample

    sample = load_sample(flatten=False)
    picture, truth = number_picture(sample.x_test.reshape(-1, 28, 28), sample.t_test, [0, 1, 2, 3])
    page = Image.new("L", (2400, 1600), 255)
    page.paste(Image.fromarray(picture), (1000, 700))
    page.save(tmp_path / "page.png")
    reading = digitnet.read(tmp_path / "page.png", net)
    assert reading.text == truth
    for d in reading.digits:
        x0, y0, x1, y1 = d["box"]
        assert 1000 <= x0 < x1 <= 1000 + picture.shape[1] and 700 <= y0 < y1 <= 700 + picture.shape[0]


def test_a_picture_without_digits_is_one_clear_error(net):
    with pytest.raises(ImageError, match="no digit found") as e:
        digitnet.read(np.full((100, 200), 255, dtype=np.uint8), net)
    assert e.value.reason == "no-digit"
    specks = np.full((200, 300), 255, dtype=np.uint8)
    specks[100:103, 50:53] = specks[40:42, 200:203] = 0
    with pytest.raises(ImageError, match="no digit found"):
        digitnet.read(specks, net)


def test_net_may_be_a_bundled_models_name_or_a_model_files_path(net, tmp_path):
    """`net=` takes what `--model` takes (it gave AttributeError: 'str' object has no attribute 'params')."""
    from digitnet.data import load_sample
    from digitnet.model_io import ModelFileError
    from digitnet.pretrained import bundled_path

    data = load_sample(flatten=False)
    picture = 255 - np.round(255 * np.hstack([data.x_test[i, 0] for i in (0, 1, 2)])).astype(np.uint8)
    wanted = digitnet.read(picture, net).to_json()
    assert digitnet.read(picture, "deep-cnn").to_json() == wanted
    assert digitnet.read(picture, bundled_path("deep-cnn")).to_json() == wanted
    assert digitnet.read(picture, ["deep-cnn", net]).to_json() == digitnet.read(picture, [net, net]).to_json()
    with pytest.raises(ModelFileError, match="nosuch: no such model file, and not a bundled model"):
        digitnet.read(picture, "nosuch")
    with pytest.raises(TypeError, match="a net must be a network .* not int"):
        digitnet.read(picture, [net, 42])


def test_a_picture_shown_is_enlarged_but_never_wider_than_the_limit():
    """A picture 1 px high was enlarged 300 times, into a 360000-pixel-wide PNG (1.1 GB to draw)."""
    from digitnet.reader import SHOW_HEIGHT, SHOW_MAX_WIDTH, Reading, draw_reading

    strip = np.full((1, 1200), 255, dtype=np.uint8)
    assert draw_reading(strip, Reading("", [], 0)).width == SHOW_MAX_WIDTH
    small = np.full((30, 40), 255, dtype=np.uint8)
    shown = draw_reading(small, Reading("", [], 0))
    assert shown.width == 40 * SHOW_HEIGHT // 30 and shown.height > SHOW_HEIGHT  # enlarged, with its strip


def test_read_is_exported_and_documented():
    assert "read" in digitnet.__all__ and digitnet.read.__doc__.count("Args:") == 1
    assert "Examples:" in digitnet.read.__doc__


# ------------------------------------------------------------------ the command

@pytest.fixture(scope="module")
def pictures(tmp_path_factory, mnist_test):
    x, t = mnist_test
    folder = tmp_path_factory.mktemp("numbers")
    truths = {}
    for k, (idx, kind) in enumerate([([5, 6, 7, 8], "separated"), ([20, 21, 22], "broken")]):
        picture, truth = number_picture(x, t, idx, kind, seed=k)
        Image.fromarray(picture).save(folder / f"n{k}.png")
        truths[f"n{k}.png"] = truth
    Image.new("L", (200, 100), 255).save(folder / "blank.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder, truths


def test_the_command_reads_a_folder_and_reports_bad_files_in_one_line(pictures):
    folder, truths = pictures
    result = CliRunner().invoke(main, ["read", str(folder), "--model", "deep-cnn"])
    assert result.exit_code == 1  # two bad files; the others are still read
    out = result.stdout.splitlines()
    for name, truth in truths.items():
        line = next(line for line in out if line.startswith(str(folder / name)))
        assert line.split(": ", 1)[1].startswith(f"{truth}  (") and line.count("%") == len(truth)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and "Traceback" not in result.output
    assert any("blank.png" in e and "no digit" in e for e in errors)
    assert any("broken.png" in e for e in errors)


def test_the_command_writes_json_and_pictures(pictures, tmp_path):
    folder, truths = pictures
    shown = tmp_path / "shown"
    args = ["read", str(folder / "n0.png"), str(folder / "n1.png"), "--json", "--show", str(shown)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    # what digitnet.read gives with no net named (the default committee), and the truth but for at most one digit
    # (n0's last digit, the official test set's 9th, is a 5 that looks like a 6: some bundled nets read a 6)
    assert [r["text"] for r in records] == [digitnet.read(folder / n).text for n in ("n0.png", "n1.png")]
    for r, truth in zip(records, (truths["n0.png"], truths["n1.png"])):
        assert len(r["text"]) == len(truth) and sum(a != b for a, b in zip(r["text"], truth)) <= 1
    for r in records:
        assert set(r["digits"][0]) == {"value", "confidence", "box", "rejected", "line"}
        drawn = Image.open(r["shown"]).convert("RGB")
        green = np.all(np.asarray(drawn) == (44, 160, 44), axis=-1)
        assert green.sum() > 100  # the boxes are drawn


def test_the_command_refuses_a_huge_picture_in_one_line(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (6400, 6400), 255).save(path)  # 41 megapixels, over the limit
    result = CliRunner().invoke(main, ["read", str(path)])
    assert result.exit_code == 1 and "too large" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["read", "predict"])
def test_paths_that_cannot_be_looked_at_are_reported_and_the_others_read(tmp_path, monkeypatch, command):
    """A name too long for the file system, and a folder whose files cannot be looked at (listed, not entered):
    before, either ended `read` and `predict` with an OSError's traceback, and no picture was read."""
    from pathlib import Path

    one = Image.new("L", (120, 120), 255)
    one.paste(0, (54, 15, 66, 105))  # a 1
    one.save(tmp_path / "one.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    one.save(locked / "in.png")
    is_file = Path.is_file

    def denied(path):  # as os.stat answers for a file in a folder without the x bit (root is never denied)
        if path.parent == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", denied)
    long = tmp_path / ("a" * 300 + ".png")
    result = CliRunner().invoke(main, [command, str(tmp_path / "one.png"), str(long), str(locked), "--model",
                                       "two-layer"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    read = [line for line in result.stdout.splitlines() if line.split(": ", 1)[1].startswith("1")]
    assert [line.split(": ")[0] for line in read] == [str(tmp_path / "one.png"), str(locked / "in.png")]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "a" * 300 in errors[0], result.stderr


@pytest.mark.parametrize("args,suffix", [(["read", "--show"], ".read.png"),
                                         (["predict", "--show-preprocessed"], ".28x28.png"),
                                         (["predict", "--explain"], ".explain.png")])
def test_a_picture_whose_write_fails_leaves_no_broken_file(tmp_path, monkeypatch, args, suffix):
    """The disk fills while a picture is written: before, a 0-byte or cut-short PNG was left in DIR, over any
    picture of an earlier run; now the picture is written beside it and renamed into place (model_io.atomic_write)."""
    one = Image.new("L", (120, 120), 255)
    one.paste(0, (54, 15, 66, 105))
    one.save(tmp_path / "one.png")
    shown = tmp_path / "shown"
    first = CliRunner().invoke(main, [args[0], str(tmp_path / "one.png"), "--model", "two-layer", args[1], str(shown)])
    assert first.exit_code == 0, first.output
    (earlier,) = [p for p in shown.iterdir() if p.name.endswith(suffix)]
    kept = earlier.read_bytes()

    def disk_full(picture, fp, filename):  # Pillow's PNG writer: some bytes written, then no room
        fp.write(b"\x89PNG\r\n\x1a\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(Image.SAVE, "PNG", disk_full)
    result = CliRunner().invoke(main, [args[0], str(tmp_path / "one.png"), "--model", "two-layer", args[1], str(shown)])
    assert result.exit_code == 1 and "No space left on device" in result.stderr, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in shown.iterdir()) == [earlier.name]  # no temporary file left
    assert earlier.read_bytes() == kept  # the earlier run's picture, whole


def test_the_reading_pages_pictures_are_what_the_reader_draws_today(tmp_path, monkeypatch):
    """scripts/make_reading_gallery.py runs (it broke unseen once) and draws docs/gallery/reading-*.png as they
    are: the pictures of docs/reading.md show today's readings."""
    import importlib.util
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_reading_gallery", repo / "scripts" / "make_reading_gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    monkeypatch.setattr(gallery, "OUT", tmp_path)
    gallery.main()
    drawn = sorted(p.name for p in tmp_path.glob("reading-*.png"))
    assert drawn == ["reading-boxes.png", "reading-broken.png", "reading-lines.png", "reading-photos.png",
                     "reading-ruled.png", "reading-seams.png", "reading-separated.png", "reading-touching.png"]
    for name in drawn:
        now, committed = (np.asarray(Image.open(folder / name).convert("RGB"))
                          for folder in (tmp_path, repo / "docs" / "gallery"))
        assert now.shape == committed.shape and (now == committed).all(), name
