"""`trm eval CHECKPOINT DATA_DIR [--views K] [--limit N] [--steps N] [--search [--budget N]]
[--plot PNG] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from trm.cli.options import add_common_options, add_halting_options, bounded
from trm.errors import TrmError
from trm.options import MAX_COUNT, MAX_VIEWS
from trm.safe_io import check_writable_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="accuracy of a checkpoint on a dataset's test split",
        description="Accuracy of a checkpoint on a dataset's test split: exact and token "
        "accuracy, halting, steps, and accuracy against the number of views.",
    )
    p.add_argument("checkpoint", help="run directory, inference directory or model.safetensors")
    p.add_argument("data_dir", help="dataset built by `trm build`")
    p.add_argument(
        "--views",
        type=bounded(1, MAX_VIEWS),
        default=1,
        help="symmetric views per puzzle (ARC: votes per input)",
    )
    p.add_argument(
        "--limit",
        type=bounded(0, MAX_COUNT),
        default=0,
        help="evaluate a seeded random subset of N puzzles",
    )
    add_halting_options(p)
    p.add_argument("--plot", metavar="PNG", help="write accuracy against views as a PNG plot")
    add_common_options(p)


def run(args: argparse.Namespace) -> int:
    """Accuracy, halting, steps, views table (and plot) as text or JSON."""
    if args.plot:  # checked before the evaluation, not after it
        if args.views < 2:
            raise TrmError("--plot needs a views table: pass --views K with K > 1")
        check_writable_file(args.plot, "--plot")
    # Deferred: the library imports torch, which `trm --help` must not pay for.
    from trm.api import load
    from trm.inference.eval_report import format_report, write_plot

    solver = load(args.checkpoint, device=args.device, precision=args.precision)
    report = solver.evaluate(
        args.data_dir,
        views=args.views,
        limit=args.limit,
        steps=args.steps,
        max_steps=args.max_steps,
        halt=args.halt,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.json,
        search=args.search,
        budget=args.budget,
    )
    if args.plot:
        report["plot"] = args.plot
    print(json.dumps(report) if args.json else format_report(report), flush=True)
    if args.plot:  # after the results: a failing plot never hides them
        try:
            path = write_plot(report, args.plot)
        except OSError as e:
            raise TrmError(f"{args.plot}: cannot write the plot ({e.strerror})") from None
        if not args.json:
            print(f"wrote {path.resolve()}", file=sys.stderr)
    return 0
