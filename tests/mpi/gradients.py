"""Run under `mpiexec -n N`: each rank computes the gradient of its slice of a batch, then one Allreduce.

    mpiexec -n 2 python tests/mpi/gradients.py OUT_DIR

Writes OUT_DIR/rank<r>.npz holding, for every case, the reduced gradient and loss this rank ended with.
tests/test_parallel.py compares them with the single-process gradient of the whole batch.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from digitnet.data import load_sample
from digitnet.parallel import GradientBuffer, reduce_step, shard, world

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, build, data


def main(out):
    comm = world()
    sample = load_sample()
    results = {}
    for name in CASES:
        for batch in (7, 101):
            x, t = data(sample, batch)
            lo, hi = shard(batch, comm.rank, comm.size)
            net = build(name, batch, lo, hi)
            loss, grads = net.loss_and_gradient(x[lo:hi], t[lo:hi])
            grads, loss, stop = reduce_step(comm, GradientBuffer(net.params), grads, float(loss), False, hi - lo, batch)
            for key, value in grads.items():
                results[f"{name}/{batch}/{key}"] = value.copy()
            results[f"{name}/{batch}/loss"] = np.array(loss)
    np.savez(Path(out) / f"rank{comm.rank}.npz", **results)


if __name__ == "__main__":
    main(sys.argv[1])
