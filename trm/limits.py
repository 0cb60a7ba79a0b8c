"""Bounds on the counts a user types (steps, views, batch, ...), checked when options are parsed.

A count that drives a loop is refused at once, with its range, instead of running for days:
``--steps 100000`` is an error, not a silent week of supervision steps.
"""

from __future__ import annotations

import argparse

MAX_STEPS = 256  # supervision steps per puzzle; the paper's models are trained for 16
MAX_VIEWS = 1024  # symmetric views per puzzle (the ARC evaluation votes over 1000)
MAX_OPT_STEPS = 10_000  # optimiser steps: fitting a new ARC task, timed benchmark steps
MAX_BATCH = 65_536  # slots of the streaming batch
MAX_COUNT = 10_000_000  # puzzles of a benchmark, examples of an evaluation subset


def bounded(lo: int, hi: int):
    """An argparse ``type`` accepting integers in ``[lo, hi]``, with the range in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse
