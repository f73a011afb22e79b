"""Training digits redrawn with a pen (digitnet.pen_digits, `digitnet train --pen-digits`)."""
import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("scipy")

from click.testing import CliRunner

from digitnet.data import load_sample
from digitnet.pen_digits import _redraw, pen_digits, redraw_share
from digitnet.strokes import stroke_width


@pytest.fixture(scope="module")
def sample():
    s = load_sample()
    return s.x_train[:60], s.t_train[:60]


def test_a_redrawn_digit_is_hard_edged_ink_on_white(sample):
    drawing = _redraw(sample[0][0].reshape(28, 28), np.random.default_rng(0))
    assert drawing.shape == (112, 112) and drawing.dtype == np.uint8
    assert set(np.unique(drawing)) == {0, 255}  # no grey: a pen's hard edge, not a scan's soft one
    assert 0.02 < np.mean(drawing == 0) < 0.5   # dark ink covering part of white paper


def test_pen_digits_keep_shape_dtype_and_are_prepared_like_a_picture(sample):
    x, _ = sample
    for shaped in (x[:5], x[:5].reshape(5, 1, 28, 28), x[:5].astype(np.float64)):
        out = pen_digits(shaped, np.random.default_rng(1))
        assert out.shape == shaped.shape and out.dtype == shaped.dtype
        assert np.allclose(out.reshape(5, -1).max(axis=1), 1.0)  # to_mnist: brightest ink exactly 1
        assert not np.allclose(out, shaped)


def test_pen_digits_vary_the_stroke_and_repeat_for_a_seed(sample):
    x, _ = sample
    a, b = pen_digits(x[:20], np.random.default_rng(5)), pen_digits(x[:20], np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pen_digits(x[:20], np.random.default_rng(6)))
    widths = [stroke_width(d.reshape(28, 28)) for d in pen_digits(np.repeat(x[:1], 12, axis=0),
                                                                   np.random.default_rng(7))]
    assert max(widths) > 1.3 * min(widths)  # one digit, redrawn twelve times: thin pens and thick ones


def test_pen_digits_stay_the_digit_they_were(sample):
    """The nearest scanned digit (by pixels, among other training digits) of a redrawn digit mostly has its label."""
    x, t = sample
    s = load_sample()
    ref_x, ref_t = s.x_train[1000:4000], s.t_train[1000:4000]
    drawn = pen_digits(x, np.random.default_rng(2))
    nearest = ((drawn[:, None, :] - ref_x[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.mean(ref_t[nearest] == t) >= 0.8


def test_redraw_share_adds_that_share_with_their_labels(sample):
    x, t = sample
    labels = np.arange(x.shape[0])  # each digit's own index as its label: the added rows say which digit they are
    x2, t2 = redraw_share(x, labels, 0.5, np.random.default_rng(3))
    assert x2.shape == (90, 784) and t2.shape == (90,)
    assert np.array_equal(x2[:60], x) and np.array_equal(t2[:60], labels)
    added = t2[60:]
    assert len(set(added.tolist())) == 30  # drawn without repeats
    assert all(not np.allclose(x2[60 + k], x[i]) for k, i in enumerate(added))  # redrawn, not copied
    x3, t3 = redraw_share(x, t, 0.0, np.random.default_rng(3))
    assert x3 is x and t3 is t


def test_train_takes_pen_digits_and_refuses_a_share_over_one(tmp_path):
    from digitnet.cli import main

    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "3", "--train-limit", "200", "--pen-digits", "0.5",
                                  "--calibration", "0", "--seed", "0", "--out", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    assert "pen-drawn copies of 0.5 of the digits" in r.output
    r = CliRunner().invoke(main, ["train", "--offline", "--iters", "3", "--pen-digits", "2",
                                  "--out", str(tmp_path / "n.npz")])
    assert r.exit_code == 2 and "--pen-digits" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "n.npz").exists()
