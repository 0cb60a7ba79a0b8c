"""Generate Sudoku puzzles with exactly one solution and a minimum difficulty.

Each puzzle starts from a random complete grid (the solver filling an empty grid with digits in
random order). Its clues are removed in random order, each removal kept only while the puzzle
still has exactly one solution, which leaves a minimal puzzle. The puzzle is rated with
``trm.puzzles.sudoku.rate`` (solver guesses) and kept if the rating reaches the target;
otherwise a new grid is drawn. Everything comes from one seeded numpy Generator.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from trm.puzzles import sudoku


def minimal_puzzle(solution: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove clues of ``solution`` in random order while the solution stays unique."""
    g = np.asarray(solution, dtype=np.uint8).reshape(81).copy()
    for i in rng.permutation(81):
        digit = g[i]
        g[i] = 0
        if sudoku.count_solutions(g.reshape(9, 9), limit=2) != 1:
            g[i] = digit
    return g.reshape(9, 9)


def generate(
    count: int,
    rng: np.random.Generator,
    *,
    min_difficulty: int = 0,
    progress: bool = True,
    desc: str = "generate",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` unique-solution puzzles rated ``>= min_difficulty``.

    Returns questions and answers as (count, 9, 9) uint8 arrays and ratings as (count,) int64.
    """
    questions, answers, ratings = [], [], []
    attempts = 0
    with tqdm(total=count, desc=desc, unit="puzzle", disable=not progress or None) as bar:
        while len(questions) < count:
            attempts += 1
            solution = sudoku.random_solution(rng)
            puzzle = minimal_puzzle(solution, rng)
            rating = sudoku.rate(puzzle)
            if rating >= min_difficulty:
                questions.append(puzzle)
                answers.append(solution)
                ratings.append(rating)
                bar.update(1)
                bar.set_postfix(attempts=attempts)
    shape = (count, 9, 9)
    return (
        np.array(questions, dtype=np.uint8).reshape(shape),
        np.array(answers, dtype=np.uint8).reshape(shape),
        np.array(ratings, dtype=np.int64),
    )
