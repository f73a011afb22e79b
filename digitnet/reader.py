"""Read the numbers in a picture: digitnet.read(image) -> Reading.

The picture is loaded and its ink found the way preprocess.to_mnist does it (image_io.load_grey,
ink.ink_map); rules.remove_rules takes out ruled lines (an underline, lined paper);
segment.segment finds the lines and digits, scoring its choices with the network's probabilities at its
one temperature, which keep how unsure it is of a bad cut (Committee.assess's evidence); each digit chosen
gets the calibrated probabilities (calibration.confidence_of), and each the network is not sure of is
marked rejected, shown as '?' in the text.

Several networks can read together (a committee): each candidate digit's probabilities are then the mean of
their calibrated probabilities, and the first network's threshold says which digits are rejected. Nets that
err differently are seldom sure of the same wrong cut: with rejection off, the bundled fast-cnn and deep-cnn
together cut touching and broken digits better than either alone (docs/reading.md has the figures, and
what the fast-cnn's threshold costs). With no network named, read() uses the bundled convolutional models
together, the best first (reading_nets).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from .committee import as_committee
from .errors import DigitnetError
from .image_io import ImageError, describe, load_grey
from .ink import ink_map
from .rules import only_rules, remove_rules
from .segment import TooManyCuts, segment

__all__ = ["Reading", "read", "reading_nets"]

PIXELS = 28 * 28
SHOW_HEIGHT = 300       # draw_reading enlarges a small picture to this height ...
SHOW_MAX_WIDTH = 4000   # ... but no wider than this (a picture 1 px high would otherwise be 300 times as wide)


@dataclass
class Reading:
    """What read() found in a picture.

    text: the digits, line by line (top to bottom) joined by "\\n"; '?' where a digit was rejected.
    digits: one dict per digit, in reading order: {"value": 0..9 (the network's best class, also when
    rejected), "confidence": its calibrated probability, "box": [x0, y0, x1, y1] in the picture's
    pixels (x1, y1 exclusive), "rejected": bool, "line": 0 for the top line}.
    specks: dots, commas and specks of ink left out.
    rules: ruled lines taken out (an underline, the lines of lined paper, a box round a digit or a field open
        at the top: digitnet.rules).
    """
    text: str
    digits: list = field(default_factory=list)
    specks: int = 0
    rules: int = 0

    def to_json(self):
        """The reading as a JSON-ready dict {"text", "digits", "specks", "rules"}."""
        return {"text": self.text, "digits": [dict(d) for d in self.digits], "specks": self.specks,
                "rules": self.rules}

    def __str__(self):
        """'7583  (7 99%, 5 97%, 8 96%, 3 99%)', one such line per line of digits."""
        out = []
        for number, line in zip(self.text.split("\n"), _by_line(self.digits)):
            shown = ", ".join(f"{'?' if d['rejected'] else d['value']} {_percent(d['confidence'])}" for d in line)
            out.append(f"{number}  ({shown})")
        return "\n".join(out)


def _percent(p):
    """99% for 0.994, and never 100% for less than 1 (nor 0% for more than 0)."""
    return f"{min(99, max(1, math.floor(100 * p))) if 0 < p < 1 else round(100 * p)}%"


def _by_line(digits):
    lines = {}
    for d in digits:
        lines.setdefault(d["line"], []).append(d)
    return [lines[k] for k in sorted(lines)]


def reading_nets():
    """The committee read() uses when no network is named: the bundled models the manifest names for reading
    (pretrained.committee_names("read")), loaded once."""
    from .pretrained import default_committee

    return default_committee("read")


def _input_size(net):
    if hasattr(net, "input_dim"):
        return int(np.prod(net.input_dim))
    return int(net.params["W1"].shape[0])


def read(image, net=None, *, reject=True):
    """Read every number in a picture: its lines top to bottom, the digits of each left to right.

    Args:
        image: a path (str or os.PathLike), the file's bytes, a binary file object, a PIL.Image, or a 2-D
            (grey) / 3-D (RGB or RGBA) NumPy array: anything digitnet.preprocess.to_mnist takes. Dark ink on
            light paper or light ink on dark, photos, scans and drawings.
        net: a trained network taking 28x28 images (load_model, pretrained), a bundled model's name or a model
            file's path (as `--model`), or several as a list or tuple, which read together (see the module's
            doc); None: the bundled models of the manifest's "read" committee together.
        reject: mark the digits the network's calibrated confidence rejects (calibration.confidence_of: the
            model file's threshold; a model without one rejects nothing) as '?' in the text. False: never.

    Returns:
        A Reading: .text ("2024", lines joined by "\\n", '?' for a rejected digit), .digits (value,
        confidence, box in the picture's pixels, rejected, line, per digit), .specks (dots and specks left out),
        .rules (ruled lines taken out).

    Raises:
        ImageError: (one line naming the picture) a file that cannot be read or is too large, or a picture
            with no digit in it (blank, or only specks).
        DigitnetError: a network that does not take 28x28 = 784 inputs.

    Examples:
        >>> import numpy as np
        >>> import digitnet
        >>> from digitnet.data import load_sample
        >>> data = load_sample(flatten=False)
        >>> picture = np.hstack([data.x_test[i, 0] for i in (0, 1, 2)])  # three digits side by side
        >>> reading = digitnet.read(picture)
        >>> reading.text == "".join(str(int(t)) for t in data.t_test[:3]), len(reading.digits)
        (True, 3)
    """
    from .pretrained import named_nets

    nets = reading_nets() if net is None else as_committee(named_nets(net))
    for one in nets.nets:
        if _input_size(one) != PIXELS:
            raise DigitnetError(f"the model takes {_input_size(one)} inputs; digits become 28x28 = {PIXELS}")
    ink, name, scale = ink_of(image)
    return read_ink(ink, nets, reject=reject, name=name, scale=scale)


def ink_of(image, name=None):
    """(the picture's ink map (ink.ink_map), its name for messages, the scale (sx, sy) from the map's pixels to the
    picture's): what read() reads. The server makes it before it takes its nets' lock, and names the pixels of a
    JSON body itself (an array's own name is "image")."""
    name, grey, size = _load(image, name)
    return ink_map(grey, name), name, (size[0] / grey.shape[1], size[1] / grey.shape[0])


def _load(image, name=None):
    """(its name for messages, the picture grey as load_grey gives it, its own (width, height)): what read()
    reads and draw_reading() draws on."""
    name = name or describe(image)
    grey, size = load_grey(image, name, with_size=True)
    return name, grey, size


def read_ink(ink, nets, *, reject=True, name="image", scale=(1.0, 1.0)):
    """read() from an ink map (bright ink on 0, ink.ink_map) with a net, several, or a Committee (the
    first net's threshold rejects); boxes are multiplied by scale (sx, sy)."""
    committee = as_committee(nets)
    kept = []  # of each classify() call: the calibrated probabilities and which fields are rejected

    def classify(fields):  # cuts are weighed by the evidence and the margins, whether or not '?' is shown
        a = committee.assess(fields)
        kept.append((a.probabilities, a.margins < 0 if reject else np.zeros(len(fields), dtype=bool)))
        return a.evidence, a.margins

    ink, rules = remove_rules(ink)
    try:
        lines, specks = segment(ink, classify)
    except TooManyCuts as e:  # one line naming the picture, as every refusal of a picture
        raise ImageError(f"{name}: {e}", "too-complex") from None
    found = [d for line in lines for d in line]
    if not found:
        what = (f"only {specks} speck{'s' if specks != 1 else ''} of ink" if specks
                else only_rules(rules) if rules else "no ink that could be a digit")
        raise ImageError(f"{name}: no digit found: {what}", "no-digit")
    sx, sy = scale
    digits = []
    for d in found:
        probabilities, rejected = (kept[d.row[0]][k][d.row[1]] for k in (0, 1))
        x0, y0, x1, y1 = d.box
        digits.append({"value": int(np.argmax(probabilities)), "confidence": float(np.max(probabilities)),
                       "box": [int(x0 * sx), int(y0 * sy), int(math.ceil(x1 * sx)), int(math.ceil(y1 * sy))],
                       "rejected": bool(rejected), "line": d.line})
    text = "\n".join("".join("?" if d["rejected"] else str(d["value"]) for d in line) for line in _by_line(digits))
    return Reading(text, digits, specks, rules)


def draw_reading(image, reading):
    """The picture (grey) as an RGB PIL image with each digit's box and value drawn on it: green boxes,
    red ones with '?' for rejected digits, each value just above its box (a strip is added above the picture for
    the top line's). Small pictures are enlarged so that the labels can be read: to SHOW_HEIGHT pixels high,
    but never wider than SHOW_MAX_WIDTH."""
    from PIL import Image, ImageDraw, ImageFont

    _, grey, size = _load(image)
    picture = Image.fromarray(np.round(grey * 255).astype(np.uint8)).convert("RGB")
    grow = max(1.0, min(SHOW_HEIGHT / max(1, picture.height), SHOW_MAX_WIDTH / max(1, picture.width)))
    picture = picture.resize((round(picture.width * grow), round(picture.height * grow)), Image.BILINEAR)
    sx, sy = picture.width / size[0], picture.height / size[1]
    heights = [d["box"][3] - d["box"][1] for d in reading.digits] or [size[1]]
    font = ImageFont.load_default(size=max(11, round(0.3 * float(np.median(heights)) * sy)))
    strip = round(1.3 * font.size) + 4
    canvas = Image.new("RGB", (picture.width, picture.height + strip), "white")
    canvas.paste(picture, (0, strip))
    pen = ImageDraw.Draw(canvas)
    for d in reading.digits:
        x0, y0, x1, y1 = d["box"]
        box = (x0 * sx, y0 * sy + strip, x1 * sx - 1, y1 * sy - 1 + strip)
        colour = (214, 39, 40) if d["rejected"] else (44, 160, 44)
        pen.rectangle(box, outline=colour, width=max(2, round(font.size / 8)))
        label = "?" if d["rejected"] else str(d["value"])  # the confidences are in the text; labels must not collide
        pen.text((box[0], box[1] - 1.2 * font.size - 2), label, fill=colour, font=font)
    return canvas
