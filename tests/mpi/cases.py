"""The four networks as the 2-rank gradient test builds them (tests/mpi/gradients.py and test_parallel.py)."""
import numpy as np

from digitnet.nets.factory import build_net

# mlp: weight decay (each rank's lambda*W must sum to one lambda*W) and dropout, batch norm off (with batch
# norm each rank normalises by its own slice's statistics, so the gradients differ by design, as in DDP).
CASES = {
    "two-layer": {},
    "mlp": {"hidden": [100, 100], "weight_decay": 0.1, "dropout": 0.3},
    "simple-cnn": {"weight_decay": 0.01},
    "deep-cnn": {},
}


class SlicedMasks:
    """Stands in for a dropout layer's rng: the whole batch's uniform numbers, drawn once from a fixed seed,
    of which each rank sees its own rows [lo, hi). So one process and two ranks drop the same units."""

    def __init__(self, seed, batch, lo, hi):
        self.rng, self.batch, self.lo, self.hi = np.random.default_rng(seed), batch, lo, hi

    def random(self, shape):
        whole = self.rng.random((self.batch, *shape[1:]))
        return whole[self.lo:self.hi]


def build(name, batch, lo, hi):
    """The case's net, seeded, float32, its dropout layers fed SlicedMasks."""
    net = build_net(name, rng=np.random.default_rng(0), dtype=np.float32, **CASES[name])
    for i, layer in enumerate(layer for layer in net.layers.values() if hasattr(layer, "dropout_ratio")):
        layer.rng = SlicedMasks(100 + i, batch, lo, hi)
    return net


def data(sample, batch):
    return sample.x_train[:batch], sample.t_train[:batch]
