"""`digitnet tour`, run through click's test runner: the walkthrough's numbers appear and the check passes."""
import re

import pytest
from click.testing import CliRunner

import digitnet.cli.tour as tour_module
from digitnet.cli.tour import STEPS, tour


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")


def test_the_whole_tour(offline):
    result = CliRunner().invoke(tour, [])
    assert result.exit_code == 0, result.output
    out = result.output
    for n, (title, _) in enumerate(STEPS, start=1):
        assert f"Step {n} of {len(STEPS)}: {title}" in out
    # the shopping graph's price and gradients, as the book gives them
    assert re.search(r"price\s+715\n", out)
    for name, value in [("apple_num", "110"), ("apple_price", "2.2"), ("orange_num", "165"),
                        ("orange_price", "3.3"), ("tax", "650")]:
        assert re.search(rf"d price / d {name}\s+{re.escape(value)}\s", out), name
    assert "agrees with the numerical gradient: yes" in out
    for param in ("W1", "b1", "W2", "b2"):
        assert re.search(rf"^  {param} .* ok$", out, re.M), param
    assert "gradient check passed" in out
    epochs = re.findall(r"^\s+(\d) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+)$", out, re.M)
    assert [(e[0], e[1]) for e in epochs] == [("1", "80"), ("2", "160"), ("3", "240"), ("4", "320"), ("5", "400")]
    assert float(epochs[-1][2]) < float(epochs[0][2])  # the loss fell
    assert float(epochs[-1][4]) > 0.85  # test accuracy


def test_one_step(offline):
    result = CliRunner().invoke(tour, ["--step", "1"])
    assert result.exit_code == 0, result.output
    assert "Step 1 of 5" in result.output and "Step 2" not in result.output
    assert "715" in result.output and "650" in result.output


@pytest.mark.parametrize("bad", ["0", str(len(STEPS) + 1), "x"])
def test_a_step_that_does_not_exist_is_a_usage_error(bad):
    result = CliRunner().invoke(tour, ["--step", bad])
    assert result.exit_code == 2
    assert "--step" in result.output


@pytest.fixture
def quick_steps(monkeypatch):
    """Five instant steps in place of the real ones; the second reports a problem when `fail` is set."""
    state = {"fail": False}

    def make(i):
        def step():
            tour_module.say(f"ran {i}")
            return not (i == 2 and state["fail"])
        return step
    monkeypatch.setattr(tour_module, "STEPS", [(f"step {i}", make(i)) for i in range(1, 6)])
    return state


def test_pause_waits_for_enter_between_steps_in_a_terminal(quick_steps, monkeypatch):
    monkeypatch.setattr(tour_module, "interactive", lambda: True)
    result = CliRunner().invoke(tour, ["--pause"], input="\n" * 4)
    assert result.exit_code == 0, result.output
    assert result.output.count("press Enter for the next step") == 4  # between steps, not before or after
    assert result.output.index("ran 1") < result.output.index("press Enter") < result.output.index("ran 2")


def test_ctrl_c_or_ctrl_d_at_the_pause_is_interrupted_and_130(quick_steps, monkeypatch):
    """click's prompt turns Ctrl-C (and Ctrl-D) into "Aborted!", exit 1: every other command says "interrupted",
    exit 130 (a review)."""
    monkeypatch.setattr(tour_module, "interactive", lambda: True)
    result = CliRunner().invoke(tour, ["--pause"], input="\n")  # Enter once, then the input ends: Ctrl-D
    assert result.exit_code == 130, result.output
    assert "\ninterrupted\n" in result.output and "Aborted" not in result.output
    assert "ran 2" in result.output and "ran 3" not in result.output


def test_pause_does_not_wait_without_a_terminal(quick_steps, monkeypatch):
    monkeypatch.setattr(tour_module, "interactive", lambda: False)
    result = CliRunner().invoke(tour, ["--pause"])
    assert result.exit_code == 0, result.output
    assert "press Enter" not in result.output
    assert all(f"ran {i}" in result.output for i in range(1, 6))


def test_a_step_that_finds_a_problem_fails_the_command(quick_steps):
    quick_steps["fail"] = True
    result = CliRunner().invoke(tour, [])
    assert result.exit_code == 1
    assert "ran 5" in result.output  # the other steps still ran
    assert "step 2 found a problem" in result.output


def test_help_describes_the_tour():
    result = CliRunner().invoke(tour, ["--help"])
    assert result.exit_code == 0
    assert "backpropagation" in result.output and "--step" in result.output and "--pause" in result.output
