"""The `digitnet` command line: the group (main.py) and one module per command, registered here.

No module outside this package imports click: the library below it raises DigitnetError (one line)
and OptionError (a usage error), which main.friendly_errors turns into click's messages.
"""
from . import (
    book_weights,
    calibrate,
    evaluate,
    experiment,
    export,
    gradcheck,
    models,
    predict,
    read,
    serve,
    tour,
    train,
)
from .main import main

for _module in (train, evaluate, calibrate, predict, read, serve, export, gradcheck, book_weights, tour, models,
                experiment):
    main.add_command(_module.command)

__all__ = ["main"]
