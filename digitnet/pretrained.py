"""The trained models that ship inside the package (digitnet/models/), and choosing a model by name or path.

    net = digitnet.pretrained("deep-cnn")     # the book's DeepConvNet, ~99.2 % on the MNIST test set
    net = digitnet.pretrained()               # the best bundled model

scripts/make_pretrained.py makes them (fixed seeds, one thread: the same weights on every run) and
writes models/manifest.json: for each model its file, architecture, training data, recipe, test
accuracy, size and the file's sha256, which pretrained() checks before loading (load_model then
checks the weights' own digest). Needs only NumPy.
"""
import functools
import hashlib
import json
import os
import threading
from pathlib import Path

from .errors import ModelFileError

MODELS_DIR = Path(__file__).resolve().parent / "models"
MANIFEST = MODELS_DIR / "manifest.json"

__all__ = ["pretrained", "bundled_models", "best_model_name", "bundled_path", "resolve_model", "named_nets", "describe",
           "committee_names", "default_committee"]


def _manifest():
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{MANIFEST}: cannot read the bundled models' manifest ({e}); "
                             "the package is damaged, reinstall it") from None


def bundled_models():
    """The models bundled with the package, from its manifest: {name: entry}, the best model first.

    Each entry has "file", "architecture", "training_data", "recipe", "seed", "test_accuracy",
    "train_accuracy", "size_bytes", "sha256" and "training_time_s".

    Returns:
        A dict {name: manifest entry}.

    Examples:
        >>> from digitnet.pretrained import bundled_models
        >>> models = bundled_models()
        >>> "two-layer" in models, models["two-layer"]["file"]
        (True, 'two-layer.npz')
    """
    manifest = _manifest()
    models = manifest["models"]
    best = manifest.get("best")
    return {name: models[name] for name in sorted(models, key=lambda n: n != best)}


def best_model_name():
    """The name of the best bundled model: the one `pretrained()` loads by default, and the first of `predict`'s
    committee.

    Returns:
        A model name.

    Examples:
        >>> from digitnet.pretrained import best_model_name, bundled_models
        >>> best_model_name() in bundled_models()
        True
    """
    return _manifest()["best"]


def committee_names(task):
    """The bundled models that `task` uses together when no model is named, the one that rejects first.

    Args:
        task: "predict" (predict, serve's single digits and `digitnet.predict_images` callers that ask for it)
            or "read" (whole numbers: read, serve's pad).

    Returns:
        A list of bundled model names: the manifest's "committees" entry, else the best model alone.

    Examples:
        >>> from digitnet.pretrained import best_model_name, committee_names
        >>> committee_names("predict")[0] == best_model_name()
        True
    """
    if task not in ("predict", "read"):
        raise ValueError(f"task must be 'predict' or 'read', not {task!r}")
    manifest = _manifest()
    return list(manifest.get("committees", {}).get(task) or [manifest["best"]])


def default_committee(task):
    """committee_names(task)'s models, loaded, as a committee.Committee (loaded once per process).

    Shared: every caller gets the same nets, which digitnet.read, digitnet.predict and the server use when no
    net is named; to train or change one, take your own copy with pretrained(name). Threads that ask at once
    wait for one load (before, each loaded its own).

    Args:
        task: "predict" or "read" (see committee_names).

    Returns:
        A Committee: `classify(x)` gives the mean of the nets' calibrated probabilities and the first net's
        "not a digit"; predict.predict_images and reader.read take it as they take a net.

    Examples:
        >>> from digitnet.data import load_sample
        >>> from digitnet.pretrained import committee_names, default_committee
        >>> committee = default_committee("predict")
        >>> len(committee) == len(committee_names("predict"))
        True
        >>> sample = load_sample()
        >>> probabilities, rejected = committee.classify(sample.x_test[:100])
        >>> float((probabilities.argmax(axis=1) == sample.t_test[:100]).mean()) >= 0.98
        True
    """
    with _LOADING:
        return _loaded_committee(task)


_LOADING = threading.Lock()


@functools.lru_cache(maxsize=2)
def _loaded_committee(task):
    from .committee import Committee

    return Committee([pretrained(name) for name in committee_names(task)])


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundled_path(name=None, *, verify=True):
    """The file of a bundled model, its SHA-256 checked against the manifest.

    Args:
        name: a bundled model's name; None: the best.
        verify: check the file's SHA-256 (the default) or only find it.

    Returns:
        The file's Path.

    Raises:
        ModelFileError: no such bundled model, or its file is missing or fails its checksum.

    Examples:
        >>> from digitnet.pretrained import bundled_path
        >>> bundled_path("two-layer").name
        'two-layer.npz'
    """
    models = bundled_models()
    name = best_model_name() if name is None else name
    if name not in models:
        raise ModelFileError(f"no bundled model {name!r}: the bundled models are {', '.join(models)}")
    path = MODELS_DIR / models[name]["file"]
    if verify:
        if not path.is_file():
            raise ModelFileError(f"{path}: the bundled model {name!r} is missing; the package is damaged, reinstall it")
        if file_sha256(path) != models[name]["sha256"]:
            raise ModelFileError(f"{path}: its sha256 is not the manifest's; the package is damaged, reinstall it")
    return path


def pretrained(name=None):
    """A bundled trained model, loaded and ready to predict.

    The file's SHA-256 is checked against digitnet/models/manifest.json first, then load_model checks the
    weights' own digest. Needs only NumPy.

    Args:
        name: a bundled model's name: "fast-cnn" (99.26 % on the official MNIST test set), "fast-cnn-read",
            "fast-cnn-pairs", "deep-cnn" (the book's DeepConvNet, 99.05 %) or "two-layer" (the book's 784-50-10,
            97.07 %); None: the best one alone (the manifest's "best", fast-cnn). `bundled_models()` lists them.

    Returns:
        The network (a FastConvNet, DeepConvNet or TwoLayerNet), float32.

    Raises:
        ModelFileError: no bundled model of that name, or its file is missing or damaged.

    Examples:
        >>> import numpy as np
        >>> import digitnet
        >>> net = digitnet.pretrained("two-layer")
        >>> type(net).__name__, net.params["W1"].shape
        ('TwoLayerNet', (784, 50))
        >>> from digitnet.data import load_sample
        >>> digit = load_sample().x_test[:1]
        >>> int(net.predict(digit).argmax()) == int(load_sample().t_test[0])
        True
    """
    from .model_io import load_model

    return load_model(bundled_path(name))[0]


def named_nets(net):
    """The nets a `net=` argument names: a bundled model's name or a model file's path is loaded (what
    `--model` takes); a list or tuple has each of its items so loaded; anything else is returned as it is.

    Args:
        net: a network, a name ("deep-cnn"), a path (str or os.PathLike) to a model file, or a list or tuple
            of these.

    Returns:
        The network, or a tuple of networks for a list or tuple.

    Raises:
        ModelFileError: a name that is neither a bundled model nor an existing file, or a file that is no model.

    Examples:
        >>> from digitnet.pretrained import named_nets
        >>> type(named_nets("two-layer")).__name__, len(named_nets(["two-layer", "deep-cnn"]))
        ('TwoLayerNet', 2)
    """
    from .model_io import load_model

    if isinstance(net, (str, os.PathLike)):
        return load_model(resolve_model(net)[0])[0]
    if isinstance(net, (list, tuple)):
        return tuple(named_nets(one) for one in net)
    return net


def describe(name):
    """One phrase naming a bundled model for the user, with its architecture and official test accuracy.

    Args:
        name: a bundled model's name.

    Returns:
        A string such as "bundled model two-layer (TwoLayerNet 784-50-10, 94.15% on the official MNIST test set)".

    Examples:
        >>> from digitnet.pretrained import describe
        >>> describe("two-layer").startswith("bundled model two-layer (TwoLayerNet 784-50-10")
        True
    """
    entry = bundled_models()[name]
    acc = entry.get("test_accuracy")
    acc = f", {100 * acc:.2f}% on the official MNIST test set" if isinstance(acc, (int, float)) else ""
    return f"bundled model {name} ({entry['architecture'].split(':')[0].split(' (')[0]}{acc})"


def resolve_model(spec):
    """Find the model a `--model` value names: a bundled model's name, a model file, or None for the best.

    Args:
        spec: None, a bundled name ("deep-cnn", "two-layer") or a path to a model file.

    Returns:
        (path, description): the file to load and a phrase naming it for the user.

    Raises:
        ModelFileError: a name that is neither a bundled model nor an existing file.

    Examples:
        >>> from digitnet.pretrained import best_model_name, bundled_path, resolve_model
        >>> path, description = resolve_model(None)
        >>> path.name == bundled_path(best_model_name()).name, description.startswith("bundled model")
        (True, True)
    """
    if spec is None or str(spec) in _manifest()["models"]:
        name = best_model_name() if spec is None else str(spec)
        return bundled_path(name), describe(name)
    path = Path(spec)
    if not path.exists() and path.suffix != ".npz" and "/" not in str(spec):
        names = ", ".join(bundled_models())
        raise ModelFileError(f"{spec}: no such model file, and not a bundled model ({names})")
    return path, f"model file {path}"
