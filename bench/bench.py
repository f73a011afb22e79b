"""digitnet against PyTorch on the CPU: the same training, side by side, in one invocation.

    python bench/bench.py [CASE ...] [--threads 1] [--repeats 3] [--data-dir DIR]

Every case runs with digitnet and, when it can be imported, PyTorch: the same architecture, the same initial
weights (copied from the digitnet net), the same batches in the same order, the same optimizer settings
and the same thread count (BLAS for NumPy, torch.set_num_threads for PyTorch). Repeats alternate between
the two; the table shows medians and their ratio. Peak memory is each implementation's own process:
the case is run once more in a child process that imports only what it needs, and its peak RSS is read
("peak RSS"), and how far the run itself took the process above the RSS it had with the data loaded and the
library imported ("run peak": for inference, the memory a forward pass over the test set needs). For an
inference case at one thread a "cpu ratio" row adds the ratio of the two runs' process CPU time, which on a
busy machine leaves out the waits for a core that the wall clock counts.

With --workers N, digitnet also runs as N MPI processes (data-parallel: each computes the gradient of its
share of every batch, one Allreduce a step; pip install 'digitnet[mpi]') against PyTorch with N threads,
and the table adds digitnet's speedup of N workers over one process, alternating with the others.

The timings count the training steps only (digitnet's train() reports that time without its per-epoch
evaluation), or the forward passes for inference. Compare ratios from one run, never absolute figures
across runs: the machine's other work moves them.

Each side runs at its best settings: OPENBLAS_CORETYPE, which makes OpenBLAS run other kernels than the ones it
picks for the CPU (this project's machines set Haswell's AVX2 kernels on AVX-512 CPUs, which made DeepConvNet's
step about 1.5 x slower; PyTorch picks its own kernels whatever it says), is dropped before NumPy loads, unless
--blas-as-set asks to measure with it. The header names the kernels NumPy runs. PyTorch's convolutional twins
run channels-last, the memory layout its CPU convolutions are fastest in (--torch-nchw: its NCHW default, which
was 1.2 to 1.6 x slower for DeepConvNet on this project's machines).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if "--blas-as-set" not in sys.argv:  # before NumPy loads OpenBLAS, which reads it then (see the docstring)
    os.environ.pop("OPENBLAS_CORETYPE", None)

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from options import positive  # noqa: E402  (bench/ is on sys.path: this script's folder)

from digitnet.allocator import keep_freed_memory  # noqa: E402  (sys.path is set above)
from digitnet.data.mnist import resolve_dataset  # noqa: E402  (sys.path is set above)
from digitnet.errors import DigitnetError  # noqa: E402  (sys.path is set above)
from digitnet.nets import FastConvNet  # noqa: E402  (sys.path is set above)
from digitnet.nets.factory import build_net  # noqa: E402  (sys.path is set above)
from digitnet.optimizers import OPTIMIZERS  # noqa: E402  (sys.path is set above)
from digitnet.train import batch_indices, train  # noqa: E402  (sys.path is set above)

# Real MNIST (official test set, first 10,000 training digits) where the tests find it: $DIGITNET_TEST_DATA,
# else ../shared/data/mnist-10k; without it, the cache or the offline sample.
DEFAULT_DATA = Path(os.environ.get("DIGITNET_TEST_DATA") or HERE.parent.parent / "shared" / "data" / "mnist-10k")


@dataclass
class Case:
    about: str
    model: str
    hidden: tuple = None
    optimizer: str = "adam"
    lr: float = 1e-3
    steps: int = 0  # 0: an inference case
    sampling: str = "shuffle"
    batch_size: int = 100
    test_images: int = 10_000  # inference cases
    label_smoothing: float = 0.0


CASES = {
    "two-layer": Case("the book's recipe: 784-50-10, SGD lr 0.1, batch 100, 10,000 steps drawn with replacement",
                      "two-layer", (50,), "sgd", 0.1, 10_000, "replacement"),
    "mlp-adam": Case("784-256-256-10 relu, He init, Adam lr 0.001, batch 100, 2,000 steps (20 epochs)",
                     "mlp", (256, 256), steps=2_000),
    "simple-cnn": Case("the book's SimpleConvNet (ch. 7), Adam lr 0.001, batch 100, 100 steps",
                       "simple-cnn", steps=100),
    "deep-cnn": Case("the book's DeepConvNet (ch. 8), Adam lr 0.001, batch 100, 20 steps", "deep-cnn", steps=20),
    "fast-cnn": Case("FastConvNet (--model fast-cnn): 3 x conv-batch norm-relu-pool, its recipe's optimizer, "
                     "batch and label smoothing, 100 steps", "fast-cnn", steps=100,
                     **{k: FastConvNet.recipe[k] for k in ("optimizer", "lr", "batch_size", "label_smoothing")}),
    # batch 100: PyTorch is fastest at batches of 100-250 on this CPU and 25-40 % slower at 1,000, which
    # flattered digitnet; 100 is the book's batch and near each side's fastest
    "deep-cnn-inference": Case("DeepConvNet (He-initialised) predicting the 10,000 test images in batches of 100",
                               "deep-cnn", batch_size=100),
}
SEED = 0


def make_net(case):
    return build_net(case.model, hidden=case.hidden, label_smoothing=case.label_smoothing,
                     rng=np.random.default_rng(SEED), dtype=np.float32)


def run_digitnet(case, data):
    """One run: (seconds, result). result: test accuracy, or the logits for an inference case."""
    net = make_net(case)
    if not case.steps:
        start = time.perf_counter()
        x = data.x_test[:case.test_images]
        scores = np.concatenate([net.infer(x[i:i + case.batch_size]) for i in range(0, len(x), case.batch_size)])
        return time.perf_counter() - start, scores
    opt = OPTIMIZERS[case.optimizer](lr=case.lr)
    history = train(net, data.x_train, data.t_train, iters=case.steps, batch_size=case.batch_size, optimizer=opt,
                    sampling=case.sampling, rng=np.random.default_rng(SEED), train_eval_size=case.batch_size)
    return history[-1]["train_time_s"], net.accuracy(data.x_test, data.t_test)


TORCH_CHANNELS_LAST = True  # --torch-nchw: False


def run_torch(case, data):
    import torch_twins
    model = torch_twins.twin(make_net(case), channels_last=TORCH_CHANNELS_LAST)
    x_train, x_test = (x.reshape(-1, 1, 28, 28) if "cnn" in case.model else x for x in (data.x_train, data.x_test))
    if not case.steps:
        start = time.perf_counter()
        scores = torch_twins.predict(model, x_test[:case.test_images], case.batch_size)
        return time.perf_counter() - start, scores
    opt = torch_twins.optimizer(case.optimizer, model, case.lr)
    batches = batch_indices(len(x_train), case.batch_size, case.steps, case.sampling, np.random.default_rng(SEED))
    start = time.perf_counter()
    torch_twins.train_steps(model, opt, x_train, data.t_train, batches, case.label_smoothing)
    seconds = time.perf_counter() - start
    return seconds, float(np.mean(torch_twins.predict(model, x_test, 1000).argmax(1) == data.t_test))


RUNNERS = {"digitnet": run_digitnet, "pytorch": run_torch}


def run_digitnet_workers(case_name, args):
    """A runner for digitnet as args.workers MPI processes: starts this script under mpiexec (--mpi-child)."""
    from digitnet.parallel.launch import find_mpiexec

    mpiexec = find_mpiexec()

    def run(case, data):
        with tempfile.TemporaryDirectory() as folder:
            result = Path(folder) / "result.npz"
            cmd = [mpiexec, "-n", str(args.workers), sys.executable, __file__, case_name, "--mpi-child",
                   str(result), *child_settings(args)]
            subprocess.run(cmd, check=True, timeout=3600, env=dict(os.environ, OMP_NUM_THREADS="1"))
            with np.load(result) as saved:
                return float(saved["seconds"]), saved["result"][()] if case.steps else saved["result"]
    return run


def mpi_child(case, data, result_path):
    """Under mpiexec: run the case data-parallel; rank 0 saves (seconds, result) to result_path.

    Training: train() with the MPI communicator, its own clock of the steps. Inference: each rank predicts
    its share of the test images; the time runs from a barrier to rank 0 holding every rank's logits."""
    from digitnet.parallel import shard, world

    comm = world()
    net = make_net(case)
    if case.steps:
        opt = OPTIMIZERS[case.optimizer](lr=case.lr)
        history = train(net, data.x_train, data.t_train, iters=case.steps, batch_size=case.batch_size,
                        optimizer=opt, sampling=case.sampling, rng=np.random.default_rng(SEED),
                        train_eval_size=case.batch_size, comm=comm)
        seconds, result = history[-1]["train_time_s"], net.accuracy(data.x_test, data.t_test)
    else:
        x = data.x_test[:case.test_images]
        lo, hi = shard(len(x), comm.rank, comm.size)
        comm.barrier()
        start = time.perf_counter()
        scores = [net.infer(x[i:min(i + case.batch_size, hi)]) for i in range(lo, hi, case.batch_size)]
        gathered = comm.gather(np.concatenate(scores))
        seconds = time.perf_counter() - start
        result = np.concatenate(gathered) if comm.rank == 0 else None
    if comm.rank == 0:
        np.savez(result_path, seconds=seconds, result=result)


def set_threads(threads, with_torch, torch_threads=None):
    threadpool_limits(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if with_torch:
        import torch
        torch.set_num_threads(torch_threads or threads)


def load(data_dir):
    try:
        data, notice = resolve_dataset(data_dir, offline=True)
    except DigitnetError as e:  # a folder that is not there or holds no MNIST: one line, as the CLI says it
        sys.exit(f"bench.py: {e}")
    if notice:
        print(notice)
    return data


def peak_rss_mb(field="VmHWM"):
    """This process's peak resident set (VmHWM; field="VmRSS": the current one). Not getrusage's ru_maxrss: a
    child inherits its parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: not Linux


def restart_peak_rss():
    """Start the peak resident set afresh from the current one (Linux's clear_refs 5): the current RSS in MB,
    or None where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return peak_rss_mb("VmRSS")


def child_peak_rss(impl, case_name, args):
    """Memory of a fresh process that loads the data and runs the case once with impl alone: {"peak_rss_mb":
    the whole process's peak RSS, "run_mb": how far the run took it above the RSS it had once the data were
    loaded and the library imported (None where the peak cannot be restarted)}."""
    cmd = [sys.executable, __file__, case_name, "--child", impl, "--threads", str(args.threads),
           *child_settings(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_settings(args):
    """The options a child process (an MPI rank, a memory probe) needs to run the case as this one does."""
    return (["--scale", str(args.scale)] + (["--data-dir", str(args.data_dir)] if args.data_dir else [])
            + (["--blas-as-set"] if args.blas_as_set else []) + (["--torch-nchw"] if args.torch_nchw else []))


def matmul_bound(data, steps=2_000):
    """µs per step spent in the seed recipe's five matrix products alone, on the same shapes: the floor."""
    rng = np.random.default_rng(SEED)
    x = data.x_train[:100]
    W1, W2 = rng.standard_normal((784, 50), dtype=np.float32), rng.standard_normal((50, 10), dtype=np.float32)
    h, s = x @ W1, rng.standard_normal((100, 10), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        x @ W1, h @ W2, s @ W2.T, h.T @ s, x.T @ h
    return (time.perf_counter() - start) / steps * 1e6


def blas_kernels():
    """Which kernels NumPy's BLAS runs, and OPENBLAS_CORETYPE where it is set: it overrides OpenBLAS's choice. On the
    AVX-512 machine of docs/performance.md, OPENBLAS_CORETYPE=Haswell (AVX2 kernels) made DeepConvNet's training step
    about 1.5x slower than the SkylakeX (AVX-512) kernels OpenBLAS picks itself there; PyTorch is not affected."""
    kinds = [f"{i.get('internal_api', i['prefix'])} {i.get('architecture', '?')} kernels"
             for i in threadpool_info() if i["user_api"] == "blas"]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return ", ".join(kinds or ["BLAS unknown"]) + (f", forced by OPENBLAS_CORETYPE={forced}" if forced else "")


def busy_note(runs, threads):
    """A warning when the machine was busy during these runs: (wall s, cpu s, load average) each.

    With one thread a run that got less than 85 % of a core lost time to another process; with any thread
    count, a load average above the core count means others wanted the CPU too."""
    cores = os.cpu_count() or 1
    shares = [cpu / wall for wall, cpu, _ in runs if wall]
    loads = [load for _, _, load in runs]
    notes = []
    if threads == 1 and shares and min(shares) < 0.85:
        notes.append(f"got as little as {min(shares):.0%} of a core")
    if max(loads) > cores + 0.5:
        notes.append(f"load average up to {max(loads):.1f} on {cores} cores")
    return "BUSY: " + ", ".join(notes) if notes else ""


def print_ratios(name, case, runs, outcome, workers):
    """The ratio rows under a case: digitnet / PyTorch for each digitnet run, and N workers' speedup."""
    # each repeat's runs are neighbours in time, so their ratio sees the same machine: the median of those
    # ratios is steadier on a noisy machine than the ratio of the medians
    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(runs[a], runs[b]))

    rows = []
    for impl in ("digitnet", workers):
        if impl is None or "pytorch" not in runs:
            continue
        extra = ""
        if not case.steps:
            a, b = outcome[impl], outcome["pytorch"]
            extra = (f"; predictions agree on {np.mean(a.argmax(1) == b.argmax(1)):.2%}, "
                     f"max |logit difference| {np.abs(a - b).max():.1e}")
        r = ratio(impl, "pytorch")
        print(f"{'':20s} {'ratio':9s} {r:9.2f}  digitnet{' ' + workers if impl == workers else ''} / PyTorch time, "
              f"median of the repeats' ratios{extra}")
        rows.append({"case": name, "digitnet_run": impl, "ratio_digitnet_over_pytorch": r})
    if workers:
        speedup = ratio("digitnet", workers)
        print(f"{'':20s} {'speedup':9s} {speedup:9.2f}  digitnet 1 process / {workers} time: the {workers}' "
              f"step is {1 / speedup:.2f}x one process's")
        rows.append({"case": name, "speedup_workers_over_one": speedup, "workers": int(workers.split()[0])})
    return rows


def print_cpu_ratio(name, usage):
    """An inference case's digitnet / PyTorch ratio in process CPU time, one thread each: on a machine whose other
    work takes part of the core, the wall clock also counts the waits for it, CPU time only the run's own work."""
    r = statistics.median(d[1] / t[1] for d, t in zip(usage["digitnet"], usage["pytorch"]))
    print(f"{'':20s} {'cpu ratio':9s} {r:9.2f}  digitnet / PyTorch CPU time of the whole run (the net built, "
          f"then the forward passes), median of the repeats' ratios")
    return {"case": name, "cpu_ratio_digitnet_over_pytorch": r}


# long: the benchmark's options, then its cases in order; splitting it would scatter the options
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", choices=[[], *CASES], metavar="CASE", help=f"any of {', '.join(CASES)}")
    ap.add_argument("--threads", type=positive(int), default=1, help="BLAS / torch threads for both (default 1)")
    ap.add_argument("--workers", type=positive(int), default=1,
                    help="also run digitnet as N MPI processes, against PyTorch with N threads (default 1: no)")
    ap.add_argument("--repeats", type=positive(int), default=3)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    ap.add_argument("--no-memory", action="store_true", help="skip the child processes that measure peak RSS")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--blas-as-set", action="store_true",
                    help="keep OPENBLAS_CORETYPE as the environment sets it (default: OpenBLAS picks its kernels)")
    ap.add_argument("--torch-nchw", action="store_true",
                    help="PyTorch's conv nets in its default NCHW layout (default: channels-last, its fastest on CPU)")
    ap.add_argument("--scale", type=positive(float), default=1.0,
                    help="multiply every case's steps and test images by this (a quick smoke run: 0.02)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", choices=RUNNERS, help=argparse.SUPPRESS)
    ap.add_argument("--mpi-child", type=Path, metavar="RESULT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global TORCH_CHANNELS_LAST
    TORCH_CHANNELS_LAST = not args.torch_nchw
    cases = args.cases or list(CASES)
    if args.scale != 1.0:
        for case in CASES.values():
            case.steps = max(1, round(case.steps * args.scale)) if case.steps else 0
            case.test_images = max(case.batch_size, round(case.test_images * args.scale))

    if args.mpi_child:  # one rank of a --workers run
        set_threads(1, False)
        keep_freed_memory()
        mpi_child(CASES[cases[0]], load(args.data_dir), args.mpi_child)
        return 0
    if args.child:  # a memory probe: one case, one implementation, nothing else imported
        set_threads(args.threads, args.child == "pytorch")
        data = load(args.data_dir)
        if args.child == "pytorch":
            import torch_twins  # noqa: F401  (imported before the peak restarts: library code is not the run's)
        loading_peak, before = peak_rss_mb(), restart_peak_rss()
        RUNNERS[args.child](CASES[cases[0]], data)
        run_mb = None if before is None else peak_rss_mb() - before
        print(json.dumps({"peak_rss_mb": max(loading_peak, peak_rss_mb()), "run_mb": run_mb}))
        return 0
    # for the timings, as the digitnet command does (not in the memory probes: memory the loading freed would
    # stay resident and hide the run's own); one process, so PyTorch's arrays are reused the same way
    keep_freed_memory()

    impls = ["digitnet"]
    if not args.no_torch:
        try:
            import torch
            impls.append("pytorch")
            sys.path.insert(0, str(HERE))
        except ImportError:
            print("PyTorch is not installed (pip install torch==2.13.0): digitnet alone.")
    workers = f"{args.workers} workers" if args.workers > 1 else None
    if workers:
        impls.append(workers)
    torch_threads = max(args.threads, args.workers)
    set_threads(args.threads, "pytorch" in impls, torch_threads)
    data = load(args.data_dir)
    versions = (f"NumPy {np.__version__} ({blas_kernels()})"
                + (f", PyTorch {torch.__version__} (conv nets {'NCHW' if args.torch_nchw else 'channels-last'})"
                   if "pytorch" in impls else ""))
    threads = (f"digitnet {args.threads} thread(s) a process, {workers or '1 process'}; PyTorch {torch_threads} "
               f"thread(s)" if workers else f"{args.threads} thread(s)")
    print(f"{data.name}: {data.n_train:,} train / {data.n_test:,} test; {threads}; "
          f"{args.repeats} alternating repeats; {versions}; load average {os.getloadavg()[0]:.2f}\n")

    results = []
    header = (f"{'case':20s} {'impl':9s} {'median s':>9s} {'µs/step':>9s} {'accuracy':>9s} {'peak RSS':>9s} "
              f"{'run peak':>9s}  notes")
    print(header)
    print("-" * len(header))
    for name in cases:
        case = CASES[name]
        runners = dict(RUNNERS, **({workers: run_digitnet_workers(name, args)} if workers else {}))
        runs = {impl: [] for impl in impls}
        usage = {impl: [] for impl in impls}
        outcome = {}
        for _ in range(args.repeats):
            for impl in impls:
                cpu, wall = time.process_time(), time.perf_counter()
                seconds, outcome[impl] = runners[impl](case, data)
                usage[impl].append((time.perf_counter() - wall, time.process_time() - cpu, os.getloadavg()[0]))
                runs[impl].append(seconds)
        for impl in impls:
            times = runs[impl]
            median = statistics.median(times)
            notes = [busy_note(usage[impl], args.threads if impl == "digitnet" else torch_threads)]
            if len(times) > 1 and (max(times) - min(times)) / median > 0.2:
                notes.append(f"repeats spread {min(times):.2f}-{max(times):.2f} s")
            row = {"case": name, "impl": impl, "median_s": median, "times_s": times,
                   "threads": torch_threads if impl == "pytorch" else args.threads,
                   "processes": args.workers if impl == workers else 1}
            if case.steps:
                row["us_per_step"] = median / case.steps * 1e6
                row["test_accuracy"] = outcome[impl]
            if not args.no_memory and impl in RUNNERS:
                row.update(child_peak_rss(impl, name, args))
            row["notes"] = [n for n in notes if n]
            results.append(row)
            acc = f"{row['test_accuracy']:.2%}" if case.steps else ""
            step = f"{row['us_per_step']:,.0f}" if case.steps else ""
            rss = f"{row['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in row else ""
            run_mb = f"{row['run_mb']:.0f} MB" if row.get("run_mb") is not None else ""
            print(f"{name if impl == 'digitnet' else '':20s} {impl:9s} {median:9.3f} {step:>9s} {acc:>9s} "
                  f"{rss:>9s} {run_mb:>9s}  {'; '.join(row['notes'])}")
        results += print_ratios(name, case, runs, outcome, workers)
        if not case.steps and args.threads == 1 and not workers and "pytorch" in usage:
            results.append(print_cpu_ratio(name, usage))
        if name == "two-layer":
            bound = matmul_bound(data)
            mine = statistics.median(runs["digitnet"]) / case.steps * 1e6
            print(f"{'':20s} {'matmuls':9s} {'':9s} {bound:9,.0f}  the five matrix products alone: "
                  f"digitnet's step is {mine / bound:.2f}x that floor")
            results.append({"case": name, "matmul_bound_us_per_step": bound})
        print()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
