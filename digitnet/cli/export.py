"""`digitnet export MODEL --onnx FILE`: the command over export_onnx.export_onnx."""
import os
from pathlib import Path

import click
import numpy as np

from ..errors import DigitnetError
from ..export_onnx import (
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAME,
    _import_onnx,
    _import_onnxruntime,
    build_onnx_model,
    run_onnx,
)
from ..model_io import atomic_write
from .main import friendly_errors

TOLERANCE = 1e-4          # onnxruntime's float32 against digitnet's float32 or float64
FLOAT16_TOLERANCE = 5e-3  # against a float16 net's own forward pass, whose rounding alone is over 1e-4


@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the network as an ONNX model to FILE.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset version.")
@friendly_errors
def command(model, onnx_path, opset):
    """Export MODEL (any digitnet model file, or a bundled model's name) to ONNX.

    The ONNX model takes "image", float32 [N, 784] with pixels in [0, 1], and gives "probabilities", float32
    [N, 10], calibrated as digitnet's are, and, for a model with a "not a digit" threshold, "rejected", bool [N].
    It is checked with onnx.checker and run by onnxruntime against digitnet's own answers before it is written:
    a model that fails the check leaves FILE as it was.
    """
    from ..model_io import load_model
    from ..pretrained import resolve_model
    from ..version import __version__

    try:
        _import_onnx()
        _import_onnxruntime()
        path = resolve_model(str(model))[0]  # a file, or a bundled model's name
        if os.path.realpath(onnx_path) == os.path.realpath(path):  # before: the model replaced by its ONNX bytes
            raise DigitnetError(f"{onnx_path}: that is the model itself: give the ONNX file a name of its own")
        net, header = load_model(path)
        extra = {"source_model": path.name, "source_sha256": header.get("sha256", "")}
        if header.get("metadata"):
            extra["training_metadata"] = header["metadata"]
        onnx_model = build_onnx_model(net, opset=opset, metadata=extra)
        data = onnx_model.SerializeToString()
        diff, want = _check(net, data, onnx_path)
        atomic_write(onnx_path, lambda f: f.write(data))
    except (ImportError, DigitnetError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{onnx_path}: cannot write the ONNX model ({e.strerror or e})") from None
    ops = sorted({n.op_type for n in onnx_model.graph.node})
    outputs = [f"{OUTPUT_NAME} float32 [N, {want.shape[1]}] (calibrated)"]
    outputs += [f"{o.name} bool [N] (not a digit)" for o in onnx_model.graph.output if o.name != OUTPUT_NAME]
    click.echo(f"wrote {onnx_path}: {type(net).__name__} as ONNX (opset {opset}, digitnet {__version__}); "
               f"input {INPUT_NAME} float32 [N, {net.input_size}], output {', '.join(outputs)}; "
               f"ops {', '.join(ops)}; onnxruntime check passed (max difference {diff:.1e})")


def _check(net, data, onnx_path):
    """(the largest difference, digitnet's probabilities) between onnxruntime's answers from the ONNX model's bytes
    and digitnet's (calibration.Confidence: probabilities and "not a digit"), on blank and noisy pictures;
    DigitnetError where they differ by more than the net's own float type rounds (float16: FLOAT16_TOLERANCE)."""
    from ..calibration import confidence_of

    x = np.zeros((6, net.input_size), dtype=np.float32)
    x[3:] = np.random.default_rng(0).random((3, net.input_size))
    try:
        got, rejected = run_onnx(data, x, with_rejected=True)
    except ImportError:
        raise
    except Exception as e:  # onnxruntime's own error types (Fail, InvalidGraph, ...) share no useful base
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DigitnetError(f"{onnx_path}: onnxruntime cannot run the exported model ({first_line}); "
                            "nothing written") from None
    dtype = np.result_type(*net.params.values())
    logits = net.predict(x.astype(dtype))
    confidence = confidence_of(net)
    want = confidence.probabilities(logits)
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else np.inf
    tolerance = FLOAT16_TOLERANCE if dtype.itemsize < 4 else TOLERANCE
    if not diff <= tolerance:
        raise DigitnetError(f"{onnx_path}: onnxruntime's output differs from digitnet's (shape {got.shape} vs "
                            f"{want.shape}, max difference {diff:.3g}); nothing written")
    if confidence.threshold is not None and not np.array_equal(rejected, confidence.rejected(logits)):
        raise DigitnetError(f"{onnx_path}: onnxruntime's 'rejected' differs from digitnet's; nothing written")
    return diff, want
