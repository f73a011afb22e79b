"""The project's own error types: each carries a one-line message fit to show a user."""


class DigitnetError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class DataError(DigitnetError):
    """A dataset file is missing, malformed or fails its checksum."""


class DownloadError(DataError):
    """No mirror delivered a file that passed its checksum."""


class ModelFileError(DigitnetError):
    """A model file cannot be read, or is not a digitnet model."""


class OptionError(DigitnetError):
    """An option, or a combination of options, that cannot work: the command line shows it as a usage error."""
