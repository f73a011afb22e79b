"""`digitnet experiment`: the book's ch. 4-8 experiments, each a figure (PNG), its numbers (JSON) and a summary."""
import click

from ..experiments import NAMES, get
from .main import friendly_errors
from .options import data_options


def list_experiments():
    for name in NAMES:
        module = get(name)
        click.echo(f"{name:24} {module.TITLE}\n{'':24} the book's {module.BOOK}")


@click.command("experiment")
@click.argument("name", required=False, type=click.Choice([*NAMES, "all"]), metavar="NAME")
@click.option("--list", "list_only", is_flag=True, help="List the experiments and the book's scripts they reproduce.")
@click.option("--out", type=click.Path(file_okay=False), default="experiments", show_default=True,
              help="Folder for NAME.png, NAME.json and NAME-timings.json.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="The same seed writes the same NAME.json.")
@click.option("--quick", is_flag=True, help="Reduced settings (fewer steps, digits, trials) for a first look.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for experiments with independent runs (hyperparameter-search's trials).")
@data_options
@friendly_errors
def experiment_command(name, list_only, out, seed, quick, workers, data_dir, offline):
    """Run one of the book's experiments (NAME, or all), e.g. `digitnet experiment optimizers-mnist --quick`."""
    from ..experiments.runner import Context, run_experiment

    if list_only or name is None:
        list_experiments()
        if name is None and not list_only:
            click.echo("\nrun one with: digitnet experiment NAME [--quick]")
        return
    ctx = Context(out=out, seed=seed, quick=quick, workers=workers, data_dir=data_dir, offline=offline,
                  echo=lambda msg: click.echo(msg, err=True))
    for each in (NAMES if name == "all" else [name]):
        module = get(each)
        click.echo(f"== {each}: {module.TITLE} (the book's {module.BOOK})")
        if quick:
            click.echo("   --quick: REDUCED settings, not the book's; the figure is a first look only")
        result, files, lines, wall = run_experiment(each, ctx)
        click.echo(f"   data: {result['data']}; seed {seed}")
        for line in lines:
            click.echo(f"   {line}")
        click.echo(f"   wrote {', '.join(str(f) for f in files)} in {wall:.1f} s")


command = experiment_command
