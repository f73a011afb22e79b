"""Run under `mpiexec -n N`: each rank builds its net with a seed of its own (as a net built without one would
start) and trains it with digitnet.train(comm=world()), its own random generator too.

    mpiexec -n 2 python tests/mpi/unseeded.py OUT_DIR

Writes OUT_DIR/rank<r>.npz: the weights this rank ended with. tests/test_parallel.py checks that they are the
same on every rank.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import digitnet
from digitnet.data import load_sample
from digitnet.parallel import world


def main(out):
    comm = world()
    sample = load_sample()
    net = digitnet.MultiLayerNet(784, [20], 10, use_batchnorm=True, rng=np.random.default_rng(100 + comm.rank))
    digitnet.train(net, sample.x_train[:2000], sample.t_train[:2000], iters=30, batch_size=50,
                   rng=np.random.default_rng(200 + comm.rank), comm=comm)
    np.savez(Path(out) / f"rank{comm.rank}.npz", **net.params, **net.buffers())


if __name__ == "__main__":
    main(sys.argv[1])
