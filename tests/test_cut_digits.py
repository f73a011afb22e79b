"""Training digits as the reader cuts them out of numbers (digitnet.cut_digits, `digitnet train --cut-digits`)."""
import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("scipy")

from click.testing import CliRunner
from scipy import ndimage

from digitnet.cut_digits import REACH, _broken, _straight, _touching, cut_digits, cut_share, touching_pairs, wrong_cuts
from digitnet.data import load_sample
from digitnet.data.numbers import INK, compose, tight


@pytest.fixture(scope="module")
def sample():
    s = load_sample()
    return s.x_train[:60], s.t_train[:60]


def _pieces(crop):
    return ndimage.label(crop > INK, structure=np.ones((3, 3), dtype=bool))[1]


def test_a_broken_digit_falls_into_more_strokes(sample):
    x, _ = sample
    more = [_pieces(_broken(d.reshape(28, 28), np.random.default_rng(i))) > _pieces(tight(d.reshape(28, 28)))
            for i, d in enumerate(x[:20])]
    assert np.mean(more) >= 0.8


def test_a_straight_cut_lies_near_the_digits_box_and_brings_its_neighbours_ink(sample):
    x, _ = sample
    digits = x.reshape(-1, 28, 28)
    widths, foreign = [], 0
    for i in range(20):
        rng = np.random.default_rng(i)
        own = tight(digits[i])
        boxes = []
        canvas = compose([digits[20 + i], digits[i], digits[40 + i]], "touching", rng, pad=0, boxes_out=boxes)
        strip = _straight(canvas, boxes, rng)
        assert strip.shape[1] <= own.shape[1]  # cut inside its own box
        widths.append(strip.shape[1] >= own.shape[1] - 2 * REACH)
        foreign += (strip > INK).sum() != (own > INK).sum()
    assert all(widths)     # never more than REACH cut off either side
    assert foreign >= 10   # most cuts keep a sliver of a neighbour or lose one of their own


def test_cut_digits_keep_shape_dtype_repeat_for_a_seed_and_stay_the_digit(sample):
    x, t = sample
    for shaped in (x[:5], x[:5].reshape(5, 1, 28, 28), x[:5].astype(np.float64)):
        out = cut_digits(shaped, np.random.default_rng(1))
        assert out.shape == shaped.shape and out.dtype == shaped.dtype
        assert np.allclose(out.reshape(5, -1).max(axis=1), 1.0)
        assert not np.allclose(out, shaped)
    a, b = cut_digits(x, np.random.default_rng(2)), cut_digits(x, np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, cut_digits(x, np.random.default_rng(3)))
    s = load_sample()
    ref_x, ref_t = s.x_train[1000:4000], s.t_train[1000:4000]
    nearest = ((a[:, None, :] - ref_x[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.mean(ref_t[nearest] == t) >= 0.7  # cut, not made into another digit


def test_cut_share_adds_that_share_with_their_labels(sample):
    x, _ = sample
    labels = np.arange(x.shape[0])
    x2, t2 = cut_share(x, labels, 0.5, np.random.default_rng(3))
    assert x2.shape == (90, 784) and np.array_equal(x2[:60], x) and np.array_equal(t2[:60], labels)
    assert len(set(t2[60:].tolist())) == 30
    assert all(not np.allclose(x2[60 + k], x[i]) for k, i in enumerate(t2[60:]))
    x3, t3 = cut_share(x, labels, 0.0, np.random.default_rng(3))
    assert x3 is x and t3 is labels


def test_train_takes_cut_digits_and_refuses_a_negative_share(tmp_path):
    from digitnet.cli import main

    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "3", "--train-limit", "200", "--cut-digits", "0.5",
                                  "--calibration", "0", "--seed", "0", "--out", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    assert "0.5 of the digits again as read cuts them" in r.output
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "3", "--cut-digits", "-1",
                                  "--out", str(tmp_path / "n.npz")])
    assert r.exit_code == 2 and "--cut-digits" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "n.npz").exists()


def test_touching_pairs_are_two_digits_wide_and_repeat_for_a_seed(sample):
    from digitnet.data.images import SIDE

    x, _ = sample
    a = touching_pairs(x, 12, np.random.default_rng(4))
    assert a.shape == (12, 784) and a.dtype == np.float32
    assert np.array_equal(a, touching_pairs(x, 12, np.random.default_rng(4)))
    cols = (a.reshape(12, SIDE, SIDE) > 0.1).any(axis=1).sum(axis=1)
    rows = (a.reshape(12, SIDE, SIDE) > 0.1).any(axis=2).sum(axis=1)
    assert np.mean(cols > rows) >= 0.75  # a pair is wider than high, unlike nearly every single digit


def test_pairs_are_an_outlier_kind_with_their_own_held_out_set(monkeypatch):
    import digitnet.outliers as outliers

    monkeypatch.setattr(outliers, "TRAIN_COUNT", 30)
    monkeypatch.setattr(outliers, "HELD_OUT_COUNT", 10)
    train, held = outliers.outlier_sets("pairs")
    assert train.shape == (30, 784) and held.shape == (10, 784)
    assert not any(np.array_equal(h, t) for h in held for t in train)


def test_a_touching_digit_cut_as_the_reader_cuts_it_is_still_that_digit(sample):
    """cuts="segment" (the default): one of segment's candidates that holds the digit. The bundled fast-cnn,
    never trained on such cuts, reads most of them as the digit; they are not the straight cuts."""
    import digitnet

    x, t = sample
    digits = x.reshape(-1, 28, 28)
    cut = np.stack([_touching(digits[i], digits[20 + i], digits[40 + i], np.random.default_rng(i), "segment")
                    for i in range(20)])
    straight = np.stack([_touching(digits[i], digits[20 + i], digits[40 + i], np.random.default_rng(i), "straight")
                         for i in range(20)])
    assert cut.shape == (20, 28, 28) and np.allclose(cut.reshape(20, -1).max(axis=1), 1.0)
    assert sum(not np.allclose(a, b) for a, b in zip(cut, straight)) >= 10
    read = np.asarray(digitnet.pretrained("fast-cnn").predict(cut.reshape(20, -1))).argmax(axis=1)
    assert np.mean(read == t[:20]) >= 0.7  # 15 of 20 with these seeds
    with pytest.raises(ValueError, match="cuts must be one of segment, straight"):
        cut_digits(x[:2], np.random.default_rng(0), cuts="diagonal")


def test_wrong_cuts_are_no_digit_never_as_narrow_as_a_1_and_repeat_for_a_seed(sample):
    """The reader's wrong cuts: the bundled fast-cnn, never shown them, is far less sure of them than of digits
    cut right (cut_digits), and none is a lone upright stroke."""
    import digitnet
    from digitnet.calibration import confidence_of

    x, _ = sample
    wrong = wrong_cuts(x, 40, np.random.default_rng(5))
    assert wrong.shape == (40, 784) and wrong.dtype == np.float32 and 0 <= wrong.min() and wrong.max() <= 1
    assert np.array_equal(wrong, wrong_cuts(x, 40, np.random.default_rng(5)))
    ink = wrong.reshape(40, 28, 28) > 0.1
    cols, rows = ink.any(axis=1).sum(axis=1), ink.any(axis=2).sum(axis=1)
    assert (cols >= 0.35 * rows).all()
    net = digitnet.pretrained("fast-cnn")
    c = confidence_of(net)  # its one temperature: each picture's would even out how unsure it is of a wrong cut
    sure = c.probabilities(np.asarray(net.predict(wrong)), per_picture=False).max(axis=1)
    right = c.probabilities(np.asarray(net.predict(cut_digits(x[:40], np.random.default_rng(5)))), per_picture=False)
    assert np.median(sure) < np.median(right.max(axis=1)) - 0.2


def test_cuts_are_an_outlier_kind_with_their_own_held_out_set(monkeypatch):
    import digitnet.outliers as outliers

    assert outliers.parse_spec("cuts+fashion") == "fashion+cuts"
    monkeypatch.setattr(outliers, "TRAIN_COUNT", 12)
    monkeypatch.setattr(outliers, "HELD_OUT_COUNT", 6)
    train, held = outliers.outlier_sets("cuts")
    assert train.shape == (12, 784) and held.shape == (6, 784)
    assert not any(np.array_equal(h, t) for h in held for t in train)
