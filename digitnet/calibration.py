"""How sure a network is: calibrated probabilities, and the "not a digit" answer.

Temperature scaling (Guo et al., 2017): the probabilities are softmax(logits / T), with the one number T
fitted to digits the net was not trained on by minimising their cross-entropy (T > 1 softens an
over-confident net, T < 1 sharpens a timid one; the ranking of the classes never changes).

Rejection: a score says how much an input looks like any digit at all, and below a threshold the answer
is "not a digit". Two scores are known:

  msp     the calibrated maximum probability, max softmax(logits / T), in (0.1, 1];
  energy  the negative free energy T * logsumexp(logits / T) (Liu et al., 2020): the logits' size, which
          the softmax throws away.

The threshold is fitted on held-out digits so that at most 1 % of digits are rejected, with 95 %
confidence (the 1 % is the bound, not the estimate: see fit_threshold). Outlier exposure (train.py,
digitnet/outliers.py) is what makes either score tell digits from non-digits well; docs/rejection.md
has the measurements.

A model file keeps all of it in its header's metadata:

    "calibration": {"temperature": T, "fitted_on": "...",
                    "rejection": {"score": "msp", "threshold": 0.43, "rate": 0.01, "fitted_on": "..."}}

load_model reads and checks it (from_metadata: a malformed entry is a one-line ModelFileError) and sets
net.confidence; confidence_of(net) gives it, or the plain softmax that rejects nothing for a net without.
NumPy only.
"""
import math
from dataclasses import dataclass

import numpy as np

from .errors import DigitnetError, ModelFileError
from .functions import labels_of, softmax

__all__ = ["Confidence", "confidence_of", "fit_temperature", "fit_threshold", "score_of", "fit_confidence",
           "fit_for_net", "from_metadata", "SCORES", "DEFAULT_REJECT_RATE"]

SCORES = ("msp", "energy")
DEFAULT_REJECT_RATE = 0.01  # at most this share of digits rejected
CONFIDENCE_Z = 1.645        # one-sided 95 %: the threshold keeps the rate's upper bound under the target
T_RANGE = (1e-3, 1e3)       # temperatures outside this are a broken net or a broken file
FIT_RANGE = (0.05, 20.0)    # what fit_temperature returns at most: a net right on every held-out digit would
                            # otherwise be sharpened without end, until every input looked sure


def _logsumexp(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def score_of(logits, kind="msp", temperature=1.0):
    """(N,) how digit-like each row of logits is, higher for more: see the module's doc for the kinds."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, classes), not {z.shape}")
    if kind == "msp":
        return softmax(z / temperature).max(axis=1)
    if kind == "energy":
        return temperature * _logsumexp(z / temperature)
    raise ValueError(f"unknown rejection score {kind!r}: use one of {', '.join(SCORES)}")


@dataclass(frozen=True)
class Confidence:
    """A model's calibration: its temperature and, when fitted, its rejection score and threshold."""
    temperature: float = 1.0
    threshold: float = None  # rejected below this score; None rejects nothing
    score: str = "msp"
    rate: float = None       # the share of digits the threshold was fitted to reject at most
    fitted_on: str = None    # which digits the temperature and threshold were fitted on

    def probabilities(self, logits):
        """(N, classes) calibrated probabilities: softmax(logits / temperature)."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature)

    def scores(self, logits):
        """(N,) the rejection score of each row (higher: more like a digit)."""
        return score_of(logits, self.score, self.temperature)

    def rejected(self, logits):
        """(N,) bool: which rows are not confidently any digit."""
        return self.margins(logits) < 0

    def margins(self, logits):
        """(N,) how far each row's score lies above the threshold (below 0: rejected); +inf with no threshold."""
        logits = np.asarray(logits)
        if self.threshold is None:
            return np.full(logits.shape[0], np.inf)
        return self.scores(logits) - self.threshold

    def without_rejection(self):
        """The same calibrated probabilities, rejecting nothing (--no-reject)."""
        return Confidence(self.temperature, fitted_on=self.fitted_on)

    def as_metadata(self):
        """The header's "calibration" entry."""
        entry = {"temperature": float(self.temperature), "fitted_on": self.fitted_on}
        if self.threshold is not None:
            entry["rejection"] = {"score": self.score, "threshold": float(self.threshold), "rate": self.rate,
                                  "fitted_on": self.fitted_on}
        return entry


def confidence_of(net):
    """The Confidence a loaded model carries (load_model sets net.confidence), else the plain softmax."""
    return getattr(net, "confidence", None) or Confidence()


# -------------------------------------------------------------------------------------------- fitting

def _nll_slope(z, labels, beta):
    """d/d(beta) of the mean cross-entropy of softmax(beta * z): E_p[z] - z_label, averaged. It grows with
    beta (the cross-entropy is convex in beta), so its zero is found by bisection."""
    p = softmax(beta * z)
    return float(((p * z).sum(axis=1) - z[np.arange(z.shape[0]), labels]).mean())


def fit_temperature(logits, labels, iterations=100):
    """The T that minimises the mean cross-entropy of softmax(logits / T) against labels.

    Bisection on log(1 / T) over FIT_RANGE: the loss is convex in 1 / T, so its slope changes sign once
    (at the end of the range when the net is right on every digit with room to spare: T is then FIT_RANGE's
    smallest)."""
    z = np.asarray(logits, dtype=np.float64)
    labels = labels_of(labels).astype(np.int64)
    if z.ndim != 2 or z.shape[0] != labels.shape[0] or z.shape[0] == 0:
        raise ValueError(f"need (N, classes) logits and N labels, not {z.shape} and {labels.shape}")
    if not np.isfinite(z).all():
        raise DigitnetError("the network's outputs are not finite: it cannot be calibrated")
    lo, hi = math.log(1 / FIT_RANGE[1]), math.log(1 / FIT_RANGE[0])
    if _nll_slope(z, labels, math.exp(hi)) <= 0:
        return FIT_RANGE[0]
    if _nll_slope(z, labels, math.exp(lo)) >= 0:
        return FIT_RANGE[1]
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if _nll_slope(z, labels, math.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return 1 / math.exp((lo + hi) / 2)


def fit_threshold(scores, rate=DEFAULT_REJECT_RATE, z=CONFIDENCE_Z):
    """The threshold below which at most `rate` of digits score, fitted on the held-out digits' scores.

    The k lowest scores fall below it, k the largest count with k/n + z * sqrt(r(1-r)/n) <= rate (r = k/n:
    the rate's one-sided upper bound, 95 % for z = 1.645), so that on new digits the rate stays under
    `rate` with that confidence. With 2,000 digits and rate 1 % that is 13 (0.65 %); with too few digits
    for any, the threshold is the lowest score, which rejects none of them."""
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    n = s.size
    if n == 0 or not np.isfinite(s).all():
        raise ValueError("need finite scores of at least one digit")
    k = 0
    while k + 1 < n and (k + 1) / n + z * math.sqrt((k + 1) / n * (1 - (k + 1) / n) / n) <= rate:
        k += 1
    return float(s[k])


def fit_confidence(logits, labels, *, outlier_logits=None, rate=DEFAULT_REJECT_RATE, fitted_on=None,
                   scores=SCORES):
    """A Confidence fitted on held-out digits' logits: the temperature, then for each score kind its
    threshold; the kind kept is the one that tells outlier_logits (held-out outliers, never the test ones)
    from the digits best (AUROC), or msp when no outliers are given. Returns (Confidence, {kind: AUROC})."""
    from .metrics import auroc

    temperature = fit_temperature(logits, labels)
    aurocs = {}
    if outlier_logits is not None and len(outlier_logits):
        for kind in scores:
            aurocs[kind] = auroc(score_of(logits, kind, temperature), score_of(outlier_logits, kind, temperature))
    kind = max(aurocs, key=aurocs.get) if aurocs else "msp"
    threshold = fit_threshold(score_of(logits, kind, temperature), rate)
    return Confidence(temperature, threshold, kind, rate, fitted_on), aurocs


def fit_for_net(net, x, labels, outliers=None, *, rate=DEFAULT_REJECT_RATE, fitted_on=None):
    """fit_confidence on a net's logits for held-out digits x (and held-out outlier images): (Confidence, AUROCs)."""
    from .metrics import predict_scores

    outlier_logits = None if outliers is None else predict_scores(net, outliers)
    return fit_confidence(predict_scores(net, x), labels, outlier_logits=outlier_logits, rate=rate,
                          fitted_on=fitted_on)


# ---------------------------------------------------------------------------------- reading a header

def _number(value, where, what, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFileError(f"{where}: the calibration's {what} is {type(value).__name__} "
                             f"{_short(value)}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ModelFileError(f"{where}: the calibration's {what} is {value}, not a finite number")
    if (low is not None and value <= low) or (high is not None and value > high):
        bounds = f"above {low:g}" + (f" and at most {high:g}" if high is not None else "")
        raise ModelFileError(f"{where}: the calibration's {what} is {value:g}; it must be {bounds}")
    return value


def _short(value):
    text = " ".join(repr(value).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value, where, what):
    if value is not None and not isinstance(value, str):
        raise ModelFileError(f"{where}: the calibration's {what} is {type(value).__name__}, not text")
    return None if value is None else value[:500]


def from_metadata(metadata, where="model file"):
    """The Confidence a header's metadata holds (None when it has no "calibration" entry); anything
    malformed (a NaN, a negative or string temperature, an unknown score ...) is one ModelFileError."""
    if not isinstance(metadata, dict) or metadata.get("calibration") is None:
        return None
    entry = metadata["calibration"]
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where}: the calibration entry is {type(entry).__name__}, not a mapping")
    temperature = _number(entry.get("temperature"), where, "temperature", low=0)
    if not T_RANGE[0] <= temperature <= T_RANGE[1]:
        raise ModelFileError(f"{where}: the calibration's temperature is {temperature:g}, outside "
                             f"{T_RANGE[0]:g}..{T_RANGE[1]:g}")
    fitted_on = _text(entry.get("fitted_on"), where, "fitted_on")
    rejection = entry.get("rejection")
    if rejection is None:
        return Confidence(temperature, fitted_on=fitted_on)
    if not isinstance(rejection, dict):
        raise ModelFileError(f"{where}: the calibration's rejection is {type(rejection).__name__}, not a mapping")
    score = rejection.get("score", "msp")
    if score not in SCORES:
        raise ModelFileError(f"{where}: the calibration's rejection score {_short(score)} is not one of "
                             f"{', '.join(SCORES)}")
    threshold = _number(rejection.get("threshold"), where, "rejection threshold",
                        *((0, 1) if score == "msp" else (None, None)))
    rate = rejection.get("rate")
    rate = None if rate is None else _number(rate, where, "rejection rate", 0, 1)
    return Confidence(temperature, threshold, score, rate,
                      _text(rejection.get("fitted_on", fitted_on), where, "rejection's fitted_on"))
