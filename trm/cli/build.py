"""`trm build sudoku|maze|arc`: the argument parsers and the dispatch to each builder.

Each builder module declares its options once, as a dataclass (``add_arguments`` registers
its fields as flags, ``build_from_args`` turns them into a call); this module only registers
and prints."""

from __future__ import annotations

import argparse
import json
import time

from data_builders import BUILDERS
from data_builders.format import check_destination


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``build`` and one sub-command per puzzle kind."""
    build = subparsers.add_parser(
        "build",
        help="build a puzzle dataset",
        description="Build a puzzle dataset (written atomically); `trm build KIND --help`. "
        "An existing --out is refused unless it is an empty directory, or a dataset and "
        "--overwrite is given.",
    )
    kinds = build.add_subparsers(dest="kind", required=True, metavar="{sudoku,maze,arc}")
    for name, module in BUILDERS.items():
        about = (module.__doc__ or "").strip().splitlines()[0]
        p = kinds.add_parser(name, help=about, description=about)
        module.add_arguments(p)
        p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    """Build the dataset named by ``args.kind`` and print its summary."""
    check_destination(args.out, getattr(args, "overwrite", False))  # before the work
    start = time.perf_counter()
    summary = BUILDERS[args.kind].build_from_args(args)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0
