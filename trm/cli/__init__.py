"""The `trm` command: build | train | eval | solve | bench | demo. Thin: parse, call the library,
print.

One module per verb registers its parser and runs it. Nothing here imports torch at import
time (each verb defers its library imports to ``run``), so ``trm --help`` is instant.

Exit codes: 0 success, 2 bad input or usage (one line, no traceback), 1 anything else,
130 when training was interrupted (a checkpoint was saved).
"""

from __future__ import annotations

import argparse
import os
import sys

from trm.cli import bench, build, demo, eval, solve, train
from trm.errors import TrmError

VERBS = {
    "build": build,
    "train": train,
    "eval": eval,
    "solve": solve,
    "bench": bench,
    "demo": demo,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trm", description="Tiny Recursive Model: build, train, solve."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{build,train,eval,solve,bench,demo}"
    )
    for verb in VERBS.values():
        verb.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "solve" and not any(e.startswith("-") for e in extra):
        args.puzzles += extra  # puzzles given after options: `trm solve sudoku --views 4 "..."`
    elif extra and args.command == "train" and all("=" in e and e[0] != "-" for e in extra):
        args.overrides += extra  # overrides after options: `trm train R --no-progress lr=1e-3`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return VERBS[args.command].run(args)
    except TrmError as e:
        print(f"trm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`trm solve ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
