"""`digitnet export MODEL --onnx FILE`: the command over export_onnx.export_onnx."""
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
    export_onnx,
    run_onnx,
)


@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the network as an ONNX model to FILE.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset version.")
def command(model, onnx_path, opset):
    """Export MODEL (any digitnet model file, or a bundled model's name) to ONNX.

    The ONNX model takes "image", float32 [N, 784] with pixels in [0, 1], and gives "probabilities",
    float32 [N, 10]. It is checked with onnx.checker and run once by onnxruntime before this reports.
    """
    from ..functions import softmax
    from ..model_io import load_model
    from ..pretrained import resolve_model
    from ..version import __version__

    try:
        _import_onnx()
        _import_onnxruntime()
        path = resolve_model(str(model))[0]  # a file, or a bundled model's name
        net, header = load_model(path)
        extra = {"source_model": path.name, "source_sha256": header.get("sha256", "")}
        if header.get("metadata"):
            extra["training_metadata"] = header["metadata"]
        onnx_model = export_onnx(net, onnx_path, opset=opset, metadata=extra)
        # Smoke check: onnxruntime loads it and agrees with digitnet on a few blank images.
        flat = net.input_size
        x = np.zeros((3, flat), dtype=np.float32)
        try:
            got = run_onnx(onnx_path, x)
        except ImportError:
            raise
        except Exception as e:  # onnxruntime's own error types (Fail, InvalidGraph, ...) share no useful base
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DigitnetError(f"{onnx_path}: written, but onnxruntime cannot run it ({first_line})") from None
        want = softmax(net.predict(x.astype(next(iter(net.params.values())).dtype)))
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else np.inf
        if not diff <= 1e-4:
            raise DigitnetError(f"{onnx_path}: onnxruntime's output differs from digitnet's "
                                f"(shape {got.shape} vs {want.shape}, max difference {diff:.3g})")
    except (ImportError, DigitnetError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{onnx_path}: cannot write the ONNX model ({e.strerror or e})") from None
    ops = sorted({n.op_type for n in onnx_model.graph.node})
    classes = want.shape[1]
    click.echo(f"wrote {onnx_path}: {type(net).__name__} as ONNX (opset {opset}, digitnet {__version__}); "
               f"input {INPUT_NAME} float32 [N, {flat}], output {OUTPUT_NAME} float32 [N, {classes}]; "
               f"ops {', '.join(ops)}; onnxruntime check passed (max difference {diff:.1e})")
