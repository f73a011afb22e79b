"""The trained DeepConvNet that misclassified and half-float look at (not an experiment itself).

The bundled model (digitnet.pretrained("deep-cnn")) when the package has one, else one trained here as
the book's ch08/train_deepnet.py does (20 epochs, Adam lr 0.001, batch 100), or under --quick a rough one
in a few seconds (40 steps, no dropout). A model trained here is kept in the output folder, so
the second experiment that needs it does not train it again.
"""
import zlib

import numpy as np

from ..errors import DigitnetError
from ..nets import DeepConvNet
from ..optimizers import Adam
from ..train import train

EPOCHS, BATCH, LR = 20, 100, 0.001


def bundled():
    try:
        from ..pretrained import bundled_models, describe, pretrained
        if "deep-cnn" in bundled_models():
            return pretrained("deep-cnn"), describe("deep-cnn")
    except (ImportError, DigitnetError):
        pass
    return None


def deep_convnet(ctx):
    """(DeepConvNet, one line saying where it came from)."""
    if (found := bundled()) is not None:
        return found
    from ..model_io import load_model, save_model

    ds = ctx.dataset(flatten=False)
    # --quick: no dropout, which slows the first steps most, and a larger step: ~80 % after 40 steps
    epochs, batch, n_train, iters, lr, dropout = ctx.pick((EPOCHS, BATCH, None, None, LR, 0.5),
                                                          (None, 32, 2000, 40, 3 * LR, 0.0))
    key = zlib.crc32(f"{ctx.seed} {ctx.quick} {ctx.data_name}".encode())
    cache = ctx.out / f".deep-cnn-{key:08x}.npz"
    how = (f"{iters} steps of batch {batch} on {n_train:,} digits, Adam lr {lr}, no dropout (--quick: a rough model)"
           if ctx.quick else f"{epochs} epochs, batch {batch}, Adam lr {LR}, as ch08/train_deepnet.py")
    recipe = f"DeepConvNet trained here on {ctx.data_name}: {how}"
    if cache.is_file():
        return load_model(cache)[0], recipe + f" (kept in {cache.name})"
    net = DeepConvNet(dropout_ratio=dropout, rng=ctx.rng("deep-cnn"), dtype=np.float32)
    ctx.echo(f"training the DeepConvNet ({how}); it is kept for the next experiment")
    train(net, ds.x_train[:n_train], ds.t_train[:n_train], epochs=epochs, iters=iters, batch_size=batch,
          optimizer=Adam(lr=lr), rng=ctx.rng("deep-cnn batches"), train_eval_size=ctx.pick(1000, 100))
    save_model(cache, net, {"recipe": recipe})
    return net, recipe


def test_subset(ctx):
    """The test digits to score on: all of them, or the first 500 under --quick."""
    ds = ctx.dataset(flatten=False)
    n = ctx.pick(None, 500)
    return ds.x_test[:n], ds.t_test[:n]
