"""The trained models that ship inside the package (digitnet/models/), and choosing a model by name or path.

    net = digitnet.pretrained("deep-cnn")     # the book's DeepConvNet, ~99.2 % on the MNIST test set
    net = digitnet.pretrained()               # the best bundled model

scripts/make_pretrained.py makes them (fixed seeds, one thread: the same weights on every run) and
writes models/manifest.json: for each model its file, architecture, training data, recipe, test
accuracy, size and the file's sha256, which pretrained() checks before loading (load_model then
checks the weights' own digest). Needs only NumPy.
"""
import hashlib
import json
from pathlib import Path

from .errors import ModelFileError

MODELS_DIR = Path(__file__).resolve().parent / "models"
MANIFEST = MODELS_DIR / "manifest.json"

__all__ = ["pretrained", "bundled_models", "best_model_name", "bundled_path", "resolve_model", "describe"]


def _manifest():
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{MANIFEST}: cannot read the bundled models' manifest ({e}); "
                             "the package is damaged, reinstall it") from None


def bundled_models():
    """{name: manifest entry}, best model first."""
    manifest = _manifest()
    models = manifest["models"]
    best = manifest.get("best")
    return {name: models[name] for name in sorted(models, key=lambda n: n != best)}


def best_model_name():
    return _manifest()["best"]


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundled_path(name=None, *, verify=True):
    """The file of bundled model `name` (None: the best), its sha256 checked against the manifest."""
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
    """The bundled model `name` ("two-layer" or "deep-cnn"; None: the best) as a ready network."""
    from .model_io import load_model

    return load_model(bundled_path(name))[0]


def describe(name):
    """One line naming a bundled model for the user: 'deep-cnn (DeepConvNet ..., 99.20 % on the MNIST test set)'."""
    entry = bundled_models()[name]
    acc = entry.get("test_accuracy")
    acc = f", {100 * acc:.2f}% on the official MNIST test set" if isinstance(acc, (int, float)) else ""
    return f"bundled model {name} ({entry['architecture'].split(':')[0].split(' (')[0]}{acc})"


def resolve_model(spec):
    """(path, description) for a --model value: None (the best bundled model), a bundled name, or a file path."""
    if spec is None or str(spec) in _manifest()["models"]:
        name = best_model_name() if spec is None else str(spec)
        return bundled_path(name), describe(name)
    path = Path(spec)
    if not path.exists() and path.suffix != ".npz" and "/" not in str(spec):
        names = ", ".join(bundled_models())
        raise ModelFileError(f"{spec}: no such model file, and not a bundled model ({names})")
    return path, f"model file {path}"
