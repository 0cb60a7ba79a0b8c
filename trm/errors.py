"""The one error type users see: bad input or usage, reported as one line with exit code 2."""


class TrmError(Exception):
    """Bad input or usage. The message names the problem and where it is (file, row, cell)."""
