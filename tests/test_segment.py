"""segment.segment on drawings made here with Pillow (no shared data): lines, strokes put together, dots
left out, touching digits cut; and on numbers composed from the official MNIST test digits (skips without
them): accuracy floors per kind."""
import difflib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("scipy")
from PIL import Image, ImageDraw

import digitnet
from digitnet.data.numbers import break_strokes, compose, lines, tight
from digitnet.ink import ink_map
from digitnet.segment import candidates, seams, segment

DEEP = None


def deep():
    global DEEP
    if DEEP is None:
        DEEP = digitnet.pretrained("deep-cnn")
    return DEEP


def classify(fields):
    """The deep-cnn's probabilities at its one temperature, as reader.read_ink gives them to segment
    (Committee.assess's evidence)."""
    from digitnet.committee import as_committee

    return as_committee(deep()).assess(fields).evidence


def picture(strokes, size=(400, 160), width=9):
    """Dark strokes (lists of (x, y) pixels) on white paper, as a pen draws them."""
    img = Image.new("L", size, 255)
    pen = ImageDraw.Draw(img)
    for stroke in strokes:
        pen.line(stroke, fill=0, width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return np.asarray(img)


def ellipse(cx, cy, rx, ry, n=40):
    t = np.linspace(0, 2 * np.pi, n)
    return list(zip(cx + rx * np.sin(t), cy - ry * np.cos(t)))


def found(img):
    lines_, specks = segment(ink_map(np.asarray(img, dtype=np.float32) / 255, "test"), classify)
    return ["".join(str(int(np.argmax(d.probabilities))) for d in line) for line in lines_], lines_, specks


def ONE(x, y=30, h=100):
    return [[(x + 10, y), (x, y + h)]]


def SEVEN(x, y=30, h=100):
    return [[(x, y), (x + 50, y), (x + 15, y + h)]]


def ZERO(x, y=30, h=100):
    return [ellipse(x + 28, y + h / 2, 25, h / 2)]


def FOUR_IN_TWO_STROKES(x, y=30, h=100):
    # the open "L" of the 4, and its upright drawn apart: the bar stops short of the upright
    return [[(x + 30, y), (x, y + 62), (x + 30, y + 62)], [(x + 46, y + 12), (x + 46, y + h)]]


def FIVE_WITH_A_LOOSE_BAR(x, y=30, h=100):
    body = [(x + 4, y + 6), (x + 2, y + 45), (x + 30, y + 38), (x + 50, y + 55), (x + 48, y + 82),
            (x + 25, y + h), (x, y + 90)]
    return [body, [(x + 20, y), (x + 54, y)]]  # the bar starts right of the body's top: a gap between them


def test_a_number_with_clear_gaps_is_read_left_to_right():
    texts, lines_, specks = found(picture(SEVEN(30) + ONE(130) + ZERO(200) + SEVEN(300)))
    assert texts == ["7107"] and specks == 0
    xs = [d.box[0] for d in lines_[0]]
    assert xs == sorted(xs) and all(d.line == 0 for d in lines_[0])


def test_strokes_of_one_digit_are_one_digit():
    strokes = FOUR_IN_TWO_STROKES(30) + FIVE_WITH_A_LOOSE_BAR(130) + SEVEN(230) + [[(242, 85), (272, 85)]]
    img = picture(strokes, size=(340, 160))
    from scipy import ndimage

    assert ndimage.label(img < 128, structure=np.ones((3, 3)))[1] >= 5  # the 4 and the 5 are two pieces each
    texts, _, _ = found(img)
    assert texts == ["457"]


def test_dots_and_commas_are_counted_and_left_out():
    strokes = ONE(30) + ZERO(80) + [[(160, 128), (160, 129)]] + SEVEN(190) + [[(270, 126), (266, 140)]]
    texts, _, specks = found(picture(strokes, size=(320, 170)))
    assert texts == ["107"] and specks == 2


def test_lines_are_read_top_to_bottom():
    top = SEVEN(30, y=20) + ONE(120, y=20)
    bottom = ZERO(60, y=170) + FOUR_IN_TWO_STROKES(150, y=170)
    texts, lines_, _ = found(picture(top + bottom, size=(260, 300)))
    assert texts == ["71", "04"]
    assert all(d.line == k for k, line in enumerate(lines_) for d in line)


def test_touching_digits_are_cut_apart():
    # the 7 leans on the second 0; the deep-cnn before this release's left the 7 out (100)
    img = picture(ONE(20) + ZERO(50) + ZERO(118) + SEVEN(160), size=(260, 160))
    from scipy import ndimage

    assert ndimage.label(img < 128, structure=np.ones((3, 3)))[1] == 3  # the second 0 touches the 7
    assert found(img)[0] == ["1007"]


def SIX(x, y=30, h=100):
    return [[(x + 48, y), (x + 15, y + 40), (x + 5, y + 75), (x + 22, y + h), (x + 45, y + 88), (x + 44, y + 62),
             (x + 20, y + 58), (x + 8, y + 72)]]


def sheared(img, slant):
    """The picture slanted to the right by `slant` (dx/dy), as a writer slants a whole number."""
    h, w = img.shape
    transform = (1, slant, -slant * h / 2, 0, 1, 0)
    return np.asarray(Image.fromarray(img).transform((w, h), Image.AFFINE, transform, Image.BILINEAR, fillcolor=255))


@pytest.mark.parametrize("slant", [0.25, 0.3, 0.35])
def test_slanted_ones_leaning_on_their_neighbours_are_cut_along_the_slant(slant):
    # the second 1 runs into the 0, and the first reaches over the 6's left side: every upright seam between a
    # 1 and its neighbour runs through one of them. Read 160 before the line was cut along its slant as well
    img = sheared(picture(ONE(30) + SIX(52) + ONE(110) + ZERO(125), size=(220, 160)), slant)
    assert found(img)[0] == ["1610"]


@pytest.mark.parametrize("img", [
    picture(ONE(20) + ZERO(50) + ZERO(118) + SEVEN(160), size=(260, 160)),
    sheared(picture(ONE(30) + ONE(48) + SEVEN(68), size=(220, 160)), 0.3)], ids=["1007", "117-slanted"])
def test_a_blobs_strips_stay_in_the_order_of_its_seams(img):
    # leaning seams leave slivers whose columns' centres lie past a neighbouring strip's: ordered by their centres,
    # a run of consecutive pieces could join strips 6 and 8 without 7 (before: in 37 of 60 touching numbers of the
    # sample's digits, cut upright, some blob's strips were out of order)
    from digitnet.segment import _prepare

    orders = []
    for line in _prepare(ink_map(np.asarray(img, dtype=np.float32) / 255, "test"))[0]:
        for cut in (line, line.along_slant(10 ** 6)):
            strips = {}
            for label, strip in (cut.owners if cut is not None else []):
                strips.setdefault(label, []).append(strip)
            orders += [order for order in strips.values() if len(order) > 2]
    assert orders and all(order == sorted(order) for order in orders)  # blobs were cut, each in order


def test_seams_take_shifts_of_any_sign():
    blob = np.zeros((20, 40), dtype=bool)
    blob[:, 5:9] = blob[:, 25:29] = True
    shifts = np.arange(20) // 2
    assert np.array_equal(seams(blob, 20, shifts), seams(blob, 20, shifts - 10))


def test_the_slant_makes_a_slanted_stroke_upright():
    from digitnet.segment import slant_shifts

    blob = np.zeros((40, 40), dtype=bool)
    for y in range(40):
        blob[y, 30 - y // 2:34 - y // 2] = True   # a stroke leaning right, 1 across for every 2 down
    shifts = slant_shifts(blob)
    upright = [np.flatnonzero(row)[0] + shift for row, shift in zip(blob, shifts)]
    assert np.ptp(upright) <= 1 and shifts.min() == 0
    blob[:] = False
    blob[:, 10:14] = True                         # an upright stroke stays as it is
    assert not slant_shifts(blob).any()


@pytest.mark.xfail(strict=True, reason="a 1 leaning on a 0 is read as the 0 alone: see docs/reading.md")
def test_a_one_leaning_on_a_zero_is_two_digits():
    assert found(picture(ONE(30) + ZERO(40), size=(160, 160)))[0] == ["10"]


@pytest.mark.xfail(strict=True, reason="two round digits run together read as one wide 0: see docs/reading.md")
def test_two_zeros_run_together_are_two_digits():
    assert found(picture(ZERO(30) + ZERO(84), size=(200, 160)))[0] == ["00"]


def test_a_lone_bar_is_one_digit_not_a_row_of_ones():
    img = picture([[(100, 80), (220, 80)]], size=(320, 160), width=12)
    assert len(found(img)[0][0]) == 1


def test_a_seam_goes_round_ink_where_it_can():
    blob = np.zeros((40, 60), dtype=bool)
    blob[:, 10:14] = blob[:, 40:44] = True      # two uprights
    blob[18:22, 10:44] = True                  # joined by one bar
    cuts = seams(blob, 40)
    crossed = [int(blob[np.arange(40), c].sum()) for c in cuts]
    middle = [k for k, c in enumerate(cuts) if 14 <= c.min() and c.max() < 40]
    assert middle and min(crossed[k] for k in middle) <= 4   # through the bar only, not along an upright
    assert np.all(np.diff(cuts, axis=0) >= 0)  # sorted: they never cross


def test_a_sheet_of_many_separate_digits_is_read_not_refused_as_joined_ink():
    """A sheet of 144 separate digits was refused as "too much joined ink" (3,059 candidates, past the 3,000 of
    the whole picture: a digit on its own gives about 40). Each piece of ink now adds PER_PIECE to the limit."""
    from digitnet.data import load_sample
    from digitnet.segment import MAX_CANDIDATES

    sample = load_sample(flatten=False)
    x, t = (255 * sample.x_test.reshape(-1, 28, 28)).astype(np.uint8), sample.t_test
    rows = [np.hstack([np.pad(x[12 * r + c], ((12, 12), (8, 8))) for c in range(12)]) for r in range(12)]
    sheet = 255 - np.vstack(rows)
    ink = ink_map(sheet.astype(np.float32) / 255, "sheet")
    assert len(candidates(ink)) > MAX_CANDIDATES
    texts, _, _ = found(sheet)
    truth = ["".join(str(int(d)) for d in t[12 * r:12 * r + 12]) for r in range(12)]
    assert len(texts) == 12
    right = sum(b.size for text, want in zip(texts, truth)
                for b in difflib.SequenceMatcher(None, want, text, autojunk=False).get_matching_blocks())
    assert right >= 134  # of 144 (a digit split in two costs one), read by the deep-cnn alone


def test_a_long_wave_of_joined_ink_is_refused_before_it_is_cut_up(tmp_path):
    """A 6000x400 wave of one stroke (17 KB as a PNG) was cut into 15,978 candidate digits and read for 45 s,
    holding up the server. Past MAX_CANDIDATES (and PER_PIECE for its one piece) the picture is refused in one
    line, before any is cut out."""
    from digitnet.image_io import ImageError
    from digitnet.segment import MAX_CANDIDATES, PER_PIECE, TooManyCuts, candidates

    x = np.arange(20, 3980, 4)
    wave = picture([list(zip(x, 80 + 50 * np.sin(x / 25)))], size=(4000, 160))
    with pytest.raises(TooManyCuts, match=f"at most {MAX_CANDIDATES + PER_PIECE:,} are read") as e:
        candidates(ink_map(wave.astype(np.float32) / 255, "wave"))
    assert int(str(e.value).split("over ")[1].split(" ")[0].replace(",", "")) > MAX_CANDIDATES
    Image.fromarray(wave).save(tmp_path / "wave.png")
    with pytest.raises(ImageError, match="wave.png: too much joined ink to read") as e:
        digitnet.read(tmp_path / "wave.png", deep())
    assert e.value.reason == "too-complex" and "\n" not in str(e.value)
    short = picture([list(zip(x[:100], 80 + 50 * np.sin(x[:100] / 25)))], size=(440, 160))
    assert 0 < len(candidates(ink_map(short.astype(np.float32) / 255, "short"))) < MAX_CANDIDATES  # still cut
    # 250 strokes beside it raise the picture's limit (PER_PIECE each) but not the wave's: it was read for a minute
    ones = [[(x0, y0), (x0, y0 + 60)] for y0 in (200, 320, 440) for x0 in range(40, 3960, 48)][:250]
    crowded = picture([list(zip(x, 80 + 50 * np.sin(x / 25))), *ones], size=(4000, 540))
    with pytest.raises(TooManyCuts, match=f"cutting one stroke of it gives over .* at most {MAX_CANDIDATES:,} are"):
        candidates(ink_map(crowded.astype(np.float32) / 255, "crowded"))


def test_every_speck_is_counted_also_beyond_the_components_looked_at():
    """A page of 600 dots said "only 400 specks of ink": those beyond MAX_COMPONENTS were dropped uncounted."""
    from digitnet.image_io import ImageError
    from digitnet.strokes import MAX_COMPONENTS

    page = np.full((300, 600), 255, dtype=np.uint8)
    for k in range(600):
        y, x = 10 + 14 * (k // 40), 10 + 14 * (k % 40)
        page[y:y + 3, x:x + 3] = 0
    assert 600 > MAX_COMPONENTS
    with pytest.raises(ImageError, match="no digit found: only 600 specks of ink"):
        digitnet.read(page, deep())


def test_a_page_of_more_digits_than_the_pieces_looked_at_is_refused_not_cut_short(monkeypatch, held_out_digits):
    """A page of 420 separate digits read 402, `specks: 22`, exit 0: only the MAX_COMPONENTS (400) largest pieces
    of ink are looked at, against a noisy photo's thousands of specks, and the rest were counted as specks even
    when they were digits. Pieces past the limit as big as digits (LARGE x the largest one's area, and no speck)
    refuse the picture now, in one line; specks past it are still only counted. (Here with a limit of 12, for
    time: 420 digits take over a minute.)"""
    from digitnet import segment, strokes
    from digitnet.preprocess import ImageError

    monkeypatch.setattr(strokes, "MAX_COMPONENTS", 12)
    monkeypatch.setattr(segment, "MAX_COMPONENTS", 12)
    x, t = held_out_digits
    page = np.full((2 * 48 + 20, 9 * 40 + 20), 255, dtype=np.uint8)
    for k in range(12):
        y, x0 = 10 + 48 * (k // 9), 10 + 40 * (k % 9)
        page[y:y + 28, x0:x0 + 28] = (255 * (1 - x[k])).astype(np.uint8)
    expected = "".join(map(str, t[:9])) + "\n" + "".join(map(str, t[9:12]))
    page[page.shape[0] - 4:, ::4] = 0  # 95 specks along the bottom: left out and counted
    reading = digitnet.read(page, deep())
    assert reading.text == expected and reading.specks == len(range(0, page.shape[1], 4)) == 95
    for k in range(12, 18):  # 6 digits more than the limit
        y, x0 = 10 + 48 * (k // 9), 10 + 40 * (k % 9)
        page[y:y + 28, x0:x0 + 28] = (255 * (1 - x[k])).astype(np.uint8)
    with pytest.raises(ImageError, match=r"^image: more than 12 pieces of ink as big as digits \(6 past the first "
                                         r"12\); read a page of so many digits in parts$"):
        digitnet.read(page, deep())


def test_a_number_on_a_long_strip_is_read_not_taken_for_specks(tmp_path):
    """A 30000x300 strip was reduced to 1200x12 before the work, and its 220-px digits were "2 specks of ink"."""
    from digitnet.image_io import work_factor

    one, seven = [(15000, 40), (15000, 260)], [(15100, 40), (15240, 40), (15150, 260)]
    Image.fromarray(picture([one, seven], size=(30000, 300), width=22)).save(tmp_path / "strip.png")
    assert work_factor(30000, 300) == 3  # the shorter side kept at 100 px, not 12
    assert digitnet.read(tmp_path / "strip.png", deep()).text == "17"
    assert work_factor(1600, 640) == 2 and work_factor(800, 600) == 1  # ordinary pictures: as before


def test_ink_one_or_two_pixels_high_is_no_digit():
    """A 1x50 strip with dark ends read "66", and with a dark middle "6": ink 1 px high made H 1 px, and each
    piece a digit. Ink under LOWEST pixels high is specks now."""
    from digitnet.preprocess import ImageError

    for high in (1, 2):
        ends = np.full((high, 50), 255, dtype=np.uint8)
        ends[:, :10] = ends[:, 40:] = 0
        with pytest.raises(ImageError, match="no digit found: only 2 specks of ink"):
            digitnet.read(ends, deep())
    assert digitnet.read(picture([[(20, 20), (20, 80)]], size=(40, 100), width=6), deep()).text == "1"


def test_blank_ink_finds_nothing():
    assert segment(np.zeros((50, 80), dtype=np.float32), classify) == ([], 0)


# ------------------------------------------------------------------ real handwriting: official MNIST test digits

@pytest.fixture(scope="module")
def mnist_test(mnist_10k_dir):
    from digitnet.data.mnist import load_dataset

    ds = load_dataset(mnist_10k_dir, flatten=False)
    return ds.x_test.reshape(-1, 28, 28), ds.t_test


def read_many(x, t, kind, n, seed):
    rng = np.random.default_rng(seed)
    right = 0
    for _ in range(n):
        idx = rng.integers(0, len(x), int(rng.integers(2, 7)))
        img = compose(x[idx], kind, rng)
        texts, _, _ = found(255 - img)
        right += "".join(texts) == "".join(str(int(t[i])) for i in idx)
    return right / n


# touching: 17.5 % (40 numbers, seed 11) with the outlier-exposed deep-cnn before the seams were traced from
# both ends and the scores weighted by width, 55 % after (docs/reading.md, where it fails); with the grown second
# reading of a cut (segment.GROW) and the retrained deep-cnn, 60 %. Measured now: 95, 82.5 and 62.5 % (97.5, 82.5
# and 60 % before a digit's log-probability joined its score, segment.LOW_COST).
@pytest.mark.parametrize("kind,floor", [("separated", 0.9), ("broken", 0.75), ("touching", 0.55)])
def test_numbers_of_real_handwriting(mnist_test, kind, floor):
    """Floors a little under what scripts/read_accuracy.py measures on 300 numbers (see docs/reading.md)."""
    x, t = mnist_test
    assert read_many(x, t, kind, 40, seed=11) >= floor


def test_the_broken_digits_really_are_in_pieces(mnist_test):
    from scipy import ndimage

    x, _ = mnist_test
    rng = np.random.default_rng(2)
    def pieces(a):
        return ndimage.label(a > 40, structure=np.ones((3, 3)))[1]

    more = [pieces(break_strokes(tight(d), rng)) > pieces(tight(d)) for d in x[:50]]
    assert np.mean(more) > 0.9


def test_several_lines_of_real_handwriting(mnist_test):
    x, t = mnist_test
    rng = np.random.default_rng(5)
    right = 0
    for _ in range(10):
        numbers, truth = [], []
        for _ in range(3):
            idx = rng.integers(0, len(x), 3)
            numbers.append(compose(x[idx], "separated", rng))
            truth.append("".join(str(int(t[i])) for i in idx))
        texts, _, _ = found(255 - lines(numbers, rng))
        right += texts == truth
    assert right >= 8


def test_a_cut_the_rejecting_net_doubts_costs_its_margin():
    """classify may answer (probabilities, margins), as reader.read_ink does (Committee.assess): a candidate
    below the threshold of "not a digit" costs what it lies below it. Two close strokes, each as sure a 1 as
    both together: one digit is the cheaper reading, until the net says that two strokes are no digit."""
    from scipy import ndimage

    ink = ink_map(picture([[(100, 30), (96, 130)], [(124, 30), (120, 130)]]).astype(np.float32) / 255, "test")

    def sure_of_a_1(fields):
        p = np.full((len(fields), 10), 0.01 / 9)
        p[:, 1] = 0.99
        return p

    def doubting_two_strokes(fields):
        strokes = np.array([ndimage.label(f > 0.2)[1] for f in fields])
        return sure_of_a_1(fields), np.where(strokes > 1, -2.0, 5.0)

    alone = segment(ink, sure_of_a_1)[0]
    assert [len(line) for line in alone] == [1]
    doubted = segment(ink, doubting_two_strokes)[0]
    assert [len(line) for line in doubted] == [2] and doubted[0][0].box[2] <= doubted[0][1].box[0]


def test_strokes_too_long_for_the_digit_read_cost_what_they_exceed(monkeypatch):
    """Three close strokes, each as sure a 1 as all together: one digit is the cheaper reading, until its strokes,
    three times a 1's length, cost what they exceed LONG_AT[1] by (segment.LONG_COST): then they are no one digit.
    (Two of them together exceed it by less than a digit's cost here: the fake net is as sure of them as of one.)"""
    import digitnet.segment as segment_module

    strokes = [[(100 + k, 30), (96 + k, 130)] for k in (0, 24, 48)]
    ink = ink_map(picture(strokes).astype(np.float32) / 255, "test")

    def sure_of_a_1(fields):
        p = np.full((len(fields), 10), 0.01 / 9)
        p[:, 1] = 0.99
        return p

    (line,), _, _ = segment_module._prepare(ink)
    assert max(line.lengths) > segment_module.LONG_AT[1] > min(line.lengths)  # all three strokes; one stroke
    (read,), _ = segment(ink, sure_of_a_1)
    assert len(read) > 1 and all(d.box[2] - d.box[0] < 60 for d in read)  # the three strokes span 63 px
    monkeypatch.setattr(segment_module, "LONG_COST", 0.0)
    assert [len(found_) for found_ in segment(ink, sure_of_a_1)[0]] == [1]


def test_the_stroke_length_limits_are_what_the_sample_gives():
    """segment.LONG_AT is scripts/stroke_lengths.py's output: each digit's 99th percentile among the sample's
    training digits, measured as a candidate is."""
    from digitnet.segment import LONG_AT

    script = Path(__file__).resolve().parents[1] / "scripts" / "stroke_lengths.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(LONG_AT)


def test_an_unsure_reading_of_two_strokes_as_one_costs_its_log_probability(monkeypatch):
    """Two close strokes, each a sure 1 (99 %), both together an unsure 1 (30 %): the capped log-odds alone make
    the one unsure digit the cheaper reading (it is one digit's cost against two); the log-probability in each
    digit's score (segment.LOW_COST) prices the unsure one higher, so the strokes are read as two digits."""
    from scipy import ndimage

    import digitnet.segment as segment_module

    ink = ink_map(picture([[(100, 30), (96, 130)], [(124, 30), (120, 130)]]).astype(np.float32) / 255, "test")

    def unsure_of_two_strokes(fields):
        sure = np.array([ndimage.label(f > 0.2)[1] == 1 for f in fields])
        top = np.where(sure, 0.99, 0.3)[:, None]
        p = np.repeat((1 - top) / 9, 10, axis=1)
        p[:, 1] = top[:, 0]
        return p

    monkeypatch.setattr(segment_module, "LONG_COST", 0.0)  # two strokes are too long for one 1: that cost apart
    assert segment_module.LOW_COST > 0
    assert [len(line) for line in segment(ink, unsure_of_two_strokes)[0]] == [2]
    monkeypatch.setattr(segment_module, "LOW_COST", 0.0)
    assert [len(line) for line in segment(ink, unsure_of_two_strokes)[0]] == [1]


def test_a_cut_is_read_again_with_its_blobs_ink_near_it():
    """A seam through overlapping strokes leaves part of one digit with its neighbour, so each run cut from a
    blob of several digits is also read with the blob's ink within GROW x H of it: never more, never another
    blob's; a wide single digit cut into strips is not."""
    from scipy import ndimage

    from digitnet.segment import GROW, GROW_BLOB, _prepare, candidates

    # three 0s run together (one blob, cut by seams), a 1 a little apart (a blob of its own) and a wide 0
    strokes = ZERO(30) + ZERO(84) + ZERO(138) + ONE(240) + [ellipse(340, 80, 40, 50)]
    ink = ink_map(picture(strokes, size=(420, 160)).astype(np.float32) / 255, "test")
    (line,), _, _ = _prepare(ink)
    blob_of = {k: label for k, (label, _) in enumerate(line.owners)}
    widths = sorted(line.blob_width.values())
    assert len(set(blob_of.values())) == 3 and len(widths) == 2 and widths[0] < GROW_BLOB <= widths[1]
    d = max(1, round(GROW * line.height))
    grown_runs = [run for run, grown in zip(line.runs, line.grown) if grown]
    assert grown_runs and all(run in line.runs[:k] for k, run in enumerate(line.runs) if line.grown[k])
    for i, j in set(grown_runs):
        member, grown = line.member(i, j), line.member(i, j, grown=True)
        added = grown & ~member
        assert added.any() and (member <= grown).all()
        assert {blob_of[k] for k in np.unique(line.pieces[added])} == {blob_of[i]}  # its own blob's ink only
        assert line.blob_width[blob_of[i]] >= GROW_BLOB  # the 0s', not the wide 0's
        near = ndimage.distance_transform_cdt(~member, metric="taxicab")  # the dilation's reach, in steps
        assert near[added].max() <= d
    one = [k for k in blob_of if blob_of[k] not in line.blob_width]  # the 1, whole: nothing to give back
    assert len(one) == 1 and (one[0], one[0] + 1) in line.runs and (one[0], one[0] + 1) not in grown_runs
    assert len(candidates(ink)) == line.grown.count(False)  # the public cuts are the cuts alone


def test_a_blob_wider_than_a_digit_can_still_be_read_whole():
    """A bold, wide digit is one blob wider than MAX_WIDTH x H, cut into strips by seams like two touching digits,
    and was never read whole (2220 of the sample's digits on lined paper read 7292760). Every blob cut into strips
    is a candidate whole too, for the dynamic programming to weigh against its cuts."""
    ink = np.zeros((60, 120), dtype=np.float32)
    ink[10:40, 20:70] = 1.0
    ink[16:34, 28:62] = 0.0  # a ring 50 px wide and 30 high: wider than MAX_WIDTH x H
    whole = ink > 0
    masks = [mask for mask, _ in candidates(ink)]
    assert len(masks) > 1 and any(np.array_equal(mask & whole, whole) for mask in masks)
