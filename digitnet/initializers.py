"""Initial weight scales: the book's fixed std, Xavier (for sigmoid) and He (for ReLU)."""
import math
import numbers

import numpy as np


def init_scale(init, fan_in):
    """Standard deviation of the initial weights of a layer with fan_in inputs.

    init: a number, Python's or NumPy's (a fixed std, the book's 0.01), "xavier" (sqrt(1/fan_in): keeps sigmoid
    activations spread), "he" (sqrt(2/fan_in): ReLU zeroes half its inputs, so twice the variance) or
    "pytorch" (sqrt(1/(3 fan_in)): the spread of PyTorch's default for Linear and Conv2d, uniform in
    +-1/sqrt(fan_in); small first scores, and with batch norm after each convolution, whose output does not
    depend on the weights' scale, Adam's fixed-size steps turn small weights faster).
    The book's spellings "sigmoid" and "relu" work too.
    """
    if isinstance(init, numbers.Real) and not isinstance(init, bool):  # np.float32(0.1) and np.int64(1) too
        if not math.isfinite(init) or init < 0:  # before: NaN weights, or a negative std taken as its size
            raise ValueError(f"a weight initialisation std must be a finite number >= 0, not {init!r}")
        return float(init)
    name = str(init).lower()
    if name in ("xavier", "sigmoid"):
        return math.sqrt(1.0 / fan_in)
    if name in ("he", "relu"):
        return math.sqrt(2.0 / fan_in)
    if name == "pytorch":
        return math.sqrt(1.0 / (3 * fan_in))
    raise ValueError(f"unknown weight initialisation {init!r}: use a number, 'xavier', 'he' or 'pytorch'")


def initial_weights(init, shape, fan_in, rng, dtype):
    """Random weights of the given shape: standard normal draws times init_scale(init, fan_in).

    The one way every network draws its weights (rng: a numpy Generator, or np.random as in the book); dtype a
    float type (an int32 net had weights all 0)."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"a network's dtype must be a float type (float16, float32, float64), not {np.dtype(dtype)}")
    return (init_scale(init, fan_in) * rng.standard_normal(shape)).astype(dtype)
