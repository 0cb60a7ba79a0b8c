"""`trm solve sudoku|maze|arc [PUZZLE ...] [--file F] [--checkpoint C] [--views K] [--search]`.

A client of the Python API: reads puzzle text (arguments, ``--file`` or stdin), calls
``trm.load`` and ``Solver.solve`` (or ``Solver.trace`` with ``--trace``) and prints grids or
JSON lines as each chunk of puzzles finishes. What a kind's text looks like, how a file holds
several puzzles and how answers are checked is the kind's business (``trm.puzzles``).

Bad input (puzzle text, file, checkpoint) is a ``TrmError`` of one line naming it; exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from trm.cli.options import add_common_options, add_halting_options, add_views_option, bounded
from trm.errors import TrmError
from trm.options import ARC_DEFAULT_VIEWS, MAX_OPT_STEPS
from trm.puzzles import KINDS
from trm.puzzles.base import parse_each
from trm.safe_io import check_writable_file, read_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``solve`` (one sub-command per kind) on the ``trm`` subcommand parser."""
    p = sub.add_parser(
        "solve",
        help="solve puzzles with a trained model",
        description="Solve puzzles with a trained model; `trm solve KIND --help` for each kind.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="{" + ",".join(KINDS) + "}")
    for kind, module in KINDS.items():
        k = kinds.add_parser(kind, help=module.ABOUT, description=module.ABOUT)
        _solve_options(k, kind, module)


def _solve_options(p: argparse.ArgumentParser, kind: str, module) -> None:
    p.add_argument("puzzles", nargs="*", metavar="PUZZLE", help="puzzle text or a file of them")
    p.add_argument("--file", "-f", help=module.FILE_FORMAT)
    p.add_argument("--checkpoint", "-c", help=f"checkpoint (default: the shipped {kind} model)")
    official = "official arch YAML: --checkpoint is an official state dict"
    p.add_argument("--config", metavar="ARCH.yaml", help=official)
    views = 1 if module.ONE_GRID else ARC_DEFAULT_VIEWS
    add_views_option(p, f"symmetric views solved per puzzle (default {views})")
    add_halting_options(p)
    hide = argparse.SUPPRESS
    p.add_argument(
        "--adapt-steps",
        type=bounded(0, MAX_OPT_STEPS),
        default=100,
        help=hide if module.ONE_GRID else "steps fitting a new task's embedding",
    )
    trace = "show the answer after every supervision step (one view)"
    p.add_argument("--trace", action="store_true", help=trace if module.ONE_GRID else hide)
    png = "draw the steps of --trace as a PNG (one puzzle)"
    p.add_argument("--trace-png", metavar="FILE", help=png if module.ONE_GRID else hide)
    add_common_options(p)


# --- reading puzzles -----------------------------------------------------------------------


def _is_file(text: str) -> bool:
    """An argument that names an existing file (puzzle text itself never does)."""
    return "\n" not in text and len(text) < 4096 and os.path.isfile(text)


def read_puzzles(args: argparse.Namespace) -> list[tuple[str, object]]:
    """``(position, puzzle)`` of every puzzle in the arguments (text, or files of puzzles),
    ``--file`` or stdin, each parsed and checked by the kind's module."""
    module = KINDS[args.kind]
    items: list[tuple[str, object]] = []
    for i, text in enumerate(args.puzzles):
        if _is_file(text):
            items += module.read(read_text(text), text)
        else:
            items += parse_each(module.parse, [(f"puzzle {i + 1}", text)])
    if args.file:
        items += module.read(read_text(args.file), args.file)
    elif not args.puzzles:
        if sys.stdin is None or sys.stdin.isatty():
            raise TrmError(
                f"no puzzle given: pass PUZZLE arguments, --file F, or pipe puzzles "
                f"to `trm solve {args.kind}`"
            )
        items += module.read(sys.stdin.read().removeprefix("\ufeff"), "<stdin>")
    if not items:
        raise TrmError("no puzzle found in the input")
    return items


# --- solve ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Read, load, solve in chunks, print grids or JSON lines (or traces)."""
    puzzles = read_puzzles(args)
    tracing = args.trace or args.trace_png
    if tracing:
        _check_trace_args(args, len(puzzles))
    # Deferred: the library imports torch, which `trm --help` must not pay for.
    from trm.api import load

    source = args.checkpoint or args.kind
    if args.config and not args.checkpoint:
        raise TrmError("--config needs --checkpoint (the official state dict it describes)")
    solver = load(
        source, kind=args.kind, arch=args.config, device=args.device, precision=args.precision
    )
    stop = dict(steps=args.steps, max_steps=args.max_steps, halt=args.halt)
    solver.halting(**stop)  # a bad combination is refused before any puzzle runs
    plan = solver.search_for(args.search, args.budget)  # so is a kind that cannot be searched
    if tracing:
        return _run_trace(args, solver, puzzles, stop)
    options = dict(views=args.views, batch_size=args.batch_size, seed=args.seed, search=plan)
    options.update(stop)
    if not KINDS[args.kind].ONE_GRID:  # a task per call: its test inputs print together
        for _, task in puzzles:
            results = solver.solve(
                [task], adapt_steps=args.adapt_steps, progress=not args.json, **options
            )
            _print_task(task, results, args.json)
        return 0
    # Chunks of puzzles: answers print as they finish, and memory stays bounded.
    chunk = max(64, 4 * args.batch_size // (args.views or 1))
    for start in range(0, len(puzzles), chunk):
        grids = [p for _, p in puzzles[start : start + chunk]]
        results = solver.solve(grids, progress=not args.json, **options)
        for i, r in enumerate(results, start + 1):
            _print_answer(solver, i, r, args.json)
        sys.stdout.flush()
    return 0


def _print_answer(solver, i: int, r, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"puzzle": i, **r.to_json(KINDS[solver.kind].to_line)}))
        return
    open_ = not r.verified and r.search_nodes is None and r.solvable is not False
    hint = " (--search may find one)" if open_ and KINDS[solver.kind].CAN_SEARCH else ""
    print(f"puzzle {i}: {r.summary()}{hint}\n{solver.render(r.answer)}\n")


def _print_task(task, results, as_json: bool) -> None:
    """Each test input of a task: its attempts as coloured grids (on a terminal) or JSON."""
    render = KINDS["arc"].render
    for t, r in enumerate(results):
        if as_json:
            print(json.dumps({"task": task.name, "test": t, **r.to_json(None)}))
            continue
        if t == 0:
            print(f"task {task.name}: using {r.embedding_said()}")
        print(f"test {t}: {r.summary()}")
        for a, grid in enumerate(r.attempts):
            print(f"attempt {a + 1} ({grid.shape[0]}x{grid.shape[1] if grid.ndim == 2 else 0}):")
            print(render(grid, color=sys.stdout.isatty()))
        print()


# --- `trm solve --trace` -------------------------------------------------------------------


def _check_trace_args(args: argparse.Namespace, num_puzzles: int) -> None:
    """Reject combinations ``--trace`` cannot honour (before any model is loaded)."""
    if not KINDS[args.kind].ONE_GRID:
        grids = " and ".join(k for k, m in KINDS.items() if m.ONE_GRID)
        raise TrmError(f"--trace supports {grids} (one grid per puzzle), not {args.kind}")
    if args.views not in (None, 1) or args.search:
        raise TrmError("--trace follows one view of each puzzle: drop --views and --search")
    if args.trace_png and num_puzzles > 1:
        raise TrmError(f"--trace-png draws one puzzle, got {num_puzzles}: pass just one")
    if args.trace_png:
        check_writable_file(args.trace_png, "--trace-png")


def _run_trace(args: argparse.Namespace, solver, puzzles: list, stop: dict) -> int:
    """Trace every puzzle: its steps as text (JSON lines with ``--json``); ``--trace-png``."""
    from trm.inference.trace import format_trace, trace_to_json, use_color, write_trace_png

    color = not args.json and use_color()
    for i, (_, grid) in enumerate(puzzles, 1):
        trace = solver.trace(grid, progress=not args.json, **stop)
        if args.json:
            print(json.dumps({"puzzle": i, **trace_to_json(trace)}))
        else:
            print(f"puzzle {i}:\n{format_trace(trace, color)}\n")
        if args.trace_png:
            try:
                path = write_trace_png(trace, args.trace_png)
            except OSError as e:
                raise TrmError(
                    f"{args.trace_png}: cannot write the picture ({e.strerror})"
                ) from None
            if not args.json:
                print(f"wrote {path.resolve()}")
    return 0
