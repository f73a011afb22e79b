"""The project's own error types: each carries a one-line message fit to show a user."""


class DigitnetError(Exception):
    """The base of digitnet's own errors: each carries a one-line message fit to show a user.

    The command line prints these as that one line, without a traceback.

    Examples:
        >>> from digitnet import DataError, DigitnetError, ModelFileError
        >>> issubclass(DataError, DigitnetError), issubclass(ModelFileError, DigitnetError)
        (True, True)
    """


def on_every_worker(error):
    """Mark error as one that every worker of a job meets alike (a setting all share, the loss they reduced): the
    job's one line then names no worker, which would be whichever was first to say it."""
    error.every_worker = True
    return error


class DataError(DigitnetError):
    """A dataset file or folder is missing, malformed or fails its checksum.

    Examples:
        >>> from digitnet import DataError
        >>> from digitnet.data import load_dataset
        >>> try:
        ...     load_dataset("/no/such/folder")
        ... except DataError as e:
        ...     print(e)
        /no/such/folder: no such folder
    """


class DownloadError(DataError):
    """No mirror delivered a file that passed its checksum (a DataError; `reasons` lists each mirror's failure).

    Without a network, `load_mnist` and `digitnet train` catch it and fall back to the bundled sample.

    Examples:
        >>> from digitnet import DataError, DownloadError
        >>> issubclass(DownloadError, DataError)
        True
    """


class ModelFileError(DigitnetError):
    """A model file cannot be read, or is not a digitnet model (see load_model).

    Examples:
        >>> from digitnet import ModelFileError, pretrained
        >>> try:
        ...     pretrained("no-such-model")
        ... except ModelFileError as e:
        ...     print(str(e).split(":")[0])
        no bundled model 'no-such-model'
    """


class OptionError(DigitnetError):
    """An option, or a combination of options, that cannot work: the command line shows it as a usage error."""
