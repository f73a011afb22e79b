"""PyTorch copies of digitnet's networks, starting from the same weights, for the side-by-side benchmark.

Each twin is the idiomatic nn.Sequential a PyTorch user would write for the same architecture; only the
initial weights are copied from the digitnet net, so both runs start from the same point. Convolutional twins
run channels-last (NHWC in memory), the layout PyTorch's CPU convolutions (oneDNN) are fastest in, as
digitnet's own convolutions are laid out; `channels_last=False` gives the NCHW default.
"""
import numpy as np
import torch
from torch import nn


def _linear(W, b):
    layer = nn.Linear(*W.shape)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # digitnet's x @ W is torch's x @ W.T
        layer.bias.copy_(torch.from_numpy(b))
    return layer


def _conv(W, b, stride, pad):
    layer = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2:], stride=stride, padding=pad, bias=b is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W))
        if b is not None:
            layer.bias.copy_(torch.from_numpy(b))
    return layer


def _batch_norm(layer):
    """BatchNorm2d with a ChannelBatchNorm's gamma, beta and running statistics (its momentum: 1 - digitnet's)."""
    bn = nn.BatchNorm2d(len(layer.gamma), eps=layer.eps, momentum=1 - layer.momentum)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(layer.gamma))
        bn.bias.copy_(torch.from_numpy(layer.beta))
        if layer.running_mean is not None:
            bn.running_mean.copy_(torch.from_numpy(layer.running_mean))
            bn.running_var.copy_(torch.from_numpy(layer.running_var))
    return bn


def twin(net, channels_last=True):
    """An nn.Sequential computing what net.predict computes (logits), with net's current weights; a
    convolutional one in channels-last memory unless channels_last=False (its inputs: as_input)."""
    model = _sequential(net)
    model.channels_last = channels_last and net.architecture.endswith("cnn")
    return model.to(memory_format=torch.channels_last) if model.channels_last else model


def as_input(model, x):
    """x (a batch) in the twin's memory layout: channels-last for a channels-last conv net."""
    return x.contiguous(memory_format=torch.channels_last) if model.channels_last else x


def _sequential(net):
    p = net.params
    kind = net.architecture
    if kind in ("two-layer", "mlp"):
        if any(k.startswith("gamma") for k in p) or getattr(net, "config", {}).get("activation", "relu") != "relu":
            raise ValueError("the benchmark twins only plain relu perceptrons")
        n = sum(k.startswith("W") for k in p)
        mods = []
        for i in range(1, n + 1):
            mods.append(_linear(p[f"W{i}"], p[f"b{i}"]))
            if i < n:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
    if kind == "simple-cnn":
        conv = net.layers["Conv1"]
        return nn.Sequential(_conv(p["W1"], p["b1"], conv.stride, conv.pad), nn.ReLU(), nn.MaxPool2d(2, 2),
                             nn.Flatten(), _linear(p["W2"], p["b2"]), nn.ReLU(), _linear(p["W3"], p["b3"]))
    if kind == "deep-cnn":
        mods = []
        for i in range(1, 7):
            conv = net.layers[f"Conv{i}"]
            mods += [_conv(p[f"W{i}"], p[f"b{i}"], conv.stride, conv.pad), nn.ReLU()]
            if i % 2 == 0:
                mods.append(nn.MaxPool2d(2, 2))
        ratio = net.layers["Dropout1"].dropout_ratio
        mods += [nn.Flatten(), _linear(p["W7"], p["b7"]), nn.ReLU(), nn.Dropout(ratio),
                 _linear(p["W8"], p["b8"]), nn.Dropout(ratio)]
        return nn.Sequential(*mods)
    if kind == "fast-cnn":
        mods = []
        for i in range(1, len(net.config["channels"]) + 1):  # convolutions without bias, as digitnet's
            mods += [_conv(p[f"W{i}"], None, 1, 1), _batch_norm(net.layers[f"BatchNorm{i}"]), nn.ReLU(),
                     nn.MaxPool2d(2, 2)]
        n = len(net.config["channels"]) + 1
        return nn.Sequential(*mods, nn.Flatten(), _linear(p[f"W{n}"], p[f"b{n}"]))
    raise ValueError(f"no PyTorch twin for {kind!r}")


def optimizer(name, model, lr):
    """torch's optimizer matching digitnet's: the same lr, and Adam with the book's eps of 1e-7."""
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    if name == "nesterov":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    raise ValueError(name)


def train_steps(model, opt, x, t, batches, label_smoothing=0.0):
    """The usual PyTorch loop over the given index batches; x, t are NumPy arrays shared with torch."""
    X, T = torch.from_numpy(x), torch.from_numpy(t)
    model.train()
    for idx in batches:
        idx = torch.from_numpy(idx)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(as_input(model, X[idx])), T[idx], label_smoothing=label_smoothing)
        loss.backward()
        opt.step()
    return loss.item()


def predict(model, x, batch_size):
    """Logits for all of x, in batches, as a NumPy array."""
    model.eval()
    with torch.inference_mode():
        X = torch.from_numpy(x)
        return torch.cat([model(as_input(model, X[i:i + batch_size])) for i in range(0, len(x), batch_size)]).numpy()
