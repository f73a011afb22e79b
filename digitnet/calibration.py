"""How sure a network is: calibrated probabilities, and the "not a digit" answer.

Temperature scaling (Guo et al., 2017): the probabilities are softmax(logits / T), with the one number T
fitted to digits the net was not trained on by minimising their cross-entropy (T > 1 softens an
over-confident net, T < 1 sharpens a timid one; the ranking of the classes never changes).

One temperature per picture: a net trained with outlier exposure keeps its logits small, and close
together, on a digit unlike those it knows, so a single T leaves it too timid there and too sure on the
clear digits at once. The probabilities are then softmax(logits / (scale * spread ** power)), spread the
standard deviation of the picture's logits: the wider they spread, the more a picture is softened. scale
and power are fitted together on the same held-out digits (fit_spread_temperature; power 0 is plain
temperature scaling, and what an older file means).

Rejection: a score says how much an input looks like any digit at all, and below a threshold the answer
is "not a digit". Two scores are known:

  msp     the maximum probability with the one temperature, max softmax(logits / T), in (0.1, 1];
  energy  the negative free energy T * logsumexp(logits / T) (Liu et al., 2020): the logits' size, which
          the softmax throws away.

Both keep the one temperature T: sharpening the pictures whose logits lie close together is right for
the digits among them and wrong for the rest, and the scores are there to tell those apart.

The threshold is fitted on held-out digits so that at most 1 % of digits are rejected, with 95 %
confidence (the 1 % is the bound, not the estimate: see fit_threshold). Outlier exposure (train.py,
digitnet/outliers.py) is what makes either score tell digits from non-digits well; docs/rejection.md
has the measurements.

A model file keeps all of it in its header's metadata:

    "calibration": {"temperature": T, "per_picture": {"scale": 0.45, "power": 0.8}, "fitted_on": "...",
                    "rejection": {"score": "msp", "threshold": 0.43, "rate": 0.01, "fitted_on": "..."}}

load_model reads and checks it (from_metadata: a malformed entry is a one-line ModelFileError) and sets
net.confidence; confidence_of(net) gives it, or the plain softmax that rejects nothing for a net without.
NumPy only.
"""
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import DigitnetError, ModelFileError
from .functions import labels_of, softmax, softmax_cross_entropy

__all__ = ["Confidence", "confidence_of", "fit_temperature", "fit_spread_temperature", "fit_threshold", "score_of",
           "fit_confidence", "fit_for_net", "from_metadata", "SCORES", "DEFAULT_REJECT_RATE"]

SCORES = ("msp", "energy")
DEFAULT_REJECT_RATE = 0.01  # at most this share of digits rejected
CONFIDENCE_Z = 1.645        # one-sided 95 %: the threshold keeps the rate's upper bound under the target
T_RANGE = (1e-3, 1e3)       # temperatures outside this are a broken net or a broken file
FIT_RANGE = (0.05, 20.0)    # what fit_temperature returns at most: a net right on every held-out digit would
                            # otherwise be sharpened without end, until every input looked sure
MAX_POWER = 0.95            # at power 1 every picture's logits would be scaled to one spread, their size forgotten
POWERS = np.round(np.linspace(0, MAX_POWER, 39), 3)  # the powers fit_spread_temperature tries, 0.025 apart


def _logsumexp(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def spread_of(logits):
    """(N, 1) the standard deviation of each row of logits (the smallest positive float for a flat row)."""
    return np.maximum(np.asarray(logits, dtype=np.float64).std(axis=1, keepdims=True), np.finfo(np.float64).tiny)


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
    per_picture: tuple = None  # (scale, power): each picture's temperature is scale * spread ** power; None: T
    # the SHA-256 of the weights it was fitted for (nets.base.params_digest; None: not known), not stored: a
    # file's calibration is its own weights'. save_model keeps a net's calibration only while they are its.
    weights: str = field(default=None, compare=False)

    def temperatures(self, logits):
        """(N, 1) the temperature each row of logits is divided by for its probabilities."""
        z = np.asarray(logits, dtype=np.float64)
        if self.per_picture is None:
            return np.full((z.shape[0], 1), self.temperature)
        scale, power = self.per_picture
        return scale * spread_of(z) ** power

    def probabilities(self, logits, *, per_picture=True):
        """(N, classes) calibrated probabilities: softmax(logits / temperatures(logits)). per_picture=False:
        with the one temperature, softmax(logits / T), which keeps how small a net's logits are on a picture
        unlike its digits (what the reader's segmentation weighs its cuts by)."""
        z = np.asarray(logits, dtype=np.float64)
        return softmax(z / (self.temperatures(z) if per_picture else self.temperature))

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
        return Confidence(self.temperature, fitted_on=self.fitted_on, per_picture=self.per_picture,
                          weights=self.weights)

    def describe(self):
        """'temperature T', and each picture's when fitted: how the command line reports it."""
        text = f"temperature {self.temperature:.4g}"
        if self.per_picture is not None:
            text += f" (each picture's: {self.per_picture[0]:.4g} x spread^{self.per_picture[1]:g})"
        return text

    def as_metadata(self):
        """The header's "calibration" entry."""
        entry = {"temperature": float(self.temperature), "fitted_on": self.fitted_on}
        if self.per_picture is not None:
            entry["per_picture"] = {"scale": float(self.per_picture[0]), "power": float(self.per_picture[1])}
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


def fit_spread_temperature(logits, labels, powers=POWERS):
    """(scale, power): each picture's temperature scale * spread ** power (spread: the standard deviation of
    its logits) that minimises the mean cross-entropy against labels.

    For each power tried, softmax(z / (scale * spread ** power)) is plain temperature scaling of
    z / spread ** power, so fit_temperature finds its scale; the pair with the lowest loss is kept. Power 0
    is in the grid, so the loss is never above plain temperature scaling's on these digits."""
    z = np.asarray(logits, dtype=np.float64)
    labels = labels_of(labels).astype(np.int64)
    fitted = []
    for power in powers:
        zp = z / spread_of(z) ** power
        scale = fit_temperature(zp, labels)
        fitted.append((float(softmax_cross_entropy(zp / scale, labels)), scale, float(power)))
    _, scale, power = min(fitted)
    return scale, power


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
    """A Confidence fitted on held-out digits' logits: the temperature, each picture's temperature (kept when
    its power is not 0), then for each score kind its threshold; the kind kept is the one that tells
    outlier_logits (held-out outliers, never the test ones) from the digits best (AUROC), or msp when no
    outliers are given. Returns (Confidence, {kind: AUROC})."""
    from .metrics import auroc

    temperature = fit_temperature(logits, labels)
    scale, power = fit_spread_temperature(logits, labels)
    aurocs = {}
    if outlier_logits is not None and len(outlier_logits):
        for kind in scores:
            aurocs[kind] = auroc(score_of(logits, kind, temperature), score_of(outlier_logits, kind, temperature))
    kind = max(aurocs, key=aurocs.get) if aurocs else "msp"
    threshold = fit_threshold(score_of(logits, kind, temperature), rate)
    return Confidence(temperature, threshold, kind, rate, fitted_on, (scale, power) if power else None), aurocs


def fit_for_net(net, x, labels, outliers=None, *, rate=DEFAULT_REJECT_RATE, fitted_on=None):
    """fit_confidence on a net's logits for held-out digits x (and held-out outlier images): (Confidence, AUROCs).
    The Confidence knows the weights it was fitted for (Confidence.weights)."""
    from .metrics import predict_scores
    from .nets.base import params_digest

    outlier_logits = None if outliers is None else predict_scores(net, outliers)
    confidence, aurocs = fit_confidence(predict_scores(net, x), labels, outlier_logits=outlier_logits, rate=rate,
                                        fitted_on=fitted_on)
    return replace(confidence, weights=params_digest(net.state_arrays())), aurocs


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


def _temperature(value, where, what):
    """A positive number within T_RANGE: a temperature, or the per-picture temperature's scale."""
    value = _number(value, where, what, low=0)
    if not T_RANGE[0] <= value <= T_RANGE[1]:
        raise ModelFileError(f"{where}: the calibration's {what} is {value:g}, outside "
                             f"{T_RANGE[0]:g}..{T_RANGE[1]:g}")
    return value


def _per_picture(entry, where):
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where}: the calibration's per_picture is {type(entry).__name__}, not a mapping")
    scale = _temperature(entry.get("scale"), where, "per-picture scale")
    power = _number(entry.get("power"), where, "per-picture power")
    if not 0 <= power <= MAX_POWER:
        raise ModelFileError(f"{where}: the calibration's per-picture power is {power:g}; "
                             f"it must be 0 to {MAX_POWER:g}")
    return scale, power


def from_metadata(metadata, where="model file", weights=None):
    """The Confidence a header's metadata holds (None when it has no "calibration" entry), fitted for the
    weights whose digest is `weights` (the file's own); anything malformed (a NaN, a negative or string
    temperature, an unknown score ...) is one ModelFileError."""
    confidence = _from_entry(metadata, where)
    return None if confidence is None else replace(confidence, weights=weights)


def _from_entry(metadata, where):
    if not isinstance(metadata, dict) or metadata.get("calibration") is None:
        return None
    entry = metadata["calibration"]
    if not isinstance(entry, dict):
        raise ModelFileError(f"{where}: the calibration entry is {type(entry).__name__}, not a mapping")
    temperature = _temperature(entry.get("temperature"), where, "temperature")
    fitted_on = _text(entry.get("fitted_on"), where, "fitted_on")
    per_picture = _per_picture(entry.get("per_picture"), where)
    rejection = entry.get("rejection")
    if rejection is None:
        return Confidence(temperature, fitted_on=fitted_on, per_picture=per_picture)
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
                      _text(rejection.get("fitted_on", fitted_on), where, "rejection's fitted_on"), per_picture)
