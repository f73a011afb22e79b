"""MNIST's image geometry, and batches of images in the layouts digitnet meets them in.

A batch comes as rows of pixels (N, 784), as greyscale images (N, 28, 28) or as the conv layers' (N, C, H, W).
"""
import math

import numpy as np

SIDE = 28  # MNIST digits are 28x28 pixels ...
PIXELS = SIDE * SIDE  # ... 784 numbers in 0..1 per digit
CLASSES = 10  # the digits 0 to 9


def as_images(x, image_shape=(SIDE, SIDE)):
    """(N, H*W), (N, H, W) or (N, C, H, W) -> an (N, C, H, W) view of x (no copy)."""
    x = np.asarray(x)
    if x.ndim == 2:
        H, W = (int(s) for s in image_shape)
        if x.shape[1] != H * W:
            raise ValueError(f"flattened images of {x.shape[1]} pixels do not match image_shape {(H, W)}")
        return x.reshape(x.shape[0], 1, H, W)
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        return x
    raise ValueError(f"expected a batch of images shaped (N, H*W), (N, H, W) or (N, C, H, W), not {x.shape}")


def as_grey_images(x):
    """A batch of one-channel images as (N, H, W), from any layout as_images takes."""
    images = as_images(x)
    if images.shape[1] != 1:
        raise ValueError(f"expected one-channel images, not {images.shape[1]} channels")
    return images[:, 0]


def as_square_images(x):
    """(N, H, W) grey images from any layout as_grey_images takes, rows of pixels taken for square pictures of
    their own size (a --data-dir of 20x20 or 32x32 digits as well as MNIST's 28x28); ValueError for rows that
    are not square."""
    x = np.asarray(x)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"rows of {x.shape[1]} pixels are not square images")
        return as_images(x, (side, side))[:, 0]
    return as_grey_images(x)
