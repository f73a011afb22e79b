"""Export a digitnet network to ONNX, and the `digitnet export MODEL --onnx FILE` command.

The graph follows net.layers in order, the way LayeredNet.predict runs them in inference mode:

    image float32 [N, D]  (D = 784 for MNIST; conv nets Reshape it to [N, C, H, W] = net.input_dim)
    Affine       -> Flatten (when its input is 4-d) + Gemm, W and b as initializers
    Relu, Sigmoid -> Relu, Sigmoid
    Convolution  -> Conv (W is (FN, C, FH, FW), already ONNX's layout; pads, strides)
    Pooling      -> MaxPool (kernel_shape, strides, pads; ONNX pads with -inf, as digitnet does)
    BatchNormalization -> Sub running_mean, Div sqrt(running_var + eps), Mul gamma, Add beta: the
                    inference forward op for op, per feature of the flattened (N, C*H*W) input, as
                    the book's BN is (a 4-d input is flattened first and reshaped back after)
    Dropout      -> nothing (digitnet's dropout is inverted: the identity at inference)
    then the model's calibration (calibration.Confidence): the logits divided by its temperature, or by each
    picture's (scale x spread ** power, spread the standard deviation of the picture's logits: MatMul by a
    column of 1/classes for the means, Sqrt, Max, Pow), and Softmax(axis=1): the output "probabilities"
    [N, classes] are the calibrated probabilities digitnet gives, not logits. A model with a "not a digit"
    threshold also gives "rejected" bool [N]: its score (msp, TopK of the softmax at the one temperature; or
    energy, T x logsumexp(logits / T)) under the threshold.

Parameters are cast to float32. onnx and onnxruntime are imported only when used, so the package
core keeps importing NumPy alone; install them with `pip install 'digitnet[onnx]'`.
"""
import json

import numpy as np

from .calibration import confidence_of
from .im2col import conv_output_size
from .layers import Affine, BatchNormalization, ChannelBatchNorm, Convolution, Dropout, Pooling, Relu, Sigmoid
from .model_io import atomic_write

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax(axis=1), Gemm, Flatten, Reshape as used here are all opset-13 semantics
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
REJECTED_NAME = "rejected"
INSTALL_HINT = "pip install 'digitnet[onnx]'"


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError(f"exporting to ONNX needs the onnx package: {INSTALL_HINT}") from None
    return onnx, helper, numpy_helper


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(f"checking an ONNX export needs the onnxruntime package: {INSTALL_HINT}") from None
    return onnxruntime


class _GraphBuilder:
    """Collects nodes and float32 initializers while following the per-sample shape of the current tensor."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def const(self, name, value, dtype=np.float32):
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def node(self, op, inputs, output, name, **attrs):
        outputs = list(output) if isinstance(output, (list, tuple)) else [output]  # TopK gives two
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=name, **attrs))
        return output


def _calibrated(g, z, confidence, classes):
    """The calibrated probabilities of logits z, as OUTPUT_NAME (calibration.Confidence.probabilities)."""
    if confidence.per_picture is None:
        if confidence.temperature == 1.0:
            return g.node("Softmax", [z], OUTPUT_NAME, "Output/Softmax", axis=1)
        t = g.const("temperature", [confidence.temperature])
    else:  # each picture's temperature: scale * spread ** power (calibration.spread_of)
        scale, power = confidence.per_picture
        mean_of = g.const("row_mean", np.full((classes, 1), 1 / classes))
        centred = g.node("Sub", [z, g.node("MatMul", [z, mean_of], "logit_mean", "Calibration/Mean")],
                         "logits_centred", "Calibration/Centre")
        squares = g.node("Mul", [centred, centred], "logits_centred_squared", "Calibration/Square")
        spread = g.node("Sqrt", [g.node("MatMul", [squares, mean_of], "logit_variance", "Calibration/Variance")],
                        "logit_spread_raw", "Calibration/Spread")
        spread = g.node("Max", [spread, g.const("least_spread", [np.finfo(np.float32).tiny])], "logit_spread",
                        "Calibration/AtLeastTiny")
        t = g.node("Mul", [g.const("t_scale", [scale]), g.node("Pow", [spread, g.const("t_power", [power])],
                                                                "spread_powered", "Calibration/Pow")],
                   "temperatures", "Calibration/Temperature")
    scaled = g.node("Div", [z, t], "logits_calibrated", "Calibration/Divide")
    return g.node("Softmax", [scaled], OUTPUT_NAME, "Output/Softmax", axis=1)


def _rejected(g, z, confidence, classes):
    """REJECTED_NAME, bool [N]: the model's "not a digit" (calibration.Confidence.rejected) for logits z."""
    k = g.const("top_one", [1], np.int64)
    one = g.node("Div", [z, g.const("one_temperature", [confidence.temperature])], "logits_at_t", "Reject/Divide")
    if confidence.score == "msp":
        probabilities = g.node("Softmax", [one], "probabilities_at_t", "Reject/Softmax", axis=1)
        score = g.node("TopK", [probabilities, k], ["digit_score", "digit_score_class"], "Reject/Max", axis=1)[0]
    else:  # energy: T * logsumexp(z / T), the largest taken out first
        top = g.node("TopK", [one, k], ["logit_top", "logit_top_class"], "Reject/Max", axis=1)[0]
        exp = g.node("Exp", [g.node("Sub", [one, top], "logits_less_top", "Reject/Shift")], "logit_exp", "Reject/Exp")
        total = g.node("MatMul", [exp, g.const("row_sum", np.ones((classes, 1)))], "logit_exp_sum", "Reject/Sum")
        lse = g.node("Add", [g.node("Log", [total], "logit_log_sum", "Reject/Log"), top], "logsumexp", "Reject/Lse")
        score = g.node("Mul", [lse, g.const("energy_t", [confidence.temperature])], "digit_score", "Reject/Energy")
    below = g.node("Less", [score, g.const("threshold", [confidence.threshold])], "below_threshold", "Reject/Less")
    return g.node("Squeeze", [below, g.const("class_axis", [1], np.int64)], REJECTED_NAME, "Output/Rejected")


def _to_rows(g, x, shape, name):
    """Flatten a 4-d (N, C, H, W) tensor to (N, C*H*W) as digitnet's Affine and BN do; 2-d passes through."""
    if len(shape) == 1:
        return x, shape
    return g.node("Flatten", [x], f"{name}_flat", f"{name}/Flatten", axis=1), (int(np.prod(shape)),)


def _channel_batch_norm(g, name, layer, x, shape):
    """digitnet's float32 inference forward of a ChannelBatchNorm: x * scale + (beta - running_mean * scale)."""
    f32 = {a: np.asarray(getattr(layer, a), dtype=np.float32) for a in ("gamma", "beta", "running_mean", "running_var")}
    if len(shape) != 3 or any(a.shape != (shape[0],) for a in f32.values()):
        raise ValueError(f"layer {name!r}: channel batch norm over {f32['gamma'].shape} cannot take {shape}")
    scale = f32["gamma"] * (1 / np.sqrt(f32["running_var"] + layer.eps)).astype(np.float32)
    shift = f32["beta"] - f32["running_mean"] * scale
    h = g.node("Mul", [x, g.const(f"{name}.scale", scale.reshape(-1, 1, 1))], f"{name}_scaled", f"{name}/Mul")
    return g.node("Add", [h, g.const(f"{name}.shift", shift.reshape(-1, 1, 1))], f"{name}_out", f"{name}/Add"), shape


def _emit_layer(g, name, layer, x, shape):
    """Nodes for one layer; returns (output tensor name, per-sample output shape)."""
    kind = type(layer)  # exact types: a subclass may compute something else, so it is refused, not guessed
    if kind is Affine:
        W = np.asarray(layer.W)
        x, shape = _to_rows(g, x, shape, name)
        if W.ndim != 2 or shape[0] != W.shape[0]:
            raise ValueError(f"layer {name!r}: Affine weights {W.shape} do not fit an input of {shape[0]} features")
        return g.node("Gemm", [x, g.const(f"{name}.W", W), g.const(f"{name}.b", layer.b)], f"{name}_out",
                      f"{name}/Gemm"), (int(W.shape[1]),)
    if kind is Relu or kind is Sigmoid:
        return g.node(kind.__name__, [x], f"{name}_out", f"{name}/{kind.__name__}"), shape
    if kind is Dropout:
        return x, shape  # inverted dropout: the identity at inference
    if kind is Convolution:
        FN, C, FH, FW = np.asarray(layer.W).shape
        if len(shape) != 3 or shape[0] != C:
            raise ValueError(f"layer {name!r}: a convolution over {C} channels cannot take an input of shape {shape}")
        s, p = int(layer.stride), int(layer.pad)
        out = (int(FN), conv_output_size(shape[1], FH, s, p), conv_output_size(shape[2], FW, s, p))
        return g.node("Conv", [x, g.const(f"{name}.W", layer.W), g.const(f"{name}.b", layer.b)], f"{name}_out",
                      f"{name}/Conv", kernel_shape=[int(FH), int(FW)], strides=[s, s], pads=[p, p, p, p],
                      dilations=[1, 1], group=1), out
    if kind is Pooling:
        if len(shape) != 3:
            raise ValueError(f"layer {name!r}: pooling needs (C, H, W) feature maps, not shape {shape}")
        ph, pw, s, p = int(layer.pool_h), int(layer.pool_w), int(layer.stride), int(layer.pad)
        out = (shape[0], conv_output_size(shape[1], ph, s, p), conv_output_size(shape[2], pw, s, p))
        return g.node("MaxPool", [x], f"{name}_out", f"{name}/MaxPool", kernel_shape=[ph, pw], strides=[s, s],
                      pads=[p, p, p, p], ceil_mode=0), out
    if kind is ChannelBatchNorm:
        return _channel_batch_norm(g, name, layer, x, shape)
    if kind is BatchNormalization:
        D = int(np.prod(shape))
        if layer.running_mean is None or layer.running_var is None:
            raise ValueError(f"layer {name!r}: batch norm has no running statistics yet (run a forward pass first)")
        arrays = {"running_mean": layer.running_mean, "running_var": layer.running_var,
                  "gamma": layer.gamma, "beta": layer.beta}
        for attr, a in arrays.items():
            if np.size(a) != D:
                raise ValueError(f"layer {name!r}: {attr} has {np.size(a)} values for {D} features")
        # Exactly digitnet's float32 inference forward: std = sqrt(var + eps) in float32, then
        # ((x - mean) / std) * gamma + beta, element by element.
        f32 = {attr: np.asarray(a, dtype=np.float32).reshape(D) for attr, a in arrays.items()}
        std = np.sqrt(f32["running_var"] + np.float32(layer.eps))
        h, flat_shape = _to_rows(g, x, shape, name)
        h = g.node("Sub", [h, g.const(f"{name}.running_mean", f32["running_mean"])], f"{name}_centred", f"{name}/Sub")
        h = g.node("Div", [h, g.const(f"{name}.std", std)], f"{name}_normed", f"{name}/Div")
        h = g.node("Mul", [h, g.const(f"{name}.gamma", f32["gamma"])], f"{name}_scaled", f"{name}/Mul")
        out_name = f"{name}_out" if len(shape) == 1 else f"{name}_rows"
        h = g.node("Add", [h, g.const(f"{name}.beta", f32["beta"])], out_name, f"{name}/Add")
        if len(shape) > 1:  # back to (N, C, H, W); 0 copies the batch size, whatever it is
            h = g.node("Reshape", [h, g.const(f"{name}.shape", [0, *shape], np.int64)], f"{name}_out",
                       f"{name}/Reshape")
        return h, shape
    raise ValueError(f"cannot export layer {name!r} of type {kind.__module__}.{kind.__qualname__} to ONNX "
                     "(known: Affine, Relu, Sigmoid, Convolution, Pooling, BatchNormalization, ChannelBatchNorm, "
                     "Dropout)")


def build_onnx_model(net, *, opset=DEFAULT_OPSET, metadata=None):
    """The ONNX ModelProto for net (checked with onnx.checker), without writing it anywhere."""
    from .version import __version__

    onnx, helper, numpy_helper = _import_onnx()
    max_opset = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {max_opset} (this onnx's newest), "
                         f"not {opset!r}")
    shape, flat = tuple(int(d) for d in net.input_dim), net.input_size
    g = _GraphBuilder(helper, numpy_helper)
    x = INPUT_NAME
    if len(shape) > 1:
        x = g.node("Reshape", [x, g.const("input_shape", [0, *shape], np.int64)], "image_maps", "Input/Reshape")
    for name, layer in net.layers.items():
        x, shape = _emit_layer(g, name, layer, x, shape)
    if len(shape) != 1:
        raise ValueError(f"the last layer gives per-sample shape {shape}, not a vector of class scores")
    classes, confidence = shape[0], confidence_of(net)
    _calibrated(g, x, confidence, classes)
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["N", classes])]
    if confidence.threshold is not None:
        _rejected(g, x, confidence, classes)
        outputs.append(helper.make_tensor_value_info(REJECTED_NAME, onnx.TensorProto.BOOL, ["N"]))
    graph = helper.make_graph(
        g.nodes, f"digitnet_{net.architecture or type(net).__name__}",
        [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, ["N", flat])], outputs,
        initializer=g.initializers)
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(graph, opset_imports=[opset_id], producer_name="digitnet",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for([opset_id]))
    model.doc_string = (f"digitnet {type(net).__name__}: input {INPUT_NAME!r} float32 [N, {flat}] "
                        "(pixels scaled to [0, 1], as load_mnist(normalize=True)); "
                        f"output {OUTPUT_NAME!r} float32 [N, {classes}], calibrated probabilities per class"
                        + ("." if confidence.threshold is None else f"; {REJECTED_NAME!r} bool [N], 'not a digit'."))
    props = {
        "architecture": str(net.architecture or type(net).__name__),
        "digitnet_version": __version__,
        "config": json.dumps(getattr(net, "config", {}), sort_keys=True, default=str),
        "layers": json.dumps([f"{n}:{type(layer).__name__}" for n, layer in net.layers.items()]),
        "input": f"{INPUT_NAME} float32 [N, {flat}], pixels in [0, 1]",
        "output": f"{OUTPUT_NAME} float32 [N, {classes}], calibrated probabilities ({confidence.describe()})",
        "calibration": json.dumps(confidence.as_metadata(), sort_keys=True),
    }
    for key, value in (metadata or {}).items():
        props[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(net, path, *, opset=DEFAULT_OPSET, metadata=None):
    """Write net as an ONNX model to path (atomically) and return the ModelProto.

    The model takes "image" float32 [N, D] (a dynamic batch N; D = 784 for MNIST) and gives
    "probabilities" float32 [N, classes]. metadata: extra string (or JSON-able) entries for the
    model's metadata_props, beside architecture, digitnet_version, config and layers.
    Raises ValueError for a layer type it cannot export, ImportError when onnx is missing.
    """
    onnx, _, _ = _import_onnx()
    model = build_onnx_model(net, opset=opset, metadata=metadata)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))
    return model


def run_onnx(model, x, *, with_rejected=False):
    """Probabilities from an ONNX model (a path, or its bytes) for float32 rows x, by onnxruntime on the CPU;
    with_rejected: (probabilities, its "rejected" output, or None for a model without one)."""
    ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if o.name in (OUTPUT_NAME, REJECTED_NAME)]
    out = dict(zip(names, session.run(names, {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})))
    return (out[OUTPUT_NAME], out.get(REJECTED_NAME)) if with_rejected else out[OUTPUT_NAME]
