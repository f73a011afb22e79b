"""What the benchmark scripts' options accept: a mistake is argparse's one-line usage error, not a traceback."""
import argparse


def positive(kind):
    """An argparse type: a number of `kind` (int, float) above 0."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value
    return parse
