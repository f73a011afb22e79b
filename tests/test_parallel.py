"""Data-parallel training (digitnet/parallel.py, digitnet/launch.py), with real MPI processes.

The MPI tests start `mpiexec -n 2` (the mpich wheel's, from `pip install 'digitnet[mpi]'`) and skip when
mpi4py or an MPI launcher is missing. Each waits on the processes' exit, with a timeout, never on a clock.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitnet.data import load_sample
from digitnet.parallel import GradientBuffer, SingleProcess, launched_by_mpi, reduce_step, shard
from digitnet.parallel.launch import ParallelError, find_mpiexec, parse_workers, usable_cores

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "mpi"))
from cases import CASES, build, data  # noqa: E402  (sys.path is set above)


def mpiexec_or_skip():
    try:
        return find_mpiexec()
    except ParallelError as e:
        pytest.skip(str(e))


def run_mpi(n, script, *args, timeout=300):
    """Run a script under mpiexec -n n; fail with its output if it fails or outlives the timeout."""
    cmd = [mpiexec_or_skip(), "-n", str(n), sys.executable, str(script), *map(str, args)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{cmd} still ran after {timeout} s: {e.stdout} {e.stderr}")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def two_rank_gradients(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi-gradients")
    run_mpi(2, HERE / "mpi" / "gradients.py", out)
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


@pytest.mark.parametrize("batch", [7, 101])
@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_give_the_whole_batch_gradient(two_rank_gradients, name, batch):
    """Each rank takes its slice (7 = 3 + 4, 101 = 50 + 51), scales its mean gradient by n_local / n_global,
    one Allreduce sums them: that is one process's gradient of the whole batch, to float32 round-off."""
    x, t = data(load_sample(), batch)
    net = build(name, batch, 0, batch)
    loss, grads = net.loss_and_gradient(x, t)
    for rank_results in two_rank_gradients:
        for key, whole in grads.items():
            reduced = rank_results[f"{name}/{batch}/{key}"]
            assert reduced.dtype == np.float32
            scale = np.abs(whole).max()
            assert np.abs(reduced - whole).max() <= 1e-5 * scale + 1e-9, f"{name} batch {batch}: {key}"
        assert rank_results[f"{name}/{batch}/loss"] == pytest.approx(float(loss), rel=1e-5)
    # both ranks hold the same bits: they will apply the same update
    first, second = two_rank_gradients
    for key in first:
        if key.startswith(f"{name}/{batch}/"):
            assert np.array_equal(first[key], second[key]), key


def test_ranks_that_build_their_nets_apart_start_alike_and_end_alike(tmp_path):
    """digitnet.train(comm=world()) with a net built on each rank with its own seed (or none) and its own random
    generator: before, nothing made the ranks start alike, so each applied the averaged update to different
    weights and the ranks ended apart without a word. Rank 0's weights, statistics and random state go to all."""
    run_mpi(2, HERE / "mpi" / "unseeded.py", tmp_path)
    first, second = (dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2))
    assert first.keys() == second.keys() and "BatchNorm1.running_mean" in first
    for key in first:
        assert np.array_equal(first[key], second[key]), key


def test_an_uneven_batch_weighs_each_sample_once():
    """Without the n_local / n_global scaling, averaging two ranks' means of 3 and 4 samples would give
    the 3 samples more weight: the buffer's scaling is what makes the sum the mean of 7."""
    x, t = data(load_sample(), 7)
    net = build("two-layer", 7, 0, 7)
    whole_loss, whole = net.loss_and_gradient(x, t)
    whole = {k: v.copy() for k, v in whole.items()}
    total, naive = None, None
    for rank in range(2):
        lo, hi = shard(7, rank, 2)
        loss, grads = net.loss_and_gradient(x[lo:hi], t[lo:hi])
        buffer = GradientBuffer(net.params)
        buffer.pack(grads, float(loss), False, (hi - lo) / 7)
        total = buffer.flat.copy() if total is None else total + buffer.flat
        naive = grads["W1"] / 2 if naive is None else naive + grads["W1"] / 2
    np.testing.assert_allclose(total[:whole["W1"].size].reshape(whole["W1"].shape), whole["W1"], rtol=1e-4, atol=1e-7)
    assert total[GradientBuffer.LOSS] == pytest.approx(float(whole_loss), rel=1e-6)
    assert not np.allclose(naive, whole["W1"], rtol=1e-3, atol=1e-6)


def test_one_process_is_left_alone():
    """SingleProcess: the gradients come back as the very same arrays, unscaled, uncopied."""
    x, t = data(load_sample(), 10)
    net = build("two-layer", 10, 0, 10)
    loss, grads = net.loss_and_gradient(x, t)
    out, out_loss, stop = reduce_step(SingleProcess(), GradientBuffer(net.params), grads, float(loss), True, 10, 10)
    assert out is grads and out_loss == float(loss) and stop is True


def test_gradient_buffer_is_one_contiguous_array_of_every_parameter():
    net = build("deep-cnn", 1, 0, 1)
    buffer = GradientBuffer(net.params)
    assert buffer.flat.flags.c_contiguous and buffer.flat.dtype == np.float32
    assert buffer.flat.size == sum(v.size for v in net.params.values()) + 2
    assert all(np.shares_memory(view, buffer.flat) for view in buffer.grads.values())
    assert {k: v.shape for k, v in buffer.grads.items()} == {k: v.shape for k, v in net.params.items()}


def test_shards_cover_the_batch_once_and_differ_by_at_most_one():
    for n in (1, 7, 100, 101):
        for size in (1, 2, 3, 8):
            bounds = [shard(n, r, size) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("env, expected", [
    ({}, False),
    ({"PMI_RANK": "0", "PMI_SIZE": "2"}, True),  # MPICH / Intel MPI (hydra)
    ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "1"}, True),  # Open MPI
    ({"PMIX_RANK": "3"}, True),
    ({"SLURM_PROCID": "1", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8"}, True),  # srun
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "5"}, False),  # a batch script's own shell
])
def test_mpi_launchers_are_recognised(env, expected):
    assert launched_by_mpi(env) is expected


def test_workers_count_parsing():
    assert parse_workers("3") == 3
    assert parse_workers("auto") == usable_cores() >= 1
    for bad in ("0", "two"):
        with pytest.raises(ParallelError):
            parse_workers(bad)


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    import digitnet.parallel.launch

    monkeypatch.setattr(digitnet.parallel.launch, "mpi4py_installed", lambda: False)
    with pytest.raises(ParallelError, match=r"pip install 'digitnet\[mpi\]'"):
        find_mpiexec()


def test_warmup_ramps_linearly_into_the_schedule():
    """The linear scaling rule's warm-up (Goyal et al. 2017): lr * (step + 1) / steps, then the schedule."""
    from digitnet.optimizers import ConstantLR, CosineLR, WarmupLR

    warm = WarmupLR(ConstantLR(0.8), steps=4)
    assert [warm(s) for s in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.8, 0.8])
    # The ramp reaches lr, then the schedule starts (it was laid over a cosine already decaying, which it never
    # reached: a review); as PyTorch's SequentialLR of a LinearLR and the schedule.
    cosine = CosineLR(1.0, total_steps=90)
    warm = WarmupLR(cosine, steps=10)
    assert warm(4) == pytest.approx(0.5) and warm(9) == 1.0 and warm(10) == cosine(0) and warm(50) == cosine(40)


def test_warmup_then_a_cosine_matches_pytorch_sequential_lr():
    torch = pytest.importorskip("torch")
    from digitnet.optimizers import CosineLR, WarmupLR

    warm = WarmupLR(CosineLR(0.1, total_steps=15), steps=15)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / 15, total_iters=14),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=14)], milestones=[15])
    rates = []
    for _ in range(30):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert [warm(s) for s in range(30)] == pytest.approx(rates, abs=1e-12)


@pytest.mark.parametrize("model, n", [("mlp", 2), ("mlp", 3), ("deep-cnn", 2)])
def test_ranks_end_with_the_same_weights_and_a_rerun_repeats_them(tmp_path, model, n):
    """train() with the MPI communicator: an odd batch (101 or 31), augmentation and dropout from each rank's own
    stream, batch norm (mlp) with per-rank statistics averaged at each epoch's end. Every rank must hold the same
    bits at the end (they applied the same updates), and the same seed and N must give the same bits again."""
    digests = []
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        out.mkdir()
        run_mpi(n, HERE / "mpi" / "train_ranks.py", out, model)
        digests.append({(out / f"rank{r}.txt").read_text().split()[0] for r in range(n)})
    assert len(digests[0]) == 1, "the ranks' weights differ"
    assert digests[0] == digests[1], "the same seed and N gave other weights"


@pytest.mark.parametrize("size", [2, 3, 4])
def test_each_rank_gets_its_share_of_a_batchs_outliers(size):
    """A batch with outlier exposure is its digits, then its outliers; contiguous shares gave the last ranks every
    outlier and the first none (2 ranks: 75 digits and 0 outliers, 25 and 50), so batch norm on each rank saw a
    batch nothing like the whole (a review)."""
    from types import SimpleNamespace

    from digitnet.parallel.comm import DataParallel

    batch = np.concatenate([np.arange(100), 1000 + np.arange(50)])  # 100 digits, then 50 outliers
    shares = []
    for rank in range(size):
        team = DataParallel(SingleProcess(), None, np.random.default_rng(0))
        team.comm = SimpleNamespace(rank=rank, size=size)
        shares.append(team.share(batch))
    assert sorted(np.concatenate(shares).tolist()) == batch.tolist()  # every index once
    outliers = [int((share >= 1000).sum()) for share in shares]
    assert max(outliers) - min(outliers) <= 1 and max(map(len, shares)) - min(map(len, shares)) <= 1
