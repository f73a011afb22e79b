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


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("model, hidden", [("two-layer", [50]), ("mlp", [32, 16]), ("simple-cnn", None),
                                           ("deep-cnn", None), ("fast-cnn", None)])
def test_twins_compute_what_digitnet_computes(model, hidden, channels_last):
    net = build_net(model, hidden=hidden, rng=np.random.default_rng(3), dtype=np.float32)
    x = np.random.default_rng(4).random((7, 784), dtype=np.float32)
    ours = net.predict(x)
    model_t = torch_twins.twin(net, channels_last=channels_last)
    theirs = torch_twins.predict(model_t, x.reshape(7, 1, 28, 28) if "cnn" in model else x, 3)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)
    # the conv twins run in PyTorch's fastest CPU layout unless asked not to (each side at its best settings)
    convs = [m.weight for m in model_t.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == {"simple-cnn": 1, "deep-cnn": 6, "fast-cnn": 3}.get(model, 0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert all(w.is_contiguous(memory_format=layout) for w in convs)  # (one input channel: both layouts at once)
    if model in ("deep-cnn", "fast-cnn"):  # (simple-cnn's one convolution has one input channel)
        assert any(not w.is_contiguous() for w in convs) == channels_last


@pytest.mark.parametrize("args, says", [(["--repeats", "0"], "--repeats: 0 is not above 0"),
                                        (["--threads", "-1"], "--threads: -1 is not above 0"),
                                        (["--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist: no such folder")])
def test_the_benchmark_s_bad_options_are_one_line(args, says):
    run = subprocess.run([sys.executable, str(BENCH / "bench.py"), "two-layer", "--no-memory", *args],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and says in run.stderr and "Traceback" not in run.stderr, run.stderr


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


def test_the_step_profile_times_the_layers_in_the_order_training_runs_them():
    """It walked net.layers, the book's order, where train() runs each ReLU before a pool after it, on a quarter
    of the pixels: the profile gave those ReLUs four times their cost."""
    import step_profile

    net = build_net("deep-cnn", rng=np.random.default_rng(0))
    order = [name for name, _ in step_profile.in_training_order(net)]
    assert order[:6] == ["Conv1", "Relu1", "Conv2", "Pool1", "Relu2", "Conv3"]
    assert [layer for _, layer in step_profile.in_training_order(net)] == net.training_layers()


def test_the_benchmark_s_child_processes_run_with_its_settings(monkeypatch):
    """The MPI ranks and the memory probes are started again with the options that change what they run:
    --blas-as-set was dropped, so the workers ran other BLAS kernels than the one-process side."""
    import argparse
    import os

    monkeypatch.setenv("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE", "-"))  # bench.py drops it: put back
    import bench

    args = argparse.Namespace(scale=0.5, data_dir=Path("/data"), blas_as_set=True, torch_nchw=True)
    assert bench.child_settings(args) == ["--scale", "0.5", "--data-dir", "/data", "--blas-as-set", "--torch-nchw"]
    args = argparse.Namespace(scale=1.0, data_dir=None, blas_as_set=False, torch_nchw=False)
    assert bench.child_settings(args) == ["--scale", "1.0"]
