"""Run under `mpiexec -n N`: train a small net data-parallel through digitnet.train.train with the MPI
communicator; every rank writes the SHA-256 of its final weights (and batch norm statistics).

    mpiexec -n 2 python tests/mpi/train_ranks.py OUT_DIR MODEL

tests/test_parallel.py checks that the ranks agree, and that a second run gives the same bits.
"""
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from digitnet.augment import Augmenter
from digitnet.data import load_sample
from digitnet.nets.factory import build_net
from digitnet.optimizers import Adam
from digitnet.parallel import world
from digitnet.train import train

OPTIONS = {"mlp": {"hidden": [64, 32], "dropout": 0.3, "batch_norm": True, "weight_decay": 0.01},
           "deep-cnn": {}}


def main(out, model):
    comm = world()
    sample = load_sample()
    small = model == "deep-cnn"  # the slowest net: fewer, smaller steps
    x, t = sample.x_train[:600], sample.t_train[:600]
    rng = np.random.default_rng(7)
    net = build_net(model, rng=rng, dtype=np.float32, **OPTIONS[model])
    history = train(net, x, t, sample.x_test[:100 if small else 300], sample.t_test[:100 if small else 300],
                    iters=2 if small else 6, batch_size=31 if small else 101,
                    optimizer=Adam(0.01), augment=Augmenter(max_shift=2.0, max_rotation=10.0), rng=rng,
                    train_eval_size=100 if small else 200, comm=comm)
    digest = hashlib.sha256()
    for key, value in sorted(net.state_arrays().items()):
        digest.update(key.encode() + np.ascontiguousarray(value).tobytes())
    Path(out, f"rank{comm.rank}.txt").write_text(f"{digest.hexdigest()} {history[-1]['test_acc']}\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
