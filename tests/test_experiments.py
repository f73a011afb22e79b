"""`digitnet experiment`: every experiment in --quick mode, each checked against what the book says its
figure shows (not against a stored figure); seeding; the command line."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from digitnet.cli import main
from digitnet.experiments import NAMES, Context, run_experiment


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """run(name, **context) -> the result of `name` in --quick mode on the bundled offline sample (one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    out = tmp_path_factory.mktemp("experiments")
    cache = tmp_path_factory.mktemp("empty-cache")
    with pytest.MonkeyPatch.context() as mp, threadpool_limits(1):
        mp.setenv("DIGITNET_CACHE_DIR", str(cache))  # no full MNIST here: the offline sample, on every machine
        # misclassified and half-float train their rough DeepConvNet, whether or not the package bundles one
        mp.setattr("digitnet.experiments.deep_model.bundled", lambda: None)
        results = {}

        def run(name, **kw):
            key = (name, tuple(sorted(kw.items())))
            if key not in results:
                ctx = Context(out=kw.pop("out", out), quick=True, offline=True, echo=lambda msg: None, **kw)
                results[key] = run_experiment(name, ctx)
            return results[key]

        yield run


def test_backprop_and_numerical_gradient_take_the_same_steps(quick):
    result, files, lines, _ = quick("backprop-vs-numerical")
    losses = result["losses"]
    assert len(losses["numerical"]) == len(losses["backprop"]) >= 2
    assert result["max_loss_difference"] < 1e-6  # the two ways differ only in how the gradient is computed
    assert result["max_weight_difference"] < 1e-4
    timings = json.loads(files[2].read_text())
    assert timings["numerical_s_per_gradient"] > 0 and timings["backprop_s_per_gradient"] > 0
    assert "offline sample" in result["data"]
    # the estimate is the reduced net's, not called the book's run (a 784-10-10 net at batch 20: 25x less work)
    assert "10,000 steps of this reduced net would take" in lines[1] and "the book's ch. 4 run" not in lines[1]


def test_sgd_zigzags_across_the_valley_and_adagrad_does_not(quick):
    paths = quick("gradient-descent-paths")[0]["paths"]
    steps = len(paths["SGD"]["y"]) - 1
    assert paths["SGD"]["y_sign_changes"] >= 0.8 * steps  # y overshoots on (almost) every step
    assert paths["AdaGrad"]["y_sign_changes"] <= 1  # AdaGrad damps the steep direction at once
    start = 7.0 ** 2 / 20 + 2.0 ** 2
    assert all(p["final_f"] < start / 10 for p in paths.values())


def test_adam_and_adagrad_end_below_sgd(quick):
    final = quick("optimizers-mnist")[0]["final_loss"]
    assert final["Adam"] < final["SGD"] and final["AdaGrad"] < final["SGD"]
    assert final["Momentum"] < final["SGD"]


def test_activation_histograms_pile_up_as_the_book_says(quick):
    runs = quick("activation-histograms")[0]["runs"]
    for layer in runs["sigmoid std=1"]["layers"]:  # std 1: saturated, at 0 and 1
        assert layer["near_0"] + layer["near_1"] > 0.5
        assert min(layer["near_0"], layer["near_1"]) > 0.15  # at both ends
    assert runs["sigmoid std=0.01"]["layers"][-1]["near_half"] > 0.95  # std 0.01: everything at 0.5
    assert runs["sigmoid Xavier"]["layers"][-1]["near_half"] < 0.8  # Xavier: spread out
    relu = {init: runs[f"relu {init}"]["layers"] for init in ("std=0.01", "Xavier", "He")}
    assert relu["std=0.01"][-1]["std"] < 1e-3 * relu["std=0.01"][0]["std"]  # vanishes layer by layer
    assert relu["He"][-1]["std"] > 0.5 * relu["He"][0]["std"]  # He keeps the spread
    assert relu["He"][-1]["std"] > relu["Xavier"][-1]["std"]


def test_small_initial_weights_learn_nothing_and_he_learns(quick):
    final = quick("weight-init-mnist")[0]["final_loss"]
    assert abs(final["std=0.01"] - math.log(10)) < 0.05  # the loss of a uniform guess: nothing learned
    assert final["He"] < final["std=0.01"] - 0.5
    assert final["He"] < final["Xavier"]


def test_batch_norm_learns_faster_at_small_scales(quick):
    runs = quick("batch-norm")[0]["runs"]
    small = [r for r in runs if r["scale"] <= 0.01]
    assert small
    for r in small:
        assert r["batchnorm"][-1] > r["plain"][-1] + 0.2
    assert sum(np.mean(r["batchnorm"]) > np.mean(r["plain"]) for r in runs) >= len(runs) - 1


def test_overfitting_gap_is_wide_and_regularisation_narrows_it(quick):
    runs = quick("overfitting")[0]["runs"]
    none = runs["none"]
    assert none["train_acc"][-1] - none["test_acc"][-1] > 0.15  # fits its 300 digits far better than new ones
    for cure in ("weight decay 0.1", "dropout 0.2", "dropout 0.2, book's"):
        assert runs[cure]["gap"] < none["gap"]


def test_hyperparameter_search_is_the_same_for_any_number_of_workers(quick, tmp_path):
    one, files_one, _, _ = quick("hyperparameter-search", workers=1, out=tmp_path / "one")
    two, files_two, _, _ = quick("hyperparameter-search", workers=2, out=tmp_path / "two")
    assert files_one[1].read_bytes() == files_two[1].read_bytes()
    trials = one["trials"]
    high = [t["val_acc"][-1] for t in trials if t["lr"] > 1e-3]
    low = [t["val_acc"][-1] for t in trials if t["lr"] < 1e-4]
    assert high and low and np.mean(high) > np.mean(low)  # the book: the good region is lr 1e-3 to 1e-2
    assert [t["val_acc"][-1] for t in trials] == sorted((t["val_acc"][-1] for t in trials), reverse=True)


def test_trained_filters_have_structure(quick):
    result = quick("filters")[0]
    assert abs(result["smoothness_before"]) < 0.15  # random: neighbouring weights unrelated
    assert result["smoothness_after"] > result["smoothness_before"] + 0.2
    assert result["test_accuracy"] > 0.3


def test_misclassified_lists_only_mistakes(quick):
    result = quick("misclassified")[0]
    n = result["settings"]["test_digits"]
    assert result["misclassified"] == round((1 - result["test_accuracy"]) * n)
    assert result["first"] and all(m["label"] != m["predicted"] for m in result["first"])
    assert sum(m["count"] for m in result["most_common"]) <= result["misclassified"]


def test_float16_accuracy_is_within_half_a_percent_of_float64(quick):
    p = quick("half-float")[0]["precisions"]
    assert abs(p["float16"]["accuracy"] - p["float64"]["accuracy"]) <= 0.005
    assert abs(p["float32"]["accuracy"] - p["float64"]["accuracy"]) <= 0.001


def test_same_seed_same_json_other_seed_other_json(quick, tmp_path):
    first = quick("weight-init-mnist")[1][1].read_bytes()  # seed 0
    again = quick("weight-init-mnist", seed=0, out=tmp_path / "again")[1][1].read_bytes()
    other = quick("weight-init-mnist", seed=1, out=tmp_path / "other")[1][1].read_bytes()
    assert first == again
    assert first != other


def test_every_experiment_wrote_a_picture_and_its_numbers(quick):
    for name in NAMES:
        result, files, lines, _ = quick(name)
        png, data, _ = files
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert json.loads(data.read_text())["experiment"] == name
        assert result["quick"] is True and lines


def test_command_lists_runs_and_says_when_reduced(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    listed = runner.invoke(main, ["experiment", "--list"])
    assert listed.exit_code == 0 and all(name in listed.output for name in NAMES)
    ran = runner.invoke(main, ["experiment", "gradient-descent-paths", "--quick", "--out", str(tmp_path / "o")])
    assert ran.exit_code == 0, ran.output
    assert "REDUCED" in ran.output and "zigzag" in ran.output
    assert (tmp_path / "o" / "gradient-descent-paths.png").is_file()
    bad = runner.invoke(main, ["experiment", "no-such-thing"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_command_refuses_a_negative_seed_in_one_line(tmp_path):
    r = CliRunner().invoke(main, ["experiment", "activation-histograms", "--seed", "-1", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "Invalid value for '--seed': -1 is not in the range x>=0" in r.output, r.output
    assert not isinstance(r.exception, ValueError) and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["filters", "optimizers-mnist", "hyperparameter-search"])
def test_data_the_experiments_cannot_run_on_is_one_line(tmp_path, name):
    """--data-dir of 60 digits, or of 32x32 pictures, gave a ValueError traceback from inside the experiment
    (a batch larger than the data, a net of 784 inputs; a review); `train` said so in one line."""
    from helpers import write_mnist_folder

    rng = np.random.default_rng(0)
    for folder, n_train, n_test, side, what in (
            ("d60", 60, 20, 28, "this data has 60 and 20 pictures of 784 pixels"),
            ("d32", 1200, 200, 32, "this data has 1,200 and 200 pictures of 1,024 pixels")):
        images, labels = (255 * rng.random((n_train + n_test, side, side))).astype(np.uint8), rng.integers(0, 10, 1400)
        data = write_mnist_folder(tmp_path / folder, images[:n_train], labels[:n_train], images[n_train:],
                                  labels[n_train:n_train + n_test])
        r = CliRunner().invoke(main, ["experiment", name, "--quick", "--data-dir", str(data),
                                      "--out", str(tmp_path / "out")])
        assert r.exit_code == 1 and "Traceback" not in r.output and not isinstance(r.exception, ValueError), r.output
        lines = r.output.strip().splitlines()
        assert lines[-1].startswith("Error: ") and "the book's experiments need MNIST's 28x28 digits" in lines[-1]
        assert what in lines[-1], lines[-1]
