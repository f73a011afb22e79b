"""`digitnet serve`: start the web page and its JSON API (serve.app.create_app) under uvicorn."""
import ipaddress
from pathlib import Path

import click

from ..errors import DigitnetError
from ..serve.app import INSTALL_HINT, create_app
from .main import friendly_errors

# ------------------------------------------------------------------------------------------ command

def _missing_server_packages():
    from importlib.util import find_spec

    wanted = {"fastapi": "fastapi", "uvicorn": "uvicorn", "PIL": "pillow"}
    missing = [package for module, package in wanted.items() if find_spec(module) is None]
    if find_spec("python_multipart") is None:  # the name from 0.0.13 on; before it, `multipart` (inputs.py needs it)
        missing.append("python-multipart (0.0.13 or later)")
    return missing


def _url(host, port):
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


@click.command("serve")
@click.argument("model_file", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="[MODEL]")
@click.option("--model", "model", metavar="NAME|PATH",
              help="A bundled model's name (see `digitnet models`) or a model file. Default: the bundled committees, "
                   "as predict and read use them; 'Look inside' shows the best bundled model.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines on your network in.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@friendly_errors
def command(model_file, model, host, port):
    """Serve a page to draw digits on, read live by a model, and its JSON API (POST /api/predict, /api/read,
    /api/explain; GET /health).

    Open the printed address in a browser, draw a digit with the mouse, a pen or a finger, and watch
    the prediction, the ten probabilities, the 28x28 image the network sees, and (Look inside) each
    layer's output and which pixels push toward each digit. MODEL (a model file) is the same as --model.
    """
    missing = _missing_server_packages()
    if missing:
        raise click.ClickException(f"digitnet serve needs {', '.join(missing)}: {INSTALL_HINT}")
    if model_file is not None and model is not None:
        raise click.UsageError(f"two models: {model_file} and --model {model}; give one")
    import uvicorn

    from ..pretrained import committee_names, default_committee, resolve_model

    try:
        default = model is None and model_file is None
        model, description = resolve_model(model if model_file is None else model_file)
        if default:  # the bundled nets work together, as `digitnet predict` and `digitnet read` do
            names = {task: committee_names(task) for task in ("predict", "read")}
            click.echo(f"using the bundled models {', '.join(names['predict'])} together for /api/predict, "
                       f"{', '.join(names['read'])} for /api/read; 'Look inside' shows {model.stem}", err=True)
        elif description.startswith("bundled"):
            click.echo(f"using the {description}", err=True)
        app = create_app(model, readers=default_committee("read") if default else None,
                         classifiers=default_committee("predict") if default else None,
                         committees=names if default else None)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    sock = _bind(host, port)  # bound first: --port 0 lets the system choose, and the address printed is real
    port = sock.getsockname()[1]
    info = app.state.model_info
    accuracy = f", test accuracy {100 * info['test_accuracy']:.2f}%" if info["test_accuracy"] is not None else ""
    click.echo(f"serving {model} ({info['architecture']}{accuracy}) at {_url(host, port)}  (Ctrl+C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: listening on {host}, not only this machine; anyone who can reach it can use the model",
                   err=True)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).run(sockets=[sock])


def _bind(host, port):
    """A listening socket on host:port (port 0: one the system picks); one line when that is refused."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections made once the address is printed wait for uvicorn, not refused
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock
