"""Command-line options shared by the verbs: bounded counts, halting, batch/device/seed/JSON.

Torch-free (``trm --help`` stays fast). Defaults and bounds come from ``trm.options``, which
the Python API reads too; ``trm solve`` and ``trm eval`` declare their shared options here.
"""

from __future__ import annotations

import argparse

from trm.options import (
    DEFAULT_BUDGET,
    DEFAULT_HALT,
    DEFAULT_PRECISION,
    HALT_MODES,
    MAX_BATCH,
    MAX_BUDGET,
    MAX_STEPS,
    MAX_VIEWS,
    PRECISIONS,
)


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


def add_views_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--views K`` (default: one view; ARC: ``trm.options.ARC_DEFAULT_VIEWS``)."""
    p.add_argument("--views", type=bounded(1, MAX_VIEWS), default=None, help=help)


def add_halting_options(p: argparse.ArgumentParser) -> None:
    """``--steps``, ``--max-steps`` and ``--halt``: what ``trm.inference.halting.halting_for``
    turns into one ``Halting``."""
    p.add_argument(
        "--steps",
        type=bounded(1, MAX_STEPS),
        default=None,
        help=f"exactly N supervision steps, N <= {MAX_STEPS} (default: stop by --halt)",
    )
    p.add_argument(
        "--max-steps",
        type=bounded(1, MAX_STEPS),
        default=None,
        help=f"at most N supervision steps, N <= {MAX_STEPS} (default: twice the trained "
        "maximum; recursing longer than training solves more of the hard puzzles)",
    )
    p.add_argument(
        "--halt",
        choices=HALT_MODES,
        default=DEFAULT_HALT,
        help="what stops a puzzle early: the halting head, an answer that passes the rules "
        f"(default: {DEFAULT_HALT}; ARC has no rules and uses the head), or both",
    )


def add_search_options(p: argparse.ArgumentParser) -> None:
    """``--search`` and ``--budget``: what ``trm.inference.search.search_for`` turns into one
    ``Search`` (kinds without rules refuse it there, with one line)."""
    p.add_argument(
        "--search",
        action="store_true",
        help="when no view's answer passes the rules, search over the network's own proposals "
        "(cells committed as givens, every answer checked by the rules)",
    )
    p.add_argument(
        "--budget",
        type=bounded(1, MAX_BUDGET),
        default=None,
        help=f"network supervision steps per puzzle for --search, the first pass included "
        f"(default {DEFAULT_BUDGET})",
    )


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``solve`` and ``eval``: search, batch, device, seed, JSON."""
    add_search_options(p)
    p.add_argument(
        "--batch-size",
        type=bounded(1, MAX_BATCH),
        default=256,
        help="slots in the streaming batch",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    add_precision_option(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_precision_option(p: argparse.ArgumentParser) -> None:
    """``--precision auto|fp32|bf16`` (``trm.options.PRECISIONS``)."""
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="bf16 autocast or fp32 (default auto: bf16 on CUDA and on CPUs with bf16 matrix "
        "units such as AMX, else fp32)",
    )
