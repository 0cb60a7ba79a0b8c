"""`trm solve sudoku|maze|arc [PUZZLE ...] [--file F] [--checkpoint C] [--views K] [--steps N]`.

Reads puzzles (arguments, ``--file`` or stdin), calls ``trm.inference`` and prints grids or
JSON lines; ``--trace`` prints every supervision step of each puzzle instead.

Every bad input (puzzle text, file, checkpoint) becomes a ``TrmError`` whose one-line message
names the problem and where it is; the ``trm`` command prints it and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from trm.errors import TrmError
from trm.limits import MAX_BATCH, MAX_OPT_STEPS, MAX_STEPS, MAX_VIEWS, bounded
from trm.puzzles import KINDS, arc
from trm.puzzles.base import PuzzleError
from trm.safe_io import check_writable_file, read_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``solve`` (one sub-command per kind) on the ``trm`` subcommand parser."""
    p = sub.add_parser(
        "solve",
        help="solve puzzles with a trained model",
        description="Solve puzzles with a trained model; `trm solve KIND --help` for each kind.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="{sudoku,maze,arc}")
    for kind, (about, file_help) in SOLVE_KINDS.items():
        _solve_options(kinds.add_parser(kind, help=about, description=about), kind, file_help)


SOLVE_KINDS = {  # kind -> (what `trm solve KIND --help` says, what --file holds)
    "sudoku": (
        "Solve 9x9 Sudoku: 81 cells, '.' or '0' for blanks (spaces, '|', '-', '+' ignored). "
        "Answers are checked by the rules; an unsolvable puzzle is reported as such.",
        "one puzzle per line",
    ),
    "maze": (
        "Solve 30x30 mazes drawn with '# SGo' (wall, open, start, goal, path): the shortest "
        "path from S to G, checked by breadth-first search.",
        "grids separated by empty lines (a line of spaces is a row of open cells)",
    ),
    "arc": (
        "Solve ARC-AGI tasks given as JSON {train: [{input, output}], test: [{input}]}: votes "
        "over --views augmented views (default 8); a task unseen in training gets a puzzle "
        "embedding fitted on its demonstrations (--adapt-steps).",
        "a task JSON file",
    ),
}


def _solve_options(p: argparse.ArgumentParser, kind: str, file_help: str) -> None:
    p.add_argument(
        "puzzles", nargs="*", metavar="PUZZLE", help="puzzle text (default: --file or stdin)"
    )
    p.add_argument("--file", "-f", help=file_help)
    p.add_argument("--checkpoint", "-c", help=f"checkpoint (default: the shipped {kind} model)")
    p.add_argument(
        "--config",
        metavar="ARCH.yaml",
        help="official arch YAML: --checkpoint is an official state dict",
    )
    p.add_argument(
        "--views",
        type=bounded(1, MAX_VIEWS),
        default=1,
        help="symmetric views solved per puzzle" + (" (default 8)" if kind == "arc" else ""),
    )
    p.add_argument(
        "--steps",
        type=bounded(1, MAX_STEPS),
        default=None,
        help=f"fixed supervision steps, at most {MAX_STEPS} (default: adaptive halting)",
    )
    add_halting_options(p)
    p.add_argument(
        "--adapt-steps",
        type=bounded(0, MAX_OPT_STEPS),
        default=100,
        help="steps fitting a new task's embedding" if kind == "arc" else argparse.SUPPRESS,
    )
    trace_help = "show the answer after every supervision step (one view)"
    p.add_argument(
        "--trace", action="store_true", help=trace_help if kind != "arc" else argparse.SUPPRESS
    )
    p.add_argument(
        "--trace-png",
        metavar="FILE",
        help="draw the steps of --trace as a PNG (one puzzle)"
        if kind != "arc"
        else argparse.SUPPRESS,
    )
    add_common_options(p)


def add_halting_options(p: argparse.ArgumentParser) -> None:
    """``--max-steps`` and ``--halt`` (``trm.inference.solve.halting_for``)."""
    p.add_argument(
        "--max-steps",
        type=bounded(1, MAX_STEPS),
        default=None,
        help=f"at most N supervision steps, N <= {MAX_STEPS} (default: twice the trained "
        "maximum; recursing longer than training solves more of the hard puzzles)",
    )
    p.add_argument(
        "--halt",
        choices=("head", "rules", "both"),
        default="rules",
        help="what stops a puzzle early: the halting head, an answer that passes the rules "
        "(default; ARC has no rules and uses the head), or both",
    )


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``solve`` and ``eval``."""
    p.add_argument(
        "--batch-size",
        type=bounded(1, MAX_BATCH),
        default=256,
        help="slots in the streaming batch",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")


# --- reading puzzles -----------------------------------------------------------------------


def _read_text(args: argparse.Namespace) -> tuple[str, str]:
    if args.file:
        return read_text(args.file), args.file
    if sys.stdin is None or sys.stdin.isatty():
        raise TrmError(
            f"no puzzle given: pass PUZZLE arguments, --file F, or pipe puzzles "
            f"to `trm solve {args.kind}`"
        )
    return sys.stdin.read(), "<stdin>"


def read_puzzles(args: argparse.Namespace) -> list:
    """Sudoku/Maze grids or ARC tasks from the arguments, ``--file`` or stdin, validated."""
    kind = args.kind
    if args.puzzles:
        items = [(f"puzzle {i + 1}", text, f"arg{i + 1}") for i, text in enumerate(args.puzzles)]
    else:
        text, source = _read_text(args)
        items = _split_text(kind, text, source, args.file)
    if not items:
        raise TrmError("no puzzle found in the input")
    out = []
    for where, text, name in items:
        try:
            if kind != "arc":
                out.append(KINDS[kind].parse(text))
            elif Path(text).suffix == ".json" and Path(text).is_file():  # a task file's path
                out.append(arc.load_task_file(text))
            else:  # an ARC task is JSON with a name
                out.append(arc.parse(text, name))
        except PuzzleError as e:
            raise PuzzleError(f"{where}: {e}") from None
    return out


def _split_text(kind: str, text: str, source: str, file: str | None) -> list[tuple[str, str, str]]:
    """(position, text, name) of each puzzle in a file's text."""
    lines = text.split("\n")
    if kind == "sudoku":
        return [(f"{source}:{n + 1}", line, "") for n, line in enumerate(lines) if line.strip()]
    if kind == "maze":
        blocks, start, cur = [], 0, []
        for n, line in enumerate(lines + [""]):
            if line.removesuffix("\r"):  # only an empty line separates: spaces are open cells
                if not cur:
                    start = n
                cur.append(line)
            elif cur:
                blocks.append((f"{source}:{start + 1}", "\n".join(cur), ""))
                cur = []
        return blocks
    name = Path(file).stem if file else "stdin"
    return [(source, text, name)]


# --- solve ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Read, load, solve in batches, print grids or JSON lines (or traces)."""
    # Deferred: the library imports torch, which `trm --help` must not pay for.
    from trm.inference.loading import load_for_kind

    puzzles = read_puzzles(args)
    if args.trace or args.trace_png:
        _check_trace_args(args, len(puzzles))
        if args.trace_png:
            check_writable_file(args.trace_png, "--trace-png")
    model, cfg = load_for_kind(args.kind, args.checkpoint, args.config, args.device)
    if args.trace or args.trace_png:
        return _run_trace(args, model, puzzles)
    if args.kind == "arc":  # ARC reads tasks and votes; it prints attempts, not one grid
        return _solve_arc(args, model, cfg, puzzles)
    from trm.inference.solve import halting_for, solve_grids

    bar = tqdm(  # on stderr, only on a terminal, never with --json
        total=len(puzzles) * args.views,
        desc="solve",
        unit="view",
        disable=True if args.json else None,
        leave=False,
    )
    with bar:
        results = solve_grids(
            model,
            args.kind,
            puzzles,
            views=args.views,
            halting=halting_for(
                args.kind, args.steps, args.max_steps, args.halt, model.cfg.max_supervision_steps
            ),
            batch_size=args.batch_size,
            seed=args.seed,
            progress=bar,
        )
    module = KINDS[args.kind]
    for i, r in enumerate(results):
        if args.json:
            print(json.dumps({"puzzle": i + 1, **r.to_json(module.to_line)}))
            continue
        how = "verified" if r.verified else "NOT verified"
        if r.solvable is False:
            how = "NO SOLUTION: the puzzle has none (exact solver); the model's attempt"
        elif not r.verified and r.views > 1:
            how += " (majority answer)"
        steps = f"{r.steps} step" + ("s" if r.steps != 1 else "")
        print(f"puzzle {i + 1}: {how}; {r.views_agreeing}/{r.views} views agree; {steps}")
        print(module.render(r.answer))
        print()
    return 0


def _solve_arc(args: argparse.Namespace, model, cfg, tasks: list) -> int:
    from trm.inference.arc import solve_arc_task

    views = args.views if args.views > 1 else 8
    for task in tasks:
        results = solve_arc_task(
            model,
            task,
            data_path=cfg.data_path,
            views=views,
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            adapt_steps=args.adapt_steps,
            progress=not args.json,
        )
        _print_arc(task, results, args.json)
    return 0


def _print_arc(task: arc.Task, results, as_json: bool) -> None:
    for t, r in enumerate(results):
        if as_json:
            print(json.dumps({"task": task.name, "test": t, **r.to_json(None)}))
            continue
        if t == 0:
            said = {
                "trained": "its trained puzzle embedding",
                "adapted": "a puzzle embedding fitted now on its demonstration pairs (new task)",
                "none": "no puzzle embedding",
            }[r.embedding]
            print(f"task {task.name}: using {said}")
        print(f"test {t}: {r.views_agreeing}/{r.views} views agree on attempt 1; {r.steps} steps")
        color = sys.stdout.isatty()
        for a, grid in enumerate(r.attempts):
            print(f"attempt {a + 1} ({grid.shape[0]}x{grid.shape[1] if grid.ndim == 2 else 0}):")
            print(arc.render(grid, color=color))
        print()


# --- `trm solve --trace` -------------------------------------------------------------------


def _check_trace_args(args: argparse.Namespace, num_puzzles: int) -> None:
    """Reject combinations ``--trace`` cannot honour (before any model is loaded)."""
    from trm.inference.trace import TRACE_KINDS

    if args.kind not in TRACE_KINDS:
        raise TrmError(f"--trace supports {' and '.join(TRACE_KINDS)}")
    if args.views != 1:
        raise TrmError("--trace follows one view of each puzzle: drop --views")
    if args.trace_png and num_puzzles > 1:
        raise TrmError(f"--trace-png draws one puzzle, got {num_puzzles}: pass just one")


def _run_trace(args: argparse.Namespace, model, puzzles: list) -> int:
    """Trace every puzzle: its steps as text (JSON lines with ``--json``); ``--trace-png``."""
    from trm.inference.trace import (
        format_trace,
        trace_grid,
        trace_to_json,
        use_color,
        write_trace_png,
    )

    color = not args.json and use_color()
    for i, grid in enumerate(puzzles):
        trace = trace_grid(model, args.kind, grid, steps=args.steps, progress=not args.json)
        if args.json:
            print(json.dumps({"puzzle": i + 1, **trace_to_json(trace)}))
        else:
            print(f"puzzle {i + 1}:")
            print(format_trace(trace, color))
            print()
        if args.trace_png:
            try:
                write_trace_png(trace, args.trace_png)
            except OSError as e:
                raise TrmError(
                    f"{args.trace_png}: cannot write the picture ({e.strerror})"
                ) from None
    if args.trace_png and not args.json:
        print(f"wrote {args.trace_png}")
    return 0
