"""Learning parity: does digitnet learn as fast per step as PyTorch? The same recipe on both, side by side.

    python bench/parity.py [MODEL ...] [--seeds 0 1 2] [--epochs 1 2 4] [--data-dir DIR] [--json FILE]

For each model (deep-cnn, fast-cnn) and seed, digitnet builds the net as `digitnet train --model MODEL --seed
SEED` does (with the model's recipe: deep-cnn's README recipe, Adam, cosine over 40 epochs, augmentation;
fast-cnn's own) and PyTorch's twin (bench/torch_twins.py) starts from the very same weights. Both then take
the very same batches: the indices and the augmented images come from digitnet's generator, once, and go
to both. The schedule spans the recipe's whole run even when the comparison stops sooner. After each epoch
named by --epochs, both are scored on the test set. What still differs: dropout's masks (each side draws its
own; deep-cnn only) and float32 rounding. One thread each.
"""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
sys.path.insert(0, str(HERE))

from digitnet.augment import Augmenter  # noqa: E402  (sys.path is set above)
from digitnet.data.mnist import resolve_dataset  # noqa: E402  (sys.path is set above)
from digitnet.optimizers import OPTIMIZERS  # noqa: E402  (sys.path is set above)
from digitnet.run import build_network, learning_rate_schedule  # noqa: E402  (sys.path is set above)
from digitnet.settings import RunSettings  # noqa: E402  (sys.path is set above)
from digitnet.train import TrainingState, next_batch  # noqa: E402  (sys.path is set above)

DEFAULT_DATA = Path(os.environ.get("DIGITNET_TEST_DATA") or HERE.parent.parent / "shared" / "data" / "mnist-10k")
RECIPES = {"deep-cnn": {"optimizer": "adam", "schedule": "cosine", "augment": True, "epochs": 40,
                        "sampling": "shuffle"},
           "fast-cnn": {}}  # fast-cnn: its class's recipe, as `digitnet train --model fast-cnn`


def torch_optimizer(settings, model):
    """torch's counterpart of digitnet's optimizer, weight decay on the weights only (digitnet's L2 skips biases
    and batch-norm scales)."""
    import torch

    decayed = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decayed, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if settings.optimizer == "adam":
        return torch.optim.Adam(groups, lr=settings.lr, eps=1e-7)
    if settings.optimizer == "nesterov":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=0.9, nesterov=True)
    raise ValueError(f"no torch optimizer for {settings.optimizer}")


def scores(net, model, x, t):
    """{"digitnet": (loss, accuracy), "pytorch": (loss, accuracy)} on (x, t), without label smoothing."""
    import torch
    import torch_twins

    logits = torch_twins.predict(model, x.reshape(-1, 1, 28, 28), 500)
    loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(t)))
    smoothing, net.lastLayer.label_smoothing = net.lastLayer.label_smoothing, 0.0
    try:
        ours = net.evaluate(x, t, 500)
    finally:
        net.lastLayer.label_smoothing = smoothing
    return {"digitnet": ours, "pytorch": (loss, float(np.mean(logits.argmax(1) == t)))}


# long: one seed's run is one loop over both implementations, evaluating at the epochs asked for
def run_seed(model_name, seed, epochs, data):
    """One seed: digitnet and its twin from the same start on the same batches; a record per epoch asked for."""
    import torch
    import torch_twins

    settings = RunSettings(model=model_name, seed=seed, **RECIPES[model_name]).resolved()
    rng = np.random.default_rng(seed)  # as run.prepare: the weights first, then the batches and augmentation
    net = build_network(settings, data.x_train.shape[1], rng)
    model = torch_twins.twin(net)
    per_epoch = data.x_train.shape[0] // settings.batch_size
    total = settings.epochs * per_epoch  # the schedule spans the whole recipe
    schedule = learning_rate_schedule(settings, total)
    optimizer, opt_t = OPTIMIZERS[settings.optimizer](lr=settings.lr), torch_optimizer(settings, model)
    augment = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1)) if settings.augment else None
    smoothing = net.lastLayer.label_smoothing
    state, records = TrainingState(), []
    losses = {"digitnet": [], "pytorch": []}
    model.train()
    for step in range(max(epochs) * per_epoch):
        idx = next_batch(state, data.x_train.shape[0], settings.batch_size, settings.sampling, rng)
        x = data.x_train.take(idx, axis=0)
        x = augment(x, rng) if augment is not None else x
        t = data.t_train.take(idx, axis=0)
        lr = schedule(step)
        optimizer.lr = lr
        loss, grads = net.loss_and_gradient(x, t)
        optimizer.update(net.params, grads)
        losses["digitnet"].append(float(net.lastLayer.loss))  # the cross-entropy alone, as torch's, without L2
        for group in opt_t.param_groups:
            group["lr"] = lr
        opt_t.zero_grad(set_to_none=True)
        loss_t = torch.nn.functional.cross_entropy(model(torch.from_numpy(x.reshape(-1, 1, 28, 28))),
                                                   torch.from_numpy(t), label_smoothing=smoothing)
        loss_t.backward()
        opt_t.step()
        losses["pytorch"].append(loss_t.item())
        if (step + 1) % per_epoch == 0 and (step + 1) // per_epoch in epochs:
            test = scores(net, model, data.x_test, data.t_test)
            model.train()
            for impl in ("digitnet", "pytorch"):
                records.append({"model": model_name, "seed": seed, "epoch": (step + 1) // per_epoch, "impl": impl,
                                "train_loss": float(np.mean(losses[impl][-per_epoch:])),
                                "test_loss": test[impl][0], "test_acc": test[impl][1]})
            print(f"{model_name} seed {seed} epoch {(step + 1) // per_epoch}: " + "  ".join(
                f"{r['impl']} loss {r['train_loss']:.4f} test {100 * r['test_acc']:.2f}%" for r in records[-2:]),
                flush=True)
    return records


def table(records):
    """Markdown rows: per model, epoch and implementation, mean and range over the seeds."""
    lines = ["| model | epoch | implementation | train loss (mean, min-max) | test loss | test accuracy (mean, "
             "min-max) |", "| --- | --- | --- | --- | --- | --- |"]
    keys = sorted({(r["model"], r["epoch"], r["impl"]) for r in records}, key=lambda k: (k[0], k[1], k[2]))
    for model, epoch, impl in keys:
        rs = [r for r in records if (r["model"], r["epoch"], r["impl"]) == (model, epoch, impl)]
        tl, vl, acc = ([r[k] for r in rs] for k in ("train_loss", "test_loss", "test_acc"))
        lines.append(f"| {model} | {epoch} | {impl} | {statistics.mean(tl):.4f} ({min(tl):.4f}-{max(tl):.4f}) | "
                     f"{statistics.mean(vl):.4f} | {100 * statistics.mean(acc):.2f} % "
                     f"({100 * min(acc):.2f}-{100 * max(acc):.2f}) |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=list(RECIPES), choices=[[], *RECIPES], metavar="MODEL")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    ap.add_argument("--json", type=Path, help="also write every record here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    threadpool_limits(1)
    data, notice = resolve_dataset(args.data_dir, offline=True)
    if notice:
        print(notice)
    records = []
    for model_name in args.models or list(RECIPES):
        for seed in args.seeds:
            records += run_seed(model_name, seed, sorted(args.epochs), data)
            if args.json:
                args.json.write_text(json.dumps(records, indent=1))
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
