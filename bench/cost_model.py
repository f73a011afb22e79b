"""The cost model of data-parallel training (docs/cluster.md): one step's compute against its Allreduce.

    python bench/cost_model.py [--batch 100] [--workers 2 8 64]

A step on N workers takes the compute of the largest share of the batch, plus one ring Allreduce of the flat
gradient buffer (every parameter's gradient, float32, and two slots: the loss and the stop flag):

    compute(b)   = fixed + per_sample * b                 (b = ceil(batch / N) samples on the slowest rank)
    allreduce(N) = 2 (N - 1) / N * bytes / bandwidth  +  2 (N - 1) * latency

The compute figures are one core of the 2-core development machine (issue 12's measurements); on other cores
scale both terms of compute alike. The byte counts come from the networks themselves.
"""
import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options import positive  # bench/ is on sys.path: this script's folder

from digitnet.nets.factory import build_net
from digitnet.parallel import GradientBuffer

# (fixed µs a step, µs per sample): one process, one core, float32; Adam for the CNNs, SGD for two-layer
# (DeepConvNet and the recipe: issue 12's quiet-machine figures; SimpleConvNet: bench/bench.py, 20.8 ms at 100).
COMPUTE_US = {"two-layer": (90.0, 1.4), "simple-cnn": (700.0, 200.0), "deep-cnn": (1_500.0, 790.0)}
NETWORKS = {"10 Gb/s Ethernet (TCP)": (10e9 / 8, 25e-6), "100 Gb/s InfiniBand": (100e9 / 8, 2e-6)}


def allreduce_s(nbytes, n, bandwidth, latency):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def step_s(model, batch, n, nbytes, bandwidth, latency):
    fixed, per_sample = COMPUTE_US[model]
    return (fixed + per_sample * math.ceil(batch / n)) * 1e-6 + allreduce_s(nbytes, n, bandwidth, latency)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=positive(int), nargs="+", default=[100])
    ap.add_argument("--workers", type=positive(int), nargs="+", default=[2, 8, 64])
    args = ap.parse_args(argv)
    for model in COMPUTE_US:
        nbytes = GradientBuffer(build_net(model).params).nbytes
        print(f"\n{model}: {nbytes:,} bytes Allreduced a step")
        for batch in args.batch:
            one = step_s(model, batch, 1, nbytes, 1, 0)
            print(f"  global batch {batch}: one process {one * 1e3:.2f} ms a step")
            print(f"    {'network':26s} {'N':>3s} {'compute ms':>10s} {'allreduce ms':>12s} {'step ms':>8s} "
                  f"{'speedup':>7s} {'efficiency':>10s}")
            for name, (bandwidth, latency) in NETWORKS.items():
                for n in args.workers:
                    reduce = allreduce_s(nbytes, n, bandwidth, latency)
                    step = step_s(model, batch, n, nbytes, bandwidth, latency)
                    print(f"    {name:26s} {n:3d} {(step - reduce) * 1e3:10.2f} {reduce * 1e3:12.3f} "
                          f"{step * 1e3:8.2f} {one / step:7.1f} {one / step / n:10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
