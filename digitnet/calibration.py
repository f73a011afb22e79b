"""How sure a network is: calibrated probabilities, and the "not a digit" answer.

A model file may carry, in its header's metadata, a "calibration" entry: {"temperature": T, "rejection":
{"score": ..., "threshold": ...}}. confidence_of(net) gives the Confidence that reads it: probabilities
are softmax(logits / T), and a digit whose score falls below the threshold is rejected. A model without
the entry gets T = 1 (the plain softmax) and rejects nothing.
"""
from dataclasses import dataclass

import numpy as np

from .functions import softmax


@dataclass(frozen=True)
class Confidence:
    temperature: float = 1.0
    threshold: float = None  # rejected below this calibrated maximum probability; None rejects nothing

    def probabilities(self, logits):
        """(N, classes) calibrated probabilities: softmax(logits / temperature)."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature)

    def rejected(self, logits):
        """(N,) bool: which rows are not confidently any digit."""
        logits = np.asarray(logits)
        if self.threshold is None:
            return np.zeros(logits.shape[0], dtype=bool)
        return self.probabilities(logits).max(axis=1) < self.threshold


def confidence_of(net):
    """The Confidence a loaded model carries (load_model sets net.confidence), else the plain softmax."""
    return getattr(net, "confidence", None) or Confidence()
