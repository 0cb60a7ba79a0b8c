"""The `trm` command: build | train | eval | solve | bench. Thin: parse, then call the library.

Exit codes: 0 success, 2 bad input or usage (one line, no traceback), 1 anything else,
130 when training was interrupted (a checkpoint was saved).
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from data_builders import cli as build_cli

    parser = argparse.ArgumentParser(
        prog="trm", description="Tiny Recursive Model: build, train, solve."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{build,train,eval,solve,bench}"
    )
    build_cli.add_parser(sub)

    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train a model from a recipe YAML with key=value overrides, or continue a "
        "run with --resume. A run directory holding a run is refused unless --resume or "
        "--overwrite.",
    )
    p.add_argument("config", nargs="?", help="recipe YAML under configs/")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    from trm import bench, solve_cli

    solve_cli.add_parsers(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    from trm.errors import TrmError

    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "solve" and not any(e.startswith("-") for e in extra):
        args.puzzles += extra  # puzzles given after options: `trm solve sudoku --views 4 "..."`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "build":
            from data_builders import cli as build_cli

            return build_cli.run(args)
        if args.command == "train":
            from trm.train import Interrupted, train_from_cli

            try:
                return train_from_cli(
                    args.config,
                    args.overrides,
                    args.resume,
                    args.print_config,
                    progress=not args.no_progress,
                    overwrite=args.overwrite,
                )
            except Interrupted as e:
                print(f"trm: {e}", file=sys.stderr)
                return 130
        if args.command in ("eval", "solve"):
            from trm import solve_cli

            return solve_cli.run(args)
        if args.command == "bench":
            from trm import bench

            return bench.run(args)
    except TrmError as e:
        print(f"trm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trm: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
