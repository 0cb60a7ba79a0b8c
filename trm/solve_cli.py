"""`trm solve` and `trm eval`: argument parsers, reading puzzles, loading models, printing.

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
from trm.limits import MAX_BATCH, MAX_COUNT, MAX_OPT_STEPS, MAX_STEPS, MAX_VIEWS, bounded
from trm.puzzles import KINDS, arc
from trm.puzzles.base import PuzzleError
from trm.safe_io import check_writable_file, read_text

SEQ_LEN = {"sudoku": 81, "maze": 900, "arc": 900}
VOCAB = {"sudoku": 11, "maze": 6, "arc": 12}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` and ``solve`` on the ``trm`` subcommand parser."""
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
    p.add_argument(
        "--steps",
        type=bounded(1, MAX_STEPS),
        default=None,
        help=f"fixed supervision steps, at most {MAX_STEPS} (default: the maximum)",
    )
    p.add_argument("--plot", metavar="PNG", help="write accuracy against views as a PNG plot")
    _common(p)

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
    _common(p)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--batch-size",
        type=bounded(1, MAX_BATCH),
        default=256,
        help="slots in the streaming batch",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Dispatch ``trm eval`` / ``trm solve``."""
    if args.command == "eval":
        return run_eval(args)
    return run_solve(args)


# --- loading -------------------------------------------------------------------------------


def load_checkpoint(kind: str | None, checkpoint: str | None, config: str | None, device: str):
    """(model, TrainConfig) on ``device``, checked against the puzzle kind when one is given."""
    from trm.checkpoint import load_model
    from trm.solve import pick_device, shipped_checkpoint
    from trm.train import KIND_BY_VOCAB

    dev = pick_device(device)
    if checkpoint is None:
        if config:
            raise TrmError("--config needs --checkpoint (the official state dict it describes)")
        checkpoint = str(shipped_checkpoint(kind))
    if config:
        from trm.official import load_official

        model, cfg = load_official(checkpoint, config, kind or "")
        model = model.to(dev)
    else:
        model, cfg = load_model(checkpoint, dev)
    trained = cfg.kind or KIND_BY_VOCAB.get(cfg.model.vocab_size, "")
    if kind is not None:
        if trained and trained != kind:
            raise TrmError(f"{checkpoint}: checkpoint is for {trained} puzzles, not {kind}")
        if cfg.model.seq_len != SEQ_LEN[kind] or cfg.model.vocab_size != VOCAB[kind]:
            raise TrmError(
                f"{checkpoint}: model takes {cfg.model.seq_len} tokens over a "
                f"vocabulary of {cfg.model.vocab_size}, not {kind} puzzles "
                f"({SEQ_LEN[kind]} tokens, {VOCAB[kind]})"
            )
    return model, cfg


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
            if kind == "sudoku":
                out.append(KINDS["sudoku"].parse(text))
            elif kind == "maze":
                out.append(KINDS["maze"].parse(text))
            elif Path(text).suffix == ".json" and Path(text).is_file():
                out.append(arc.load_task_file(text))
            else:
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


def run_solve(args: argparse.Namespace) -> int:
    """``trm solve``: read, load, solve in batches, print grids or JSON lines."""
    from trm import solve

    puzzles = read_puzzles(args)
    tracing = getattr(args, "trace", False) or getattr(args, "trace_png", None)
    if tracing:
        from trm.trace import check_trace_args

        check_trace_args(args, len(puzzles))
        if args.trace_png:
            check_writable_file(args.trace_png, "--trace-png")
    model, cfg = load_checkpoint(args.kind, args.checkpoint, args.config, args.device)
    if tracing:
        from trm.trace import run_trace

        return run_trace(args, model, puzzles)
    module = KINDS[args.kind]
    if args.kind == "arc":
        views = args.views if args.views > 1 else 8
        for task in puzzles:
            results = solve.solve_arc_task(
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
    bar = tqdm(  # on stderr, only on a terminal, never with --json
        total=len(puzzles) * args.views,
        desc="solve",
        unit="view",
        disable=True if args.json else None,
        leave=False,
    )
    with bar:
        results = solve.solve_grids(
            model,
            args.kind,
            puzzles,
            views=args.views,
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=bar,
        )
    for i, r in enumerate(results):
        if args.json:
            line = module.to_line if hasattr(module, "to_line") else module.render
            print(json.dumps({"puzzle": i + 1, **r.to_json(line)}))
        else:
            how = (
                "verified"
                if r.verified
                else "NO SOLUTION: the puzzle has none (exact solver); the model's attempt"
                if r.solvable is False
                else "NOT verified (majority answer)"
                if r.views > 1
                else "NOT verified"
            )
            print(
                f"puzzle {i + 1}: {how}; {r.views_agreeing}/{r.views} views agree; {r.steps} steps"
            )
            print(module.render(r.answer))
            print()
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


# --- eval ----------------------------------------------------------------------------------


def run_eval(args: argparse.Namespace) -> int:
    """``trm eval``: accuracy, halting, steps, views table (and plot) as text or JSON."""
    from trm.eval_report import evaluate_checkpoint, format_report, write_plot

    if args.plot:  # checked before the evaluation, not after it
        if args.views < 2:
            raise TrmError("--plot needs a views table: pass --views K with K > 1")
        check_writable_file(args.plot, "--plot")
    model, cfg = load_checkpoint(None, args.checkpoint, None, args.device)
    report = evaluate_checkpoint(
        model,
        cfg,
        args.data_dir,
        views=args.views,
        limit=args.limit,
        batch_size=args.batch_size,
        steps=args.steps,
        seed=args.seed,
        progress=not args.json,
    )
    if args.plot:
        report["plot"] = args.plot
    print(json.dumps(report) if args.json else format_report(report), flush=True)
    if args.plot:  # after the results: a failing plot never hides them
        try:
            write_plot(report, args.plot)
        except OSError as e:
            raise TrmError(f"{args.plot}: cannot write the plot ({e.strerror})") from None
    return 0
