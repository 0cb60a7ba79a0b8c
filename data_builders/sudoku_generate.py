"""Generate Sudoku puzzles with exactly one solution and a minimum difficulty.

One attempt: a random complete grid (the solver filling an empty grid, each cell's digits in a
random order); its clues removed in random order, each removal kept only while the solution
stays unique, which leaves a minimal puzzle; then a hill climb: move one clue to a random blank
cell (with the solution's digit), keep the move if the puzzle stays unique and the solver's
guesses over its whole search (a smoother measure than the rating) do not drop, and stop once
the rating (``trm.puzzles.sudoku.rate``: guesses until the first solution) reaches the target.
Attempts that do not reach it within ``MOVES`` moves are dropped. Random minimal puzzles are
easy (median rating 0, rarely above 5); the climb gets rating >= 10 in about 2 attempts.

Each attempt draws a fixed amount from its seeded numpy Generator up front and runs as one
kernel (compiled by numba when installed, plain Python otherwise, same results). The work is
cut into chunks of ``CHUNK`` puzzles with seeds derived from the caller's Generator; ``workers``
processes run them and the results are concatenated in chunk order, so the puzzles depend only
on the seed, not on the backend or the number of workers.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os

import numpy as np
from tqdm import tqdm

from trm.puzzles import sudoku_solver as ss
from trm.puzzles.sudoku_solver import ASCENDING, TABLES, analyse, jit, zeros1

MOVES = 2000  # hill-climb moves per attempt, at most
CHUNK = 16  # puzzles per seeded chunk of work


@jit
def _to_digits(masks, out):
    for i in range(81):
        m = masks[i]
        d = 1
        while m > 1:
            m >>= 1
            d += 1
        out[i] = d


@jit
def _attempt(order, removal, moves, target, ascending, T):
    """One attempt from pre-drawn randomness: ``order`` (81, 9) digit orders for the complete
    grid, ``removal`` (81,) clue removal order, ``moves`` (n, 2) uniforms picking the clue and
    the blank of each move. Returns (puzzle digits, solution digits, rating)."""
    scratch = zeros1(81)
    solution = zeros1(81)
    analyse(zeros1(81), 1, order, scratch, T)
    _to_digits(scratch, solution)
    puzzle = zeros1(81)
    for i in range(81):
        puzzle[i] = solution[i]
    for i in removal:
        puzzle[i] = 0
        if analyse(puzzle, 2, ascending, scratch, T)[0] != 1:
            puzzle[i] = solution[i]
    _, rating, effort = analyse(puzzle, 2, ascending, scratch, T)
    clues = zeros1(81)
    blanks = zeros1(81)
    for step in range(len(moves)):
        if rating >= target:
            break
        n_clues = 0
        n_blanks = 0
        for i in range(81):
            if puzzle[i]:
                clues[n_clues] = i
                n_clues += 1
            else:
                blanks[n_blanks] = i
                n_blanks += 1
        a = clues[int(moves[step][0] * n_clues)]
        b = blanks[int(moves[step][1] * n_blanks)]
        puzzle[a] = 0
        puzzle[b] = solution[b]
        found, r, e = analyse(puzzle, 2, ascending, scratch, T)
        if found == 1 and (r >= target or e >= effort):
            rating = r
            effort = e
        else:
            puzzle[a] = solution[a]
            puzzle[b] = 0
    return puzzle, solution, rating


def attempt(rng: np.random.Generator, min_difficulty: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One generation attempt: (question (9, 9) uint8, solution (9, 9) uint8, rating). The
    rating may be below ``min_difficulty`` if the climb did not reach it."""
    order = ss.digit_orders(rng)
    removal = rng.permutation(81).astype(np.int64)
    moves = rng.random((MOVES, 2))
    if ss.BACKEND == "python":
        removal, moves = removal.tolist(), moves.tolist()
    puzzle, solution, rating = _attempt(order, removal, moves, min_difficulty, ASCENDING, TABLES)
    grid = np.asarray(puzzle, dtype=np.uint8).reshape(9, 9)
    return grid, np.asarray(solution, dtype=np.uint8).reshape(9, 9), int(rating)


def _chunk(job: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Puzzles of chunk ``k``: ``job = (entropy, k, size, min_difficulty)``; returns questions,
    answers, ratings and the number of attempts made."""
    entropy, k, size, min_difficulty = job
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(k,)))
    questions, answers, ratings = [], [], []
    attempts = 0
    while len(questions) < size:
        attempts += 1
        puzzle, solution, rating = attempt(rng, min_difficulty)
        if rating >= min_difficulty:
            questions.append(puzzle)
            answers.append(solution)
            ratings.append(rating)
    return np.array(questions), np.array(answers), np.array(ratings, dtype=np.int64), attempts


def generate(
    count: int,
    rng: np.random.Generator,
    *,
    min_difficulty: int = 0,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "generate",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` unique-solution puzzles rated ``>= min_difficulty``.

    The work is cut into chunks of ``CHUNK`` puzzles, each with its own seed derived from one
    draw of ``rng``, run by ``workers`` processes (default: all CPUs; 1 = in this process) and
    concatenated in chunk order, so the result does not depend on ``workers``. Returns
    questions and answers as (count, 9, 9) uint8 arrays and ratings as (count,) int64.
    """
    entropy = int(rng.integers(2**63))
    if count <= 0:
        empty = np.zeros((0, 9, 9), np.uint8)
        return empty, empty.copy(), np.zeros(0, np.int64)
    jobs = [
        (entropy, k, min(CHUNK, count - start), min_difficulty)
        for k, start in enumerate(range(0, count, CHUNK))
    ]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    questions, answers, ratings = [], [], []
    attempts = 0
    with contextlib.ExitStack() as stack:
        if workers > 1:
            # fork where there is one: no re-import of the caller's __main__, fast start; the
            # children only run numpy and the solver kernels
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            pool = stack.enter_context(mp.get_context(method).Pool(workers))
            results = pool.imap(_chunk, jobs)
        else:
            results = map(_chunk, jobs)
        bar = stack.enter_context(
            tqdm(total=count, desc=desc, unit="puzzle", disable=not progress or None)
        )
        for q, a, r, n in results:
            questions.append(q)
            answers.append(a)
            ratings.append(r)
            attempts += n
            bar.update(len(q))
            bar.set_postfix(attempts=attempts)
    shape = (count, 9, 9)
    return (
        np.concatenate(questions).astype(np.uint8).reshape(shape),
        np.concatenate(answers).astype(np.uint8).reshape(shape),
        np.concatenate(ratings).astype(np.int64),
    )
