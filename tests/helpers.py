"""Shared test helper: check a layer's backward pass against central differences."""
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
