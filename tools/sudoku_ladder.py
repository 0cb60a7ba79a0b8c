"""Build the Sudoku difficulty ladder: held-out real puzzles at 17, 25, 30, ... 55 givens.

The rungs share one set of solution grids, drawn from ``17_clue_sample2000.csv`` and split off by
solution grid up to Sudoku symmetry (so no training puzzle is a shuffled twin of a ladder grid).
Each rung copies clues back from the solution into the 17-clue puzzle, in one random order per
puzzle, so a rung holds every clue of the rung below it. The hard lists (magictour top 1465 and a
sample of the forum's SE >= 11 list) are written next to them. Every rung is a dataset whose test
split is the rung (its train split repeats it, unused), so ``trm eval`` measures it::

    python tools/sudoku_ladder.py --data ../shared/data/sudoku --out data/ladder
    trm eval checkpoints/sudoku-mlp-cpu data/ladder/g35 --views 16

``tools/ladder_eval.py`` measures a model on every rung and hard list (``trm eval``'s report
per dataset) and writes the ladder table as Markdown and JSON::

    python tools/ladder_eval.py sudoku-mlp-cpu data/ladder/g* data/ladder/magictour \\
        data/ladder/forum --views 16 --limit 200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from data_builders import sudoku as sudoku_builder
from data_builders.sources import read_puzzle_csv, write_puzzle_csv
from trm.puzzles import sudoku

RUNGS = (17, 25, 30, 35, 40, 45, 50, 55)
EASY = (45, 50, 55)  # mixed into csv/easy.csv: the time-to-accuracy proxy's test split
HARD_LISTS = {
    "magictour": ("magictour_top1465.csv", None),
    "forum": ("forum_hardest_1905_11plus_10k.csv", 1000),
}


def _write_csv(path: Path, name: str, questions: np.ndarray, answers: np.ndarray) -> None:
    """Puzzles as a ``source,question,answer,rating`` CSV (rating 0), written atomically."""
    rows = ((name, sudoku.to_line(q), sudoku.to_line(a), 0) for q, a in zip(questions, answers))
    write_puzzle_csv(path, rows)


def _eval_dataset(csv_path: Path, out: Path, test_count: int | None = None) -> None:
    """Build the evaluation dataset of one rung; a rerun replaces the tool's own dataset."""
    sudoku_builder.build(
        out,
        str(csv_path),
        test_source=str(csv_path),
        test_count=test_count,
        progress=False,
        overwrite=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/sudoku", help="folder of the CSVs")
    parser.add_argument("--out", default="data/ladder")
    parser.add_argument("--fraction", type=float, default=0.25, help="17-clue grids held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-copies",
        type=int,
        default=3,
        help="csv/train_17clue_copies.csv: each training 17-clue puzzle and this many copies "
        "with clues copied back to 18..40 givens (drawn per copy)",
    )
    args = parser.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    (out / "csv").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    rows = read_puzzle_csv(data / "17_clue_sample2000.csv")
    puzzles, _ = sudoku_builder.validate_rows(rows, skip_invalid=False)
    rest, held = sudoku_builder.split_by_solution(puzzles, args.fraction, rng)
    _write_csv(out / "csv" / "train_17clue.csv", "17_clue_rest", rest.questions, rest.answers)
    order_state = rng.bit_generator.state
    rungs = {}
    for givens in RUNGS:
        rng.bit_generator.state = order_state  # the same cell order for every rung: nested
        targets = np.full(len(held), givens)
        questions = rungs[givens] = sudoku.add_givens(held.questions, held.answers, targets, rng)
        path = out / "csv" / f"g{givens}.csv"
        _write_csv(path, f"ladder_{givens}", questions, held.answers)
        _eval_dataset(path, out / f"g{givens}")
        solved = [sudoku.singles_rounds(q) for q in questions]
        rounds = [r for r in solved if r is not None]
        print(
            f"g{givens}: {len(held)} puzzles -> {out / f'g{givens}'}; singles alone solve "
            f"{len(rounds) / len(solved):.1%} (mean {np.mean(rounds):.1f} rounds)"
        )
    easy = np.concatenate([rungs[g] for g in EASY])
    answers = np.concatenate([held.answers] * len(EASY))
    _write_csv(out / "csv" / "easy.csv", "ladder_easy", easy, answers)
    for name, (file, count) in HARD_LISTS.items():
        _eval_dataset(data / file, out / name, test_count=count)
        print(f"{name}: {count or 'all'} puzzles of {file} -> {out / name}")
    print(f"train_17clue: {len(rest)} puzzles -> {out / 'csv' / 'train_17clue.csv'}")
    _write_copies(out / "csv" / "train_17clue_copies.csv", rest, args.train_copies, args.seed)


def _write_copies(path: Path, rest, copies: int, seed: int) -> None:
    """The training 17-clue puzzles, each followed by ``copies`` of it with clues copied back
    to a number of givens drawn from 18..40: hard puzzles and their easier versions to train on.
    A generator of its own, so the rungs above do not depend on ``copies``."""
    rng = np.random.default_rng([seed, 1])
    questions, answers = [rest.questions], [rest.answers]
    for _ in range(copies):
        targets = rng.integers(18, 41, len(rest))
        questions.append(sudoku.add_givens(rest.questions, rest.answers, targets, rng))
        answers.append(rest.answers)
    q, a = np.concatenate(questions), np.concatenate(answers)
    _write_csv(path, "17_clue_copies", q, a)
    print(f"train_17clue_copies: {len(q)} puzzles ({copies} copies each) -> {path}")


if __name__ == "__main__":
    main()
