"""ONNX export: every network type runs in onnxruntime and gives digitnet's own probabilities."""
import json
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402  (after the importorskip calls above)

from digitnet.calibration import confidence_of  # noqa: E402  (after the importorskip calls above)
from digitnet.cli.export import command as export_command  # noqa: E402  (after the importorskip calls above)
from digitnet.data import load_sample  # noqa: E402  (after the importorskip calls above)
from digitnet.export_onnx import export_onnx, run_onnx  # noqa: E402  (after the importorskip calls above)
from digitnet.functions import softmax  # noqa: E402  (after the importorskip calls above)
from digitnet.layers import BatchNormalization, Softmax  # noqa: E402  (after the importorskip calls above)
from digitnet.model_io import save_model  # noqa: E402  (after the importorskip calls above)
from digitnet.nets.factory import build_net  # noqa: E402  (after the importorskip calls above)
from digitnet.optimizers import Adam  # noqa: E402  (after the importorskip calls above)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def trained(model, sample, steps=5, batch=50, dtype=np.float32, **kw):
    """A net built by the factory and moved off its initial weights by a few Adam steps."""
    net = build_net(model, rng=np.random.default_rng(0), dtype=dtype, **kw)
    optimizer = Adam(lr=0.005)
    for i in range(steps):
        x = sample.x_train[i * batch:(i + 1) * batch].astype(dtype)
        _, grads = net.loss_and_gradient(x, sample.t_train[i * batch:(i + 1) * batch])
        optimizer.update(net.params, grads)
    return net


def max_difference(net, path, x):
    """The largest |onnxruntime's probability - digitnet's| (confidence_of(net).probabilities: softmax(net.predict(x))
    for a net without calibration). Log-probabilities are checked too (to 1e-4): they show a wrong logit even where
    a barely trained net's probabilities are all near 0.1."""
    got = run_onnx(path, x)
    logits = net.predict(x)
    want = confidence_of(net).probabilities(logits)
    if getattr(net, "confidence", None) is None:
        np.testing.assert_allclose(want, softmax(logits), rtol=0, atol=1e-6)  # float64 against float32
    assert got.dtype == np.float32 and got.shape == logits.shape
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-5)
    shown = got > 1e-30  # not underflowed to 0 in float32
    np.testing.assert_allclose(np.log(got[shown]), np.log(want[shown]), rtol=0, atol=1e-4)
    return float(np.max(np.abs(got - want)))


NETWORKS = {  # id: (model, build_net options, test digits, op types the graph must contain)
    "two-layer": ("two-layer", {}, 500, {"Gemm", "Relu", "Softmax"}),
    "mlp-relu": ("mlp", {"hidden": [64, 32]}, 500, {"Gemm", "Relu", "Softmax"}),
    "mlp-sigmoid": ("mlp", {"hidden": [64, 32], "activation": "sigmoid"}, 500, {"Gemm", "Sigmoid", "Softmax"}),
    "mlp-batchnorm-dropout": ("mlp", {"hidden": [64, 32], "batch_norm": True, "dropout": 0.2}, 500,
                              {"Gemm", "Sub", "Div", "Mul", "Add", "Relu", "Softmax"}),
    "simple-cnn": ("simple-cnn", {}, 500, {"Reshape", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"}),
    "deep-cnn": ("deep-cnn", {}, 200, {"Reshape", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"}),
}


@pytest.mark.parametrize("key", list(NETWORKS))
def test_every_network_matches_digitnet_in_onnxruntime(key, sample, tmp_path):
    model, kw, n_test, ops = NETWORKS[key]
    net = trained(model, sample, **kw)
    if kw.get("batch_norm"):  # the running statistics have moved away from 0 and 1
        bn = [layer for layer in net.layers.values() if isinstance(layer, BatchNormalization)]
        assert bn and all(np.abs(layer.running_mean).max() > 1e-2 for layer in bn)
        assert all(np.abs(layer.running_var - 1).max() > 1e-2 for layer in bn)
    path = tmp_path / f"{key}.onnx"
    proto = export_onnx(net, path)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    op_types = {node.op_type for node in loaded.graph.node}
    assert ops <= op_types, f"missing {ops - op_types}"
    assert "Dropout" not in op_types and "BatchNormalization" not in op_types
    assert proto.SerializeToString() == loaded.SerializeToString()
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in loaded.graph.initializer
               if t.data_type != onnx.TensorProto.INT64)

    diff = max_difference(net, path, sample.x_test[:n_test])
    print(f"{key}: max abs difference {diff:.3g} over {n_test} test digits")
    assert diff <= TOLERANCE


def test_the_interface_and_metadata(sample, tmp_path):
    net = trained("simple-cnn", sample, steps=2)
    path = tmp_path / "cnn.onnx"
    model = export_onnx(net, path, opset=13, metadata={"note": "hi", "numbers": [1, 2]})
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "image" and out.name == "probabilities"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["N", 784]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", 10]
    assert model.opset_import[0].version == 13
    assert model.graph.node[0].op_type == "Reshape" and model.graph.node[-1].op_type == "Softmax"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["architecture"] == "simple-cnn"
    assert props["digitnet_version"] == __import__("digitnet").__version__
    assert json.loads(props["config"]) == json.loads(json.dumps(net.config))
    assert props["note"] == "hi" and json.loads(props["numbers"]) == [1, 2]
    # A dynamic batch: one image, and none at all.
    assert max_difference(net, path, sample.x_test[:1]) <= TOLERANCE
    assert run_onnx(path, np.zeros((0, 784), np.float32)).shape == (0, 10)


def test_a_float64_net_is_exported_in_float32(sample, tmp_path):
    net = trained("mlp", sample, dtype=np.float64, hidden=[32], batch_norm=True)
    path = tmp_path / "f64.onnx"
    model = export_onnx(net, path)
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT}
    assert max_difference(net, path, sample.x_test[:200].astype(np.float64)) <= TOLERANCE


def test_batch_norm_on_feature_maps_is_per_pixel_as_the_book(sample, tmp_path):
    """digitnet's BN flattens a 4-d input to (N, C*H*W): the export must do the same, not BatchNorm2d."""
    net = trained("simple-cnn", sample, steps=2)
    size = 30 * 12 * 12
    rng = np.random.default_rng(1)
    bn = BatchNormalization(rng.uniform(0.5, 1.5, size).astype(np.float32), rng.normal(0, 0.1, size).astype(np.float32),
                            running_mean=rng.normal(0, 0.01, size).astype(np.float32),
                            running_var=rng.uniform(1e-4, 1e-3, size).astype(np.float32))
    layers = list(net.layers.items())
    at = [name for name, _ in layers].index("Pool1") + 1
    net.layers = OrderedDict(layers[:at] + [("BatchNormPool", bn)] + layers[at:])
    path = tmp_path / "bn4d.onnx"
    ops = [node.op_type for node in export_onnx(net, path).graph.node]
    assert ops[ops.index("MaxPool") + 1:ops.index("MaxPool") + 7] == ["Flatten", "Sub", "Div", "Mul", "Add", "Reshape"]
    assert max_difference(net, path, sample.x_test[:200]) <= TOLERANCE


def test_an_unknown_layer_is_a_clear_value_error(sample, tmp_path):
    net = trained("two-layer", sample, steps=1)
    net.layers["Softmax9"] = Softmax()
    with pytest.raises(ValueError, match=r"cannot export layer 'Softmax9' of type digitnet\.layers\.Softmax"):
        export_onnx(net, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()

    class Swish:
        def forward(self, x):
            return x / (1 + np.exp(-x))

    net.layers = OrderedDict([("Affine1", net.layers["Affine1"]), ("Swish1", Swish())])
    with pytest.raises(ValueError, match="Swish1"):
        export_onnx(net, tmp_path / "x.onnx")


def test_a_bad_opset_is_refused(sample, tmp_path):
    net = trained("two-layer", sample, steps=1)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(net, tmp_path / "x.onnx", opset=7)


def test_cli_exports_a_saved_model(sample, tmp_path):
    net = trained("mlp", sample, hidden=[32], batch_norm=True, dropout=0.3)
    model_file = save_model(tmp_path / "model.npz", net, {"test_accuracy": 0.5, "dataset": "sample"})
    out = tmp_path / "out" / "model.onnx"
    result = CliRunner().invoke(export_command, [str(model_file), "--onnx", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "onnxruntime check passed" in result.output
    model = onnx.load(str(out))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["architecture"] == "mlp" and props["source_model"] == "model.npz"
    assert json.loads(props["training_metadata"]) == {"test_accuracy": 0.5, "dataset": "sample"}
    assert max_difference(net, out, sample.x_test[:300]) <= TOLERANCE


def test_cli_exports_a_bundled_model_by_name(sample, tmp_path):
    from digitnet.pretrained import pretrained

    out = tmp_path / "two-layer.onnx"
    result = CliRunner().invoke(export_command, ["two-layer", "--onnx", str(out)])
    assert result.exit_code == 0, result.output
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["source_model"] == "two-layer.npz"
    assert max_difference(pretrained("two-layer"), out, sample.x_test[:300]) <= TOLERANCE


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(export_command, [str(tmp_path / "missing.npz"), "--onnx", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "no such model file" in result.output
    assert not (tmp_path / "m.onnx").exists()

    result = runner.invoke(export_command, [str(tmp_path / "missing.npz")])
    assert result.exit_code == 2 and "--onnx" in result.output  # the option is required


def test_cli_without_onnx_says_what_to_install(sample, tmp_path, monkeypatch):
    net = trained("two-layer", sample, steps=1)
    model_file = save_model(tmp_path / "model.npz", net)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    result = CliRunner().invoke(export_command, [str(model_file), "--onnx", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert "pip install 'digitnet[onnx]'" in result.output and "Traceback" not in result.output


def test_importing_the_module_does_not_import_onnx():
    code = ("import sys, digitnet, digitnet.export_onnx; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["two-layer", "deep-cnn"])  # rejection by energy, and by msp
def test_a_calibrated_model_gives_digitnets_calibrated_probabilities_and_rejection(name, sample, tmp_path):
    """The export applied a plain softmax: the bundled two-layer's probabilities were up to 0.60 off digitnet's
    (ECE 3.78 % against 1.03 %), and "not a digit" was lost. Now each picture's temperature is in the graph, and
    a model with a threshold gives "rejected" too."""
    from digitnet.pretrained import pretrained

    net, out = pretrained(name), tmp_path / f"{name}.onnx"
    result = CliRunner().invoke(export_command, [name, "--onnx", str(out)])
    assert result.exit_code == 0 and "rejected bool [N]" in result.output, result.output
    rng = np.random.default_rng(1)
    x = np.concatenate([sample.x_test[:500], rng.random((100, 784)), np.zeros((1, 784))]).astype(np.float32)
    assert max_difference(net, out, x) <= TOLERANCE
    confidence, logits = confidence_of(net), net.predict(x)
    got = run_onnx(out, x, with_rejected=True)[1]
    want = confidence.rejected(logits)
    assert got.dtype == bool and got.shape == (len(x),)
    near = np.abs(confidence.margins(logits)) < 1e-4  # float32 against float64 at the threshold itself
    assert np.array_equal(got[~near], want[~near]) and want[500:].sum() >= 50 and want[:500].sum() <= 25
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["calibration"])["rejection"]["score"] == confidence.score


def test_a_float16_model_is_exported_and_a_failed_check_leaves_the_file_as_it_was(sample, tmp_path, monkeypatch):
    """float16's own rounding is over the check's 1e-4, so no float16 model could be exported; and the file was
    written before the check, so a failed export replaced the good file there."""
    import digitnet.cli.export as export_cli
    from digitnet.model_io import load_model
    from digitnet.nets import ARCHITECTURES
    from digitnet.pretrained import resolve_model

    net, header = load_model(resolve_model("two-layer")[0])
    half = ARCHITECTURES[header["architecture"]](**header["config"], dtype=np.float16)
    half.load_state({k: v.astype(np.float16) for k, v in net.state_arrays().items()})
    model_file = save_model(tmp_path / "half.npz", half, header["metadata"])
    out = tmp_path / "m.onnx"
    result = CliRunner().invoke(export_command, [str(model_file), "--onnx", str(out)])
    assert result.exit_code == 0, result.output
    good = out.read_bytes()
    real = export_cli.run_onnx
    monkeypatch.setattr(export_cli, "run_onnx", lambda *a, **k: (lambda p, r: (p + 0.01, r))(*real(*a, **k)))
    result = CliRunner().invoke(export_command, [str(model_file), "--onnx", str(out)])
    assert result.exit_code == 1 and "nothing written" in result.output, result.output
    assert out.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["half.npz", "m.onnx"]
