"""Where one training step's time goes, layer by layer: forward and backward of every layer, the loss, the
optimizer update and the batch gather, as medians over many steps.

    python bench/step_profile.py [two-layer|deep-cnn|simple-cnn|mlp|fast-cnn] [--steps N] [--threads 1]

It times the calls train()'s loss_and_gradient makes, in its order (net.training_layers(): a ReLU before a 2x2
pooling runs after it), one at a time, so the parts add up to slightly more than a real step. With one thread
(the default) each call's process CPU time is measured, which leaves out waits for a core on a busy machine;
with more, the wall clock (CPU time would add up the threads).
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

from options import positive  # bench/ is on sys.path: this script's folder

from digitnet.allocator import keep_freed_memory
from digitnet.data.mnist import resolve_dataset
from digitnet.errors import DigitnetError
from digitnet.nets.factory import build_net
from digitnet.optimizers import SGD, Adam, Nesterov

# As bench.py: $DIGITNET_TEST_DATA, else ../shared/data/mnist-10k; without it, the cache or the offline sample.
DEFAULT_DATA = Path(os.environ.get("DIGITNET_TEST_DATA")
                    or Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist-10k")
RECIPES = {"two-layer": ((50,), SGD(0.1), 2_000), "mlp": ((256, 256), Adam(), 500),
           "simple-cnn": (None, Adam(), 30), "deep-cnn": (None, Adam(), 10),
           "fast-cnn": (None, Nesterov(0.1), 20)}  # its recipe's optimizer (weight decay left out)


def in_training_order(net):
    """[(name, layer)] in the order loss_and_gradient runs them (net.training_layers()), with the book's names."""
    names = {id(layer): name for name, layer in net.layers.items()}
    return [(names[id(layer)], layer) for layer in net.training_layers()]


def profile(model, steps, data, clock=time.process_time):
    hidden, opt, default_steps = RECIPES[model]
    steps = steps or default_steps
    net = build_net(model, hidden=hidden, rng=np.random.default_rng(0), dtype=np.float32)
    rng = np.random.default_rng(0)
    times = defaultdict(list)

    def timed(name, fn, *args):
        start = clock()
        out = fn(*args)
        times[name].append(clock() - start)
        return out

    layers = in_training_order(net)
    for _ in range(steps + 2):
        idx = rng.integers(0, len(data.x_train), 100)
        x = timed("gather batch", data.x_train.take, idx, 0)
        t = data.t_train.take(idx, axis=0)
        x = net.as_input(x)
        for name, layer in layers:
            flag = (True,) if getattr(layer, "train_flg_aware", False) else ()
            x = timed(f"{name} forward", layer.forward, x, *flag)
        timed("loss forward", net.lastLayer.forward, x, t)
        dout = timed("loss backward", net.lastLayer.backward, 1)
        for i, (name, layer) in reversed(list(enumerate(layers))):
            if i == 0 and getattr(layer, "has_optional_input_grad", False):
                timed(f"{name} backward", lambda d, layer=layer: layer.backward(d, need_dx=False), dout)
            else:
                dout = timed(f"{name} backward", layer.backward, dout)
        grads = {k: getattr(net.layers[n], "d" + a) for k, (n, a) in net.param_owner.items()}
        timed("optimizer update", opt.update, net.params, grads)
    medians = {k: statistics.median(v[2:]) for k, v in times.items()}  # the first two steps warm up
    total = sum(medians.values())
    what = "CPU time" if clock is time.process_time else "wall clock"
    print(f"{model}: one step of batch 100, medians over {steps} steps ({what}), {total * 1e3:.2f} ms in all\n")
    for name, sec in sorted(medians.items(), key=lambda kv: -kv[1]):
        if sec / total >= 0.005:
            print(f"  {name:22s} {sec * 1e6:10,.0f} µs  {sec / total:6.1%}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", choices=[[], *RECIPES], metavar="MODEL")
    ap.add_argument("--steps", type=positive(int))
    ap.add_argument("--threads", type=positive(int), default=1)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    args = ap.parse_args()
    threadpool_limits(args.threads)
    keep_freed_memory()  # as the digitnet command does
    try:
        data, _ = resolve_dataset(args.data_dir, offline=True)
    except DigitnetError as e:
        sys.exit(f"step_profile.py: {e}")
    clock = time.process_time if args.threads == 1 else time.perf_counter
    for model in args.models or ["two-layer", "deep-cnn"]:
        profile(model, args.steps, data, clock)


if __name__ == "__main__":
    main()
