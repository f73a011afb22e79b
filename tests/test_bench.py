"""The side-by-side benchmark compares like with like: PyTorch twins compute what digitnet's nets compute, and
from the same weights and batches both reach the same accuracy. Timings are never asserted."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet.nets.factory import build_net

torch = pytest.importorskip("torch")
BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import torch_twins  # noqa: E402  (sys.path is set above, after importorskip)


@pytest.mark.parametrize("model, hidden", [("two-layer", [50]), ("mlp", [32, 16]), ("simple-cnn", None),
                                           ("deep-cnn", None)])
def test_twins_compute_what_digitnet_computes(model, hidden):
    net = build_net(model, hidden=hidden, rng=np.random.default_rng(3), dtype=np.float32)
    x = np.random.default_rng(4).random((7, 784), dtype=np.float32)
    ours = net.predict(x)
    theirs = torch_twins.predict(torch_twins.twin(net), x.reshape(7, 1, 28, 28) if "cnn" in model else x, 3)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)


def test_twins_refuse_what_they_cannot_copy():
    with pytest.raises(ValueError, match="relu"):
        torch_twins.twin(build_net("mlp", hidden=[8], activation="sigmoid", rng=np.random.default_rng(0)))


def test_a_short_benchmark_run_reports_both_sides(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, str(BENCH / "bench.py"), "two-layer", "deep-cnn-inference",
                          "--repeats", "1", "--scale", "0.01", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = json.loads(out.read_text())
    timed = {(r["case"], r["impl"]): r for r in rows if "impl" in r}
    assert set(timed) == {(c, i) for c in ("two-layer", "deep-cnn-inference") for i in ("digitnet", "pytorch")}
    d, t = timed["two-layer", "digitnet"], timed["two-layer", "pytorch"]
    # the same start, the same 100 SGD steps on the same batches: the same net, up to float rounding
    assert abs(d["test_accuracy"] - t["test_accuracy"]) < 0.01 and d["test_accuracy"] > 0.5
    assert d["peak_rss_mb"] < t["peak_rss_mb"]  # digitnet's process does not load PyTorch
    # beside each whole process's peak, the memory the run itself took above the loaded data (Linux: always known)
    assert all(r["run_mb"] is None or 0 <= r["run_mb"] <= r["peak_rss_mb"] for r in timed.values())
    assert [r["case"] for r in rows if "cpu_ratio_digitnet_over_pytorch" in r] == ["deep-cnn-inference"]
    assert "predictions agree on 100.00%" in run.stdout
    # the ratio reported is the one of the times reported (one repeat: the ratio of the two runs), whatever they are
    ratios = {r["case"]: r["ratio_digitnet_over_pytorch"] for r in rows if "ratio_digitnet_over_pytorch" in r}
    assert set(ratios) == {"two-layer", "deep-cnn-inference"}
    for case, ratio in ratios.items():
        ours, theirs = timed[case, "digitnet"], timed[case, "pytorch"]
        assert len(ours["times_s"]) == len(theirs["times_s"]) == 1
        assert ratio == pytest.approx(ours["times_s"][0] / theirs["times_s"][0], rel=1e-12)
    assert d["us_per_step"] / t["us_per_step"] == pytest.approx(ratios["two-layer"], rel=1e-12)
