"""Issue 19, item 3: every option at its edge values, on every network that takes it: the net built, the
saved file's config (rebuilt by the loader) and the run's metadata must say the same (deep-cnn's
`--dropout 0` was once silently 0.5)."""
import numpy as np
import pytest

from digitnet.model_io import load_model, save_model
from digitnet.nets.factory import MODELS, net_class
from digitnet.run import build_network
from digitnet.settings import RunSettings

EDGES = {"dropout": [0.0, 0.05, 0.5, 0.95], "weight_decay": [0.0, 1e-6, 0.1], "init": [0.01, "he", "xavier"],
         "activation": ["relu", "sigmoid"], "batch_norm": [False, True], "label_smoothing": [0.0, 0.1, 0.5]}
CASES = [(model, option, value) for model in MODELS for option in sorted(net_class(model).options)
         for value in EDGES[option]]


def dropout_ratios(net):
    return sorted({layer.dropout_ratio for layer in net.layers.values() if hasattr(layer, "dropout_ratio")})


def weight_decay(net):
    return getattr(net, "weight_decay_lambda", 0.0)


@pytest.mark.parametrize("model, option, value", CASES)
def test_each_option_edge_value_is_what_the_net_and_its_file_hold(tmp_path, model, option, value):
    settings = RunSettings(model=model, iters=1, **{option: value}).resolved()
    net = build_network(settings, 784, np.random.default_rng(0))
    assert getattr(settings, option) == value  # the metadata's settings (run.model_metadata) are these
    save_model(tmp_path / "m.npz", net, {"settings": settings.as_dict()})
    loaded, header = load_model(tmp_path / "m.npz")
    assert header["metadata"]["settings"][option] == value
    if option == "dropout":
        assert [r for r in dropout_ratios(net) if r] == ([] if value == 0 else [value])  # ratio 0: off
    elif option == "weight_decay":
        assert weight_decay(net) == value
    elif option == "batch_norm":
        assert any("BatchNorm" in name for name in net.layers) == value
    elif option == "label_smoothing":
        assert net.lastLayer.label_smoothing == value and loaded.lastLayer.label_smoothing == value
    elif option == "activation":
        assert any(value.capitalize() in type(layer).__name__ for layer in net.layers.values())
    assert dropout_ratios(loaded) == dropout_ratios(net) and weight_decay(loaded) == weight_decay(net)
    assert list(loaded.layers) == list(net.layers) and loaded.config == net.config
