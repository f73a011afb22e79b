"""`digitnet models`: list the trained models bundled with the package."""
import json

import click

from ..errors import DigitnetError
from .main import friendly_errors


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest's entries as JSON.")
@click.option("--verify", is_flag=True, help="Also check each file's sha256 against the manifest.")
@friendly_errors
def models_command(as_json, verify):
    """List the bundled models: name, architecture, training data, test accuracy, size, sha256.

    Use one by name with `digitnet predict --model NAME` / `digitnet serve --model NAME`, or in
    Python with digitnet.pretrained(NAME). Without --model, predict and serve's single digits use the
    models listed under "predict together" (the first one, the best alone, says "not a digit"), and read
    and serve's pad the ones under "read together".
    """
    from ..pretrained import best_model_name, bundled_models, bundled_path, committee_names

    try:
        models = bundled_models()
        best = best_model_name()
        if verify:
            for name in models:
                bundled_path(name, verify=True)
    except DigitnetError as e:
        raise click.ClickException(str(e)) from None
    committees = {task: committee_names(task) for task in ("predict", "read")}
    if as_json:
        click.echo(json.dumps({"best": best, "committees": committees, "models": models}, indent=1))
        return
    for name, m in models.items():
        acc = m.get("test_accuracy")
        acc = f"{100 * acc:.2f}% on the official MNIST test set (10,000 images)" if acc is not None else "not measured"
        click.echo(f"{name}{'  (default)' if name == best else ''}\n"
                   f"  architecture   {m['architecture']}\n"
                   f"  training data  {m['training_data']}\n"
                   f"  recipe         {m['recipe']}\n"
                   f"  test accuracy  {acc}\n"
                   f"  size           {m['size_bytes']:,} bytes ({m['file']})\n"
                   f"  sha256         {m['sha256']}")
    for task, names in committees.items():
        click.echo(f"{task} together: {', '.join(names)}")
    if verify:
        click.echo(f"all {len(models)} files match the manifest's sha256")


command = models_command
