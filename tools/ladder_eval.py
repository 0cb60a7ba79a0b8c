"""Measure a model on a ladder: ``trm eval``'s report on several datasets, as one table.

Each DATASET (a rung of ``tools/sudoku_ladder.py`` or ``tools/maze_ladder.py``, or any built
dataset) is evaluated on its test split through ``Solver.evaluate``; the table (exact with one
view at the trained steps, verified with one view at the trained steps and with the halting
rule, verified with ``--views``, mean steps; a maze has several shortest paths, exact counts only
the dataset's) is printed and written as ``REPORT.md`` and ``REPORT.json``::

    python tools/ladder_eval.py sudoku-mlp-cpu data/ladder/g* data/ladder/magictour \\
        data/ladder/forum --views 16 --limit 200 --report ladder
    python tools/ladder_eval.py maze-conv-cpu data/maze-ladder/p* --views 8 --report maze_ladder
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluate_ladder(args: argparse.Namespace) -> list[dict]:
    """``trm eval``'s report on every dataset of ``args.datasets``; the table as Markdown+JSON."""
    import torch

    from trm.api import load

    if args.threads:
        torch.set_num_threads(args.threads)
    solver = load(args.checkpoint, device=args.device, precision=args.precision)
    rows = []
    for path in args.datasets:
        report = solver.evaluate(
            path, views=args.views, limit=args.limit, max_steps=args.max_steps,
            halt=args.halt, batch_size=args.batch_size,
        )  # fmt: skip
        report["name"] = Path(path).name
        rows.append(report)
        print(_row(report), flush=True)
    lines = [
        f"| puzzles | n | exact, 1 view, {rows[0]['steps']} steps | verified, 1 view, "
        f"{rows[0]['steps']} steps | verified, 1 view, halt {args.halt} "
        f"| verified, {args.views} views | mean steps |",
        "|---|---|---|---|---|---|---|",
    ] + [_row(r) for r in rows]
    target = Path(args.report)
    target.with_suffix(".md").write_text("\n".join(lines) + "\n")
    target.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))
    return rows


def _row(r: dict) -> str:
    # with one view there is no views table: the K-view column is the one view's own figure
    views = r.get("views") or [{"verified_accuracy": r["adaptive_verified_accuracy"]}]
    return (
        f"| {r['name']} | {r['puzzles']} | {r['exact_accuracy']:.1%} | "
        f"{r['verified_accuracy']:.1%} | {r['adaptive_verified_accuracy']:.1%} | "
        f"{views[-1]['verified_accuracy']:.1%} | "
        f"{r['adaptive_mean_steps']:.1f} |"
    )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a shipped model's name or a checkpoint directory")
    parser.add_argument("datasets", nargs="+", help="built datasets (ladder rungs)")
    parser.add_argument("--views", type=int, default=16)
    parser.add_argument("--limit", type=int, default=0, help="puzzles per dataset (0: all)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--halt", default="rules")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--report", default="ladder", help="PATH(.md/.json) of the table")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    return evaluate_ladder(parser.parse_args(argv))


if __name__ == "__main__":
    main()
