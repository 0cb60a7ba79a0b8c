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
