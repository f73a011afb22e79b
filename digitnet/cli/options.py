"""Click options from RunSettings' fields: each field describes its option as data (settings.option);
this module, the only one that knows click, turns that description into a click.option."""
import math
from pathlib import Path

import click

from ..settings import PARSERS, option_fields


class FiniteFloat(click.FloatRange):
    """A float option's type: a finite number within its bounds. click's FloatRange lets nan through every bound
    (--dropout nan trained and saved a model with dropout nan; --pen-digits nan raised a traceback)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _click_type(spec):
    kind = spec.get("kind", "str")
    bounds = {k: spec[k] for k in ("min", "max", "min_open", "max_open") if k in spec}
    if kind == "int":
        return click.IntRange(**bounds) if bounds else int
    if kind == "float":
        return FiniteFloat(**bounds)
    if kind == "choice":
        return click.Choice(list(spec["choices"]))
    if kind == "dir":
        return click.Path(file_okay=False, path_type=Path)
    return str


def _callback(name):
    """A click callback running settings.PARSERS[name]; its ValueError is the option's one-line error."""
    parse = PARSERS[name]

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return callback


def click_option(name, spec):
    """The click.option that spec (a field's metadata["option"]) describes, filling the parameter `name`."""
    kwargs = {"default": spec["default"], "help": spec.get("help")}
    if spec.get("kind") == "flag":
        kwargs["is_flag"] = True
    else:
        kwargs["type"] = _click_type(spec)
    for key in ("metavar", "show_default"):
        if key in spec:
            kwargs[key] = spec[key]
    if "parse" in spec:
        kwargs["callback"] = _callback(spec["parse"])
    return click.option(spec["flag"], name, **kwargs)


def settings_options(*names):
    """Decorator: a click command gets the options of RunSettings' fields (all, or the names given)."""
    def decorate(command):
        for f in reversed(option_fields(*names)):
            command = click_option(f.name, f.metadata["option"])(command)
        return command
    return decorate


def data_options(command):
    """--data-dir and --offline, as RunSettings declares them."""
    return settings_options("data_dir", "offline")(command)


parse_workers = _callback("workers")  # --workers N|auto on commands other than train
