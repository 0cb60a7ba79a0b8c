"""Build the maze ladder: held-out Maze-Hard-recipe mazes in bands of shortest-path length.

Every rung holds ``--count`` 30x30 mazes of the Maze-Hard recipe (270..450 random walls,
``data_builders/maze_generate.py``) whose shortest path, in moves, lies in the rung's band:
10..20, 30..40, 60..80, and more than 110 (Maze-Hard's own filter). No two mazes of the ladder
share a wall layout. Each rung is written as ``csv/NAME.csv`` and as a dataset ``NAME/`` whose
test split is the rung (its train split repeats it, unused), so ``trm eval`` measures it;
``csv/all.csv`` holds every rung, for training builds to avoid with ``--exclude``::

    python tools/maze_ladder.py --out data/maze-ladder
    trm build maze --source generate --max-path 40 --exclude data/maze-ladder/csv/all.csv \\
        --test-source data/maze-ladder/csv/p10-20.csv --out data/maze-short
    python tools/ladder_eval.py maze-conv-cpu data/maze-ladder/p* --views 8 --report docs/maze

``--band NAME=LO:HI`` (repeatable) replaces the four rungs, e.g. for a smaller proxy:
``--size 15 --band p1-50=0:50 --goal length`` (every length of 1..50 moves equally often).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from data_builders import maze as maze_builder
from data_builders.maze_generate import generate
from trm.puzzles import maze

# name: (min_path, max_path) in moves, a maze qualifies when min_path < length <= max_path
RUNGS: dict[str, tuple[int, int | None]] = {
    "p10-20": (9, 20),
    "p30-40": (29, 40),
    "p60-80": (59, 80),
    "p110+": (110, None),
}


def build_ladder(
    out: Path,
    count: int,
    seed: int,
    size: int = 30,
    rungs: dict[str, tuple[int, int | None]] | None = None,
    goal: str = "cell",
) -> dict[str, np.ndarray]:
    """Generate and write every rung (``RUNGS`` unless ``rungs``; G drawn by ``goal``, as
    ``trm build maze --goal``); returns each rung's path lengths (moves)."""
    (out / "csv").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    used: set[bytes] = set()  # layouts of earlier rungs: generate() skips and extends it
    all_q, all_a, lengths = [], [], {}
    for name, (lo, hi) in (rungs or RUNGS).items():
        gen = generate(count, size=size, min_path=lo, max_path=hi, rng=rng, exclude=used, goal=goal)
        answers, moves = maze.solve_batch(gen.questions)
        path = out / "csv" / f"{name}.csv"
        maze_builder.write_csv(path, gen.questions, answers, source=f"ladder_{name}")
        maze_builder.build(
            out / name, str(path), test_source=str(path), size=size, progress=False,
            overwrite=True,
        )  # fmt: skip
        all_q.append(gen.questions)
        all_a.append(answers)
        lengths[name] = moves
        print(
            f"{name}: {count} mazes -> {out / name}; shortest path {moves.min()}..{moves.max()} "
            f"moves (mean {moves.mean():.1f})",
            flush=True,
        )
    maze_builder.write_csv(
        out / "csv" / "all.csv", np.concatenate(all_q), np.concatenate(all_a), "ladder"
    )
    return lengths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/maze-ladder")
    parser.add_argument("--count", type=int, default=300, help="mazes per rung")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--size", type=int, default=30, help="grid side")
    parser.add_argument(
        "--band",
        action="append",
        type=_band,
        help="NAME=LO:HI: a rung of paths longer than LO and at most HI moves (replaces the "
        "default rungs; repeatable)",
    )
    parser.add_argument("--goal", choices=("cell", "length"), default="cell")
    args = parser.parse_args(argv)
    rungs = dict(args.band) if args.band else None
    build_ladder(Path(args.out), args.count, args.seed, args.size, rungs, args.goal)


def _band(text: str) -> tuple[str, tuple[int, int]]:
    name, _, band = text.partition("=")
    lo, _, hi = band.partition(":")
    if not name or not lo.isdigit() or not hi.isdigit() or int(lo) >= int(hi):
        raise argparse.ArgumentTypeError(f"--band {text!r}: expected NAME=LO:HI with LO < HI")
    return name, (int(lo), int(hi))


if __name__ == "__main__":
    main()
