"""Where one training step's time goes, layer by layer: forward and backward of every layer, the loss, the
optimizer update and the batch gather, as medians over many steps.

    python bench/step_profile.py [two-layer|deep-cnn|simple-cnn|mlp] [--steps N] [--threads 1]

It times the same calls train() makes, one at a time, so the parts add up to slightly more than a real step.
"""
import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitnet.allocator import keep_freed_memory
from digitnet.data.mnist import resolve_dataset
from digitnet.nets.factory import build_net
from digitnet.optimizers import SGD, Adam

# As bench.py: $DIGITNET_TEST_DATA, else ../shared/data/mnist-10k; without it, the cache or the offline sample.
DEFAULT_DATA = Path(os.environ.get("DIGITNET_TEST_DATA")
                    or Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist-10k")
RECIPES = {"two-layer": ((50,), SGD(0.1), 2_000), "mlp": ((256, 256), Adam(), 500),
           "simple-cnn": (None, Adam(), 30), "deep-cnn": (None, Adam(), 10)}


def profile(model, steps, data):
    hidden, opt, default_steps = RECIPES[model]
    steps = steps or default_steps
    net = build_net(model, hidden=hidden, rng=np.random.default_rng(0), dtype=np.float32)
    rng = np.random.default_rng(0)
    times = defaultdict(list)

    def timed(name, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        times[name].append(time.perf_counter() - start)
        return out

    layers = list(net.layers.items())
    for _ in range(steps + 2):
        idx = rng.integers(0, len(data.x_train), 100)
        x = timed("gather batch", data.x_train.take, idx, 0)
        t = data.t_train.take(idx, axis=0)
        if x.ndim == 2 and hasattr(net, "input_dim"):
            x = x.reshape(x.shape[0], *net.input_dim)
        for name, layer in layers:
            x = timed(f"{name} forward", layer.forward, *((x, True) if hasattr(layer, "train_flg_aware") else (x,)))
        timed("loss forward", net.lastLayer.forward, x, t)
        dout = timed("loss backward", net.lastLayer.backward, 1)
        for i, (name, layer) in reversed(list(enumerate(layers))):
            if i == 0:
                timed(f"{name} backward", lambda d, layer=layer: layer.backward(d, need_dx=False), dout)
            else:
                dout = timed(f"{name} backward", layer.backward, dout)
        grads = {k: getattr(net.layers[n], "d" + a) for k, (n, a) in net.param_owner.items()}
        timed("optimizer update", opt.update, net.params, grads)
    medians = {k: statistics.median(v[2:]) for k, v in times.items()}  # the first two steps warm up
    total = sum(medians.values())
    print(f"{model}: one step of batch 100, medians over {steps} steps, {total * 1e3:.2f} ms in all\n")
    for name, sec in sorted(medians.items(), key=lambda kv: -kv[1]):
        if sec / total >= 0.005:
            print(f"  {name:22s} {sec * 1e6:10,.0f} µs  {sec / total:6.1%}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", choices=[[], *RECIPES], metavar="MODEL")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    args = ap.parse_args()
    threadpool_limits(args.threads)
    keep_freed_memory()  # as the digitnet command does
    data, _ = resolve_dataset(args.data_dir, offline=True)
    for model in args.models or ["two-layer", "deep-cnn"]:
        profile(model, args.steps, data)


if __name__ == "__main__":
    main()
