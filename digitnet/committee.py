"""Several trained nets read together: the mean of their calibrated probabilities, and the first says "not a digit".

Nets trained differently seldom make the same mistake with the same confidence, so the mean of their
calibrated probabilities (each net's own temperature, calibration.confidence_of) is right more often than any
one of them: the bundled fast-cnn, the fast-cnn trained on digits as read cuts them, and deep-cnn score
99.26, 99.07 and 99.05 % on the official test set, and 99.47 % together. Which digits are rejected ("not a
digit") is the first net's call, at its own threshold: rejection is a property of one model, fitted and
measured for it (docs/rejection.md), and a mean of several models' scores would need a threshold of its own.

    committee = Committee([net_a, net_b])
    probabilities, rejected = committee.classify(x)   # x: (N, 784) digits as the first net takes them

A single net is a committee of one (`as_committee(net)`), which gives exactly what the net gives alone.
"""
from typing import NamedTuple

import numpy as np

from .calibration import confidence_of
from .data.images import CLASSES
from .errors import DigitnetError
from .nets.base import infer

__all__ = ["Committee", "Assessment", "NotFinite", "as_committee"]

BATCH = 256  # pictures a net classifies at once: the read of one picture may cut thousands of candidates,
             # and those classified at once ran 3.7 times slower than 256 at a time (2,854 of them: 9.6 s
             # against 2.6 s, the three nets of `read`); the buffers of so large a batch outgrow the caches


class NotFinite(DigitnetError):
    """A net whose outputs for a picture are NaN or infinite (weights that overflow): it gives no reading."""


class Assessment(NamedTuple):
    """What a committee says of N pictures (Committee.assess)."""
    probabilities: np.ndarray  # (N, 10) the mean of the nets' calibrated probabilities
    margins: np.ndarray        # (N,) the first net's rejection score less its threshold: below 0 "not a digit"
    evidence: np.ndarray       # (N, 10) the mean of the nets' probabilities with their one temperature each


class Committee:
    """Nets that classify together. nets: a sequence of loaded nets (the first one rejects)."""

    def __init__(self, nets):
        self.nets = tuple(nets)
        if not self.nets:
            raise ValueError("a committee needs at least one net")
        for net in self.nets:
            if not callable(getattr(net, "predict", None)):
                raise TypeError(f"a net must be a network (digitnet.pretrained, load_model), a bundled model's name "
                                f"or a model file's path, not {type(net).__name__}")

    @property
    def first(self):
        return self.nets[0]

    @property
    def input_size(self):
        return self.first.input_size

    def __len__(self):
        return len(self.nets)

    @staticmethod
    def logits(net, x):
        """The net's scores for x (cast to the net's own dtype), as float64; no backward caches kept. BATCH
        pictures at a time."""
        dtype = np.result_type(*net.params.values()) if getattr(net, "params", None) else np.float32
        x = np.asarray(x).reshape(len(x), -1).astype(dtype, copy=False)
        with np.errstate(all="ignore"):  # an overflow is said below in one line, not warned of
            z = np.concatenate([np.asarray(infer(net, x[i:i + BATCH]), dtype=np.float64)
                                for i in range(0, len(x), BATCH)]) if len(x) else np.asarray(infer(net, x), np.float64)
        if z.ndim != 2 or z.shape[1] != CLASSES:  # before: read gave an IndexError for 12, digits of 0-4 for 5
            raise DigitnetError(f"the model has {z.shape[1] if z.ndim == 2 else z.shape} outputs; digitnet reads "
                                f"digits, {CLASSES} classes")
        if not np.isfinite(z).all():  # before: digit 0 at "nan%", JSON with NaN in it, the server's 500
            raise NotFinite("the model's outputs are not finite (NaN or infinite: its weights overflow), so it "
                            "reads nothing")
        return z

    def classify(self, x, *, reject=True):
        """(probabilities (N, 10): the mean of the nets' calibrated ones, rejected (N,) bool: the first
        net's "not a digit", all False with reject=False)."""
        a = self.assess(x)
        return a.probabilities, (a.margins < 0) if reject else np.zeros(len(x), dtype=bool)

    def assess(self, x):
        """An Assessment: the probabilities classify gives, the margins (how far the first net's rejection score
        lies above its threshold, negative where it says "not a digit", +inf where it has no threshold), and the
        evidence: probabilities that keep how unsure each net is of a picture unlike any digit, which its
        per-picture temperature evens out (calibration.Confidence.probabilities; the reader weighs cuts by it)."""
        logits = [self.logits(net, x) for net in self.nets]
        confidences = [confidence_of(net) for net in self.nets]
        probabilities = np.mean([c.probabilities(z) for c, z in zip(confidences, logits)], axis=0)
        evidence = np.mean([c.probabilities(z, per_picture=False) for c, z in zip(confidences, logits)], axis=0)
        return Assessment(probabilities, confidences[0].margins(logits[0]), evidence)


def as_committee(net):
    """A Committee from a net, a sequence of nets, or a Committee (returned as it is)."""
    if isinstance(net, Committee):
        return net
    return Committee(net if isinstance(net, (list, tuple)) else (net,))
