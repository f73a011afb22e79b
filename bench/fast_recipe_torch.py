"""How fast-cnn's recipe was found: the same kind of net in PyTorch, one thread, digitnet's augmentation.

    python bench/fast_recipe_torch.py --epochs 8 --aug 2,10,0.1 --init torch --opt sgd --lr 0.1 --wd 5e-4 --seeds 0,1,2

Trains on the first 10,000 MNIST training digits and scores the official test set (the folder in
$DIGITNET_TEST_DATA, else ../shared/data/mnist-10k). Only layers digitnet has (conv 3x3 with padding,
channel batch norm, relu, 2x2 max pool, affine); the schedule is one-cycle in straight lines; --ema adds an
average of the weights (PyTorch's AveragedModel) scored beside the net. docs/performance.md has the results.
"""
import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from digitnet.augment import Augmenter  # noqa: E402  (sys.path is set above)
from digitnet.data.mnist import resolve_dataset  # noqa: E402  (sys.path is set above)

torch.set_num_threads(1)

p = argparse.ArgumentParser()
p.add_argument("--arch", default="16,32,64")  # channels per stage; 'x2' suffix: two convs per stage
p.add_argument("--convs", type=int, default=1)  # convs per stage
p.add_argument("--k1", type=int, default=3)  # first conv kernel
p.add_argument("--head", default="flat")  # flat | gap
p.add_argument("--hidden", type=int, default=0)
p.add_argument("--bn", type=int, default=1)
p.add_argument("--pool3", type=int, default=1)
p.add_argument("--batch", type=int, default=100)
p.add_argument("--epochs", type=float, default=5)
p.add_argument("--opt", default="adam")
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--wd", type=float, default=0.0)
p.add_argument("--sched", default="onecycle")  # onecycle | cosine | const
p.add_argument("--warm", type=float, default=0.2)  # fraction of steps warming up
p.add_argument("--ls", type=float, default=0.0)
p.add_argument("--aug", default="0")  # "shift,rot,scale" or 0
p.add_argument("--ema", type=float, default=0.0)  # decay per step, 0 off
p.add_argument("--seeds", default="0")
p.add_argument("--init", default="he")
p.add_argument("--eval_every", type=int, default=0)
a = p.parse_args()

DATA = Path(os.environ.get("DIGITNET_TEST_DATA") or HERE.parent.parent / "shared" / "data" / "mnist-10k")
data = resolve_dataset(DATA, offline=True)[0]
xtr, ttr, xte, tte = data.x_train[:10000], data.t_train[:10000], data.x_test, data.t_test
Xte = torch.from_numpy(xte.reshape(-1, 1, 28, 28))
Tte = torch.from_numpy(tte)


def make(seed):
    torch.manual_seed(seed)
    chans = [int(c) for c in a.arch.split(",")]
    mods, cin, side = [], 1, 28
    for si, c in enumerate(chans):
        for j in range(a.convs):
            k = a.k1 if (si == 0 and j == 0) else 3
            mods.append(nn.Conv2d(cin, c, k, padding=k // 2, bias=not a.bn))
            if a.bn:
                mods.append(nn.BatchNorm2d(c))
            mods.append(nn.ReLU())
            cin = c
        if si < len(chans) - 1 or a.pool3:
            mods.append(nn.MaxPool2d(2))
            side //= 2
    if a.head == "gap":
        mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        flat = cin
    else:
        mods += [nn.Flatten()]
        flat = cin * side * side
    if a.hidden:
        mods += [nn.Linear(flat, a.hidden), nn.ReLU()]
        flat = a.hidden
    mods += [nn.Linear(flat, 10)]
    model = nn.Sequential(*mods)
    if a.init in ("he", "xavier"):
        gain = 2.0 if a.init == "he" else 1.0
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = m.weight[0].numel()
                    m.weight.normal_(0, math.sqrt(gain / fan_in))
                    if m.bias is not None:
                        m.bias.zero_()
    return model


def lr_at(step, total):
    if a.sched == "const":
        return a.lr
    if a.sched == "cosine":
        return a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
    w = max(1, int(a.warm * total))
    if step < w:
        return a.lr * (step + 1) / w
    return a.lr * max(0.0, (total - step) / (total - w))  # linear down to 0


def evaluate(model):
    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(Xte[i:i + 1000]) for i in range(0, 10000, 1000)])
    model.train()
    return float(F.cross_entropy(out, Tte)), float((out.argmax(1) == Tte).float().mean())


results = []
for seed in [int(s) for s in a.seeds.split(",")]:
    model = make(seed)
    ema = None
    if a.ema:
        swa = torch.optim.swa_utils
        ema = swa.AveragedModel(model, multi_avg_fn=swa.get_ema_multi_avg_fn(a.ema), use_buffers=True)
    if a.opt == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, eps=1e-7, weight_decay=a.wd)
    elif a.opt == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, eps=1e-7, weight_decay=a.wd)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=a.wd)
    rng = np.random.default_rng(seed)
    aug = None
    if a.aug != "0":
        s, r, sc = (float(v) for v in a.aug.split(","))
        aug = Augmenter(max_shift=s, max_rotation=r, scale_range=(1 - sc, 1 + sc))
    per_epoch = 10000 // a.batch
    total = int(round(a.epochs * per_epoch))
    t0 = time.perf_counter()
    train_time = 0.0
    perm, pos = None, 0
    for step in range(total):
        ts = time.perf_counter()
        if perm is None or pos + a.batch > 10000:
            perm, pos = rng.permutation(10000), 0
        idx = perm[pos:pos + a.batch]
        pos += a.batch
        xb = xtr.take(idx, axis=0)
        if aug is not None:
            xb = aug(xb, rng)
        xb = torch.from_numpy(xb.reshape(-1, 1, 28, 28))
        tb = torch.from_numpy(ttr.take(idx))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), tb, label_smoothing=a.ls)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        train_time += time.perf_counter() - ts
        if a.eval_every and (step + 1) % (a.eval_every * per_epoch) == 0 and step + 1 < total:
            print(f"  seed {seed} epoch {(step + 1) / per_epoch:.0f} test {evaluate(model)[1]:.4f}"
                  + (f" ema {evaluate(ema.module)[1]:.4f}" if ema else ""), flush=True)
    tl, acc = evaluate(model)
    eacc = evaluate(ema.module)[1] if ema else None
    results.append((acc, eacc, train_time))
    print(f"seed {seed} acc {acc:.4f}" + (f" ema {eacc:.4f}" if ema else "") + f" train {train_time:.1f}s "
          f"({1000 * train_time / total:.1f} ms/step)", flush=True)
accs = [r[0] for r in results]
eaccs = [r[1] for r in results if r[1] is not None]
print("ARGS", " ".join(sys.argv[1:]))
print(f"SUMMARY acc min {min(accs):.4f} mean {np.mean(accs):.4f}" +
      (f" | ema min {min(eaccs):.4f} mean {np.mean(eaccs):.4f}" if eaccs else "") +
      f" | train s {np.mean([r[2] for r in results]):.1f}", flush=True)
