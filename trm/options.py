"""What a user may ask of a solve or an evaluation: halting modes, defaults and bounds (no torch).

The command line (``trm.cli.options``) and the Python API (``trm.api``) both read these, so a
default or a limit is stated once. A count that drives a loop is refused at once, with its
range, instead of running for days: ``--steps 100000`` is an error, not a week of steps.
"""

from __future__ import annotations

from typing import Any

from trm.errors import TrmError

# What stops a puzzle early: the halting head, an answer that passes the rules, or both.
HALT_MODES = ("head", "rules", "both")
# Defaults chosen from docs/steps_vs_accuracy.md: a puzzle stops as soon as its answer passes the
# rules (a premature halting head cannot cost accuracy), and unsolved puzzles recurse up to twice
# the trained number of supervision steps (more steps kept raising accuracy on the hard rungs).
DEFAULT_HALT = "rules"
DEFAULT_STEP_FACTOR = 2

# Arithmetic: bf16 autocast (float32 master weights, optimiser, EMA, loss and halting) or fp32.
# auto: bf16 on CUDA and on CPUs with bf16 matrix units (AMX, AVX-512 BF16), else fp32.
PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_PRECISION = "auto"

MAX_STEPS = 256  # supervision steps per puzzle; the paper's models are trained for 16
MAX_VIEWS = 1024  # symmetric views per puzzle (the ARC evaluation votes over 1000)
MAX_OPT_STEPS = 10_000  # optimiser steps: fitting a new ARC task, timed benchmark steps
MAX_BATCH = 65_536  # slots of the streaming batch
MAX_COUNT = 10_000_000  # puzzles of a benchmark, examples of an evaluation subset
ARC_DEFAULT_VIEWS = 8  # ARC votes over augmented views; one view cannot vote

# `--search` (trm.inference.search): when no view's answer passes the rules, search over the
# network's own proposals. The budget counts network supervision steps per puzzle, the first pass
# included; the other settings were chosen by tools/search_curve.py (docs/search.md).
DEFAULT_BUDGET = 2048
MAX_BUDGET = 100_000  # about ten minutes of one CPU thread per unsolved puzzle
SEARCH_RULES = ("least", "two-way")  # which open cell a node branches on
DEFAULT_SEARCH_RULE = "least"
DEFAULT_SEARCH_VIEWS = 64  # symmetric views the search branches in (the first pass's included)
DEFAULT_NODE_STEPS = 8  # step limit of one node (it stops earlier when its answer passes)
DEFAULT_WIDTH = 8  # nodes taken per puzzle per round, every puzzle's in one stream
DEFAULT_BRANCH = 3  # children per branching: the cell's digits the network ranks highest
MAX_WIDTH = 1024


def check_int(name: str, value: Any, lo: int, hi: int, *, optional: bool = False) -> int | None:
    """``value`` as an int in ``[lo, hi]`` (None passes when ``optional``), else ``TrmError``
    naming ``name`` and the range; floats, strings and booleans are refused, not truncated."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrmError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise TrmError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def check_halt(halt: Any) -> str:
    """``halt`` when it is one of ``HALT_MODES``, else ``TrmError``."""
    if halt not in HALT_MODES:
        raise TrmError(f"--halt must be one of {', '.join(HALT_MODES)}, got {halt!r}")
    return halt


def check_precision(precision: Any) -> str:
    """``precision`` when it is one of ``PRECISIONS``, else ``TrmError``."""
    if precision not in PRECISIONS:
        raise TrmError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision
