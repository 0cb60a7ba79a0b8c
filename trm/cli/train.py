"""`trm train RECIPE|CONFIG.yaml [key=value ...] [--resume RUN_DIR] [--print-config] [--list]`."""

from __future__ import annotations

import argparse
import sys

from trm.recipes import list_recipes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a recipe or a YAML config",
        description="Train a model from a recipe (name or YAML) with key=value overrides, or "
        "continue a run with --resume. A run directory holding a run is refused unless "
        "--resume or --overwrite.",
    )
    p.add_argument("config", nargs="?", help="a recipe name (see --list) or a YAML config file")
    p.add_argument("overrides", nargs="*", help="key=value overrides (e.g. global_batch_size=64)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run exactly where it stopped, with its saved config (no CONFIG; "
        "key=value overrides apply on top)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a run_dir that already holds a run (its checkpoint, metrics "
        "and inference weights are deleted); without it such a run_dir is refused",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--list", action="store_true", help="list the installed recipes and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """List recipes, print the resolved config, or train (exit 130 when interrupted)."""
    if args.list:
        print("\n".join(list_recipes()))
        return 0
    # Deferred: the library imports torch, which `trm --help` must not pay for.
    from trm.config import to_yaml
    from trm.training import Interrupted, resolve_config, train_from_config

    if args.print_config:
        cfg = resolve_config(args.config, args.overrides, args.resume)
        print(to_yaml(cfg).rstrip("\n"))  # exactly one final newline
        return 0
    try:
        run_dir = train_from_config(
            args.config,
            args.overrides,
            args.resume,
            progress=not args.no_progress,
            overwrite=args.overwrite,
        )
    except Interrupted as e:
        print(f"trm: {e}", file=sys.stderr)
        return 130
    print(f"run directory: {run_dir}")
    return 0
