"""The bundled trained models: their digests, their accuracy (the official test set when ../shared is there,
the offline sample and the hand-drawn set otherwise), digitnet.pretrained() and `digitnet models`."""
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import digitnet
from digitnet.data import load_dataset, load_sample
from digitnet.pretrained import MODELS_DIR, best_model_name, bundled_models, bundled_path, resolve_model

REPO = Path(__file__).resolve().parents[1]
HANDWRITING = Path(__file__).resolve().parent / "fixtures" / "handwriting"
MANIFEST = json.loads((MODELS_DIR / "manifest.json").read_text())
# What each model must reach on the official test set. The outlier-exposed recipes of issue 22: the deep-cnn
# (20 epochs on 8,000 digits, a third of each batch outliers) made 98.27 %, the two-layer net 96.80 %, the fast-cnn
# (the default: 40 epochs, pen-drawn digits, Fashion-MNIST and drawn outliers) 99.26 %; it must keep 99.0 %.
# fast-cnn-pairs and fast-cnn-read (the same recipe, also trained on digits as read cuts them out of numbers and to
# reject touching pairs; the second also the reader's wrong cuts) made 99.08 and 99.17 %: they are for reading,
# and the second for predict's committee.
OFFICIAL_BAR = {"deep-cnn": 0.980, "two-layer": 0.96, "fast-cnn": 0.990, "fast-cnn-read": 0.990,
                "fast-cnn-pairs": 0.990}
# On the sample's digits, which are their training data: a sound file scores near its training accuracy; a
# damaged or mismatched one near chance.
SAMPLE_BAR = {"deep-cnn": 0.98, "two-layer": 0.975, "fast-cnn": 0.99, "fast-cnn-read": 0.99, "fast-cnn-pairs": 0.99}
# The 60 hand-drawn fixtures were never trained on: the outlier-exposed deep-cnn reads 58 of them (the one before
# it, 59); the two-layer net read 59 when it was made, and must keep at least 56; fast-cnn the 59.
HANDWRITING_BAR = {"deep-cnn": 58, "two-layer": 56, "fast-cnn": 59, "fast-cnn-read": 59, "fast-cnn-pairs": 59}
NAMES = sorted(MANIFEST["models"])
BEST = MANIFEST["best"]
BEST_CLASS = {"deep-cnn": digitnet.DeepConvNet, "fast-cnn": digitnet.nets.FastConvNet}[BEST]


def test_the_manifest_names_the_models_and_the_best():
    assert {"two-layer", "deep-cnn"} <= set(NAMES) <= {"two-layer", "deep-cnn", "fast-cnn", "fast-cnn-read",
                                                        "fast-cnn-pairs"}
    assert best_model_name() == BEST
    assert list(bundled_models())[0] == BEST
    # the default is fast-cnn only where it beats deep-cnn on the official test set and reads as many hand-drawn digits
    fast, deep = MANIFEST["models"].get("fast-cnn"), MANIFEST["models"]["deep-cnn"]
    assert (BEST == "fast-cnn") == (fast is not None and fast["test_accuracy"] > deep["test_accuracy"]
                                    and fast["handwriting"] >= deep["handwriting"])
    for entry in MANIFEST["models"].values():
        assert {"file", "architecture", "training_data", "recipe", "seed", "test_accuracy", "size_bytes", "sha256",
                "weights_sha256"} <= set(entry)
        assert "10,000" in entry["training_data"]


@pytest.mark.parametrize("name", NAMES)
def test_each_file_matches_its_digests(name):
    entry = MANIFEST["models"][name]
    path = MODELS_DIR / entry["file"]
    data = path.read_bytes()
    assert len(data) == entry["size_bytes"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    net, header = digitnet.load_model(path)  # load_model checks the arrays against the header's sha256
    assert header["sha256"] == entry["weights_sha256"] and header["architecture"] == name.replace("-read", "").replace(
        "-pairs", "")  # fast-cnn-read and fast-cnn-pairs are fast-cnns
    assert header["metadata"]["pretrained"] == name and header["metadata"]["recipe"]["seed"] == entry["seed"]


def test_the_bundled_files_add_under_4_mb_to_the_wheel():
    """Issue 15 kept them under 2 MB (two-layer, deep-cnn, then fast-cnn: 1.6 MB). Issue 23's better default is a
    committee of three nets and issue 22's reading needs the two fast-cnns trained on cut-out digits: 3.4 MB. Storing
    the weights as float16 would halve it (not done; the README's bundled models say so)."""
    total = sum(p.stat().st_size for p in MODELS_DIR.iterdir())
    print(f"\nbundled models: {total:,} bytes")
    assert total <= 4_000_000


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_on_the_official_test_set(name, mnist_10k_dir):
    ds = load_dataset(mnist_10k_dir, dtype=np.float32)
    acc = digitnet.evaluate(digitnet.pretrained(name), ds.x_test, ds.t_test)[1]
    print(f"\n{name}: {100 * acc:.2f}% on the official test set")
    assert acc >= OFFICIAL_BAR[name]
    assert acc == pytest.approx(MANIFEST["models"][name]["test_accuracy"], abs=1e-12)  # the manifest's own figure


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_offline_on_the_sample_and_the_hand_drawn_set(name):
    from digitnet.predict import predict_images

    pytest.importorskip("PIL")
    net = digitnet.pretrained(name)
    sample = load_sample()
    x, t = sample.x_train, sample.t_train  # the 8,000 trained on; the other 2,000 calibrate
    acc = digitnet.evaluate(net, x, t)[1]
    assert acc >= SAMPLE_BAR[name]
    assert acc == pytest.approx(MANIFEST["models"][name]["train_accuracy"], abs=1e-12)
    files = sorted(p for p in HANDWRITING.iterdir()
                   if p.suffix.lower() in (".png", ".jpg", ".bmp", ".gif", ".webp", ".tif"))
    results = predict_images(net, files)
    right = sum(r["digit"] == int(p.name[0]) for p, r in zip(files, results))
    missed = [f"{p.name} as {r['digit']}" for p, r in zip(files, results) if r["digit"] != int(p.name[0])]
    print(f"\n{name}: sample {100 * acc:.2f}%, hand-drawn {right}/{len(files)}; missed: {', '.join(missed) or 'none'}")
    assert len(files) == 60 and right >= HANDWRITING_BAR[name]


def test_pretrained_in_python():
    assert isinstance(digitnet.pretrained("deep-cnn"), digitnet.DeepConvNet)
    assert isinstance(digitnet.pretrained("two-layer"), digitnet.TwoLayerNet)
    if "fast-cnn" in NAMES:
        assert isinstance(digitnet.pretrained("fast-cnn"), digitnet.nets.FastConvNet)
    assert isinstance(digitnet.pretrained(), BEST_CLASS)
    with pytest.raises(digitnet.ModelFileError,
                       match=f"no bundled model 'resnet': the bundled models are {', '.join(bundled_models())}$"):
        digitnet.pretrained("resnet")


def test_a_damaged_bundled_file_is_refused(tmp_path, monkeypatch):
    bundle = sys.modules["digitnet.pretrained"]  # the module: digitnet.pretrained is the function

    copy = tmp_path / "models"
    shutil.copytree(MODELS_DIR, copy)
    monkeypatch.setattr(bundle, "MODELS_DIR", copy)
    monkeypatch.setattr(bundle, "MANIFEST", copy / "manifest.json")
    data = bytearray((copy / "two-layer.npz").read_bytes())
    data[len(data) // 2] ^= 1
    (copy / "two-layer.npz").write_bytes(bytes(data))
    with pytest.raises(digitnet.ModelFileError, match="sha256 is not the manifest's"):
        digitnet.pretrained("two-layer")
    assert isinstance(digitnet.pretrained("deep-cnn"), digitnet.DeepConvNet)


def test_resolve_model_takes_a_name_a_path_or_nothing(tmp_path):
    assert resolve_model(None) == (bundled_path(BEST), resolve_model(BEST)[1])
    accuracy = f"{100 * MANIFEST['models'][BEST]['test_accuracy']:.2f}%"
    assert f"bundled model {BEST}" in resolve_model(None)[1] and accuracy in resolve_model(None)[1]
    assert resolve_model(str(tmp_path / "m.npz")) == (tmp_path / "m.npz", f"model file {tmp_path / 'm.npz'}")
    with pytest.raises(digitnet.ModelFileError, match="not a bundled model"):
        resolve_model("deep_cnn")


def test_models_command_lists_them():
    from digitnet.cli import main

    r = CliRunner().invoke(main, ["models", "--verify"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"{BEST}  (default)" and "two-layer" in lines
    for entry in MANIFEST["models"].values():
        assert entry["sha256"] in r.output and f"{entry['size_bytes']:,} bytes" in r.output
        if entry["test_accuracy"] is not None:
            assert f"{100 * entry['test_accuracy']:.2f}% on the official MNIST test set" in r.output
    assert f"all {len(NAMES)} files match" in r.output
    r = CliRunner().invoke(main, ["models", "--json"])
    assert json.loads(r.output)["models"] == MANIFEST["models"]


def test_the_recipe_is_deterministic():
    """scripts/make_pretrained.py's training, cut to 300 steps, run twice: the same weights bit for bit."""
    spec = importlib.util.spec_from_file_location("make_pretrained", REPO / "scripts" / "make_pretrained.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    from digitnet.outliers import FASHION_DIR

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the recipe's outlier exposure needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    x, t = script.training_data()
    assert x.shape == (8_000, 784)  # the sample's training digits; its other 2,000 calibrate
    nets = [script.train_recipe("two-layer", x, t, steps=300, log=lambda _: None)[0] for _ in range(2)]
    assert all(np.array_equal(nets[0].params[k], nets[1].params[k]) for k in nets[0].params)
