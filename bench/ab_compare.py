"""This checkout's digitnet against another checkout's, in one process: a DeepConvNet training step and an
inference batch, alternating A and B call by call, timed in CPU time.

    python bench/ab_compare.py OTHER_CHECKOUT [--steps 30] [--model deep-cnn]

On a machine shared with other work the wall clock says more about the neighbours than about the code: a
run that gets a third of a core takes three times as long. CPU time of one thread counts only this process's
own work (cache misses that the neighbours cause still count), and alternating call by call puts A and B
under the same conditions; the figure to read is the median of the per-call ratios B / A.
OTHER_CHECKOUT's digitnet package is copied into a temporary folder under another name and imported beside
this one; both nets start from the same weights and see the same batches.
"""
import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from options import positive  # bench/ is on sys.path: this script's folder
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def load_other(checkout, folder):
    """The digitnet package of another checkout, imported as digitnet_other (its imports are relative)."""
    shutil.copytree(Path(checkout) / "digitnet", Path(folder) / "digitnet_other")
    sys.path.insert(0, folder)
    return importlib.import_module("digitnet_other.nets.factory")


def alternate(calls, rounds):
    """{name: CPU seconds of each round} for calls {name: fn}, their order swapped every round."""
    times = {name: [] for name in calls}
    names = list(calls)
    for i in range(rounds):
        for name in names if i % 2 else names[::-1]:
            start = time.process_time()
            calls[name]()
            times[name].append(time.process_time() - start)
    return times


def report(what, times, warmup=2):
    a, b = (times[k][warmup:] for k in ("other", "this"))
    ratio = statistics.median(y / x for x, y in zip(a, b))
    print(f"{what}: other {statistics.median(a) * 1e3:.1f} ms, this {statistics.median(b) * 1e3:.1f} ms "
          f"(CPU, medians); this / other {ratio:.3f} (median of {len(a)} alternating pairs)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", type=Path, help="the other checkout (its folder holds digitnet/)")
    ap.add_argument("--steps", type=positive(int), default=30)
    ap.add_argument("--model", default="deep-cnn")
    args = ap.parse_args()
    if not (args.other / "digitnet" / "__init__.py").is_file():
        ap.error(f"{args.other}: no digitnet package in that folder (give the other checkout's root)")
    threadpool_limits(1)
    from digitnet.allocator import keep_freed_memory
    from digitnet.nets.factory import build_net

    keep_freed_memory()  # as the digitnet command does; both sides share the process
    from digitnet.optimizers import Adam

    with tempfile.TemporaryDirectory() as folder:
        other = load_other(args.other, folder)
        nets = {"other": other.build_net(args.model, rng=np.random.default_rng(0), dtype=np.float32),
                "this": build_net(args.model, rng=np.random.default_rng(0), dtype=np.float32)}
        rng = np.random.default_rng(1)
        x = rng.random((100, 784), dtype=np.float32)
        t = rng.integers(0, 10, 100)
        optimizers = {name: Adam() for name in nets}

        def step(name):
            loss, grads = nets[name].loss_and_gradient(x, t)
            optimizers[name].update(nets[name].params, grads)

        def inference(name):  # the cache-free pass where a checkout has one
            net = nets[name]
            return net.infer(x) if hasattr(net, "infer") else net.predict(x)

        report("training step, batch 100", alternate({n: (lambda n=n: step(n)) for n in nets}, args.steps + 2))
        report("inference, batch 100", alternate({n: (lambda n=n: inference(n)) for n in nets}, args.steps + 2))


if __name__ == "__main__":
    main()
