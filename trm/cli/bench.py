"""`trm bench train|solve|build [--json]`: measured speed, printed, never asserted."""

from __future__ import annotations

import argparse
import json

from trm.bench_cases import CPU_DEFAULT, TRAIN_CASES
from trm.cli.options import add_precision_option, bounded
from trm.options import MAX_BATCH, MAX_COUNT, MAX_OPT_STEPS
from trm.puzzles import KINDS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure training, solving or dataset-building speed",
        description="Measure speed, printed and never asserted. train: optimiser steps of "
        "random data (sample-steps/s, FLOP rate against this machine's matmul rate); solve: "
        "puzzles/s with all supervision steps and with adaptive halting; build: dataset "
        "build times.",
    )
    p.add_argument("what", choices=["train", "solve", "build"])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    add_precision_option(p)
    p.add_argument(
        "--batch-size", type=bounded(1, MAX_BATCH), default=None, help="batch (default: per case)"
    )
    p.add_argument(
        "--steps",
        type=bounded(1, MAX_OPT_STEPS),
        default=None,
        help="timed steps (train; default 10 CPU, 50 CUDA)",
    )
    p.add_argument(
        "--case",
        action="append",
        choices=list(TRAIN_CASES),
        help="train cases to run (default all)",
    )
    p.add_argument("--no-compile", action="store_true", help="CUDA: do not torch.compile")
    p.add_argument("--checkpoint", help="solve: a checkpoint (default: a random-init model)")
    p.add_argument("--kind", default="sudoku", choices=list(KINDS), help="solve: puzzle kind")
    p.add_argument(
        "--count", type=bounded(1, MAX_COUNT), default=None, help="solve: puzzles (default 1024)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark and print its figures."""
    if args.what == "build":
        from data_builders.bench import bench_build  # deferred: builders load their sources

        results = bench_build()
    else:
        # Deferred: the library imports torch, which `trm --help` must not pay for.
        import torch

        from trm.bench import bench_solve, bench_train_case

        if args.what == "train":
            cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
            steps = args.steps or (50 if cuda and args.device != "cpu" else 10)
            cases = args.case or (list(TRAIN_CASES) if cuda else CPU_DEFAULT)
            results = [
                bench_train_case(
                    c, args.device, args.batch_size, steps, not args.no_compile, args.precision
                )
                for c in cases
            ]
        else:
            results = [
                bench_solve(
                    args.device or "auto",
                    args.kind or "sudoku",
                    args.count or 1024,
                    args.batch_size or 256,
                    args.checkpoint,
                    args.precision,
                )
            ]
    for r in results:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0
