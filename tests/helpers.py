"""Shared test helpers: check a layer's backward pass against central differences; write MNIST-format files."""
import gzip
import struct

import numpy as np

from digitnet.gradient import numerical_gradient


def check_layer(layer, x, *, rng, wrt=(), rtol=1e-6):
    """Project the output on a random R so f = sum(forward(x) * R) is a scalar; then backward(R) must equal df/dx,
    and each attribute named in wrt ("W", "b") must hold a d<name> equal to df/d<name>."""
    out = layer.forward(x)
    R = rng.standard_normal(out.shape)
    dx = layer.backward(R.copy())
    f = lambda _: float(np.sum(layer.forward(x) * R))
    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=rtol, atol=1e-8)
    for name in wrt:
        layer.forward(x)
        layer.backward(R.copy())
        analytic = getattr(layer, "d" + name)
        np.testing.assert_allclose(analytic, numerical_gradient(f, getattr(layer, name)), rtol=rtol, atol=1e-8)


def write_idx(path, array):
    """array as a gzipped IDX file of unsigned bytes at path."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def write_mnist_folder(folder, train_images, train_labels, test_images, test_labels):
    """An MNIST-format folder (the four standard gzipped names) of these arrays, written over any there; returns it."""
    folder.mkdir(exist_ok=True)
    for split, images, labels in (("train", train_images, train_labels), ("t10k", test_images, test_labels)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder
