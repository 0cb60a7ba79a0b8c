"""Maze: parsing, rendering, token codec, breadth-first search, solver, verifier, symmetries.

A maze is a square grid, an ``(n, n)`` uint8 array of indices into ``CHARSET = "# SGo"``:
0 ``#`` wall, 1 `` `` open, 2 ``S`` start, 3 ``G`` goal, 4 ``o`` path. Tokens are index + 1
(SPEC §2.4), PAD = 0. The model uses n = 30 (900 tokens); parsing and checking accept any n.

A *question* has exactly one S and one G and no ``o``. Its *answer* is the same grid with the
cells strictly between S and G on one shortest path marked ``o`` (S and G stay, as in the
Maze-Hard CSV). Moves go to the 4 neighbours through any non-wall cell; a path's *length* is its
number of moves (``o`` cells + 1).

Tie-break of ``solve`` (several shortest paths are common): breadth-first distances to G, then
walk from S, each time stepping to the first neighbour one move closer to G in the fixed order
up, left, right, down. ``verify`` accepts any shortest path, not only this one.
"""

from __future__ import annotations

import numpy as np

from trm.puzzles.base import (
    PuzzleError,
    Symmetry,
    blocks,
    dihedral_symmetry,
    parse_each,
    square_grid,
)

NAME = "maze"
CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
HAS_RULES = True  # verify() checks an answer by the rules (ARC: no rules, None)
VOCAB_SIZE = 6  # PAD + the 5 characters
SIDE = 30
SEQ_LEN = SIDE * SIDE
ABOUT = (  # `trm solve maze --help`
    "Solve 30x30 mazes drawn with '# SGo' (wall, open, start, goal, path): the shortest "
    "path from S to G, checked by breadth-first search."
)
FILE_FORMAT = "grids separated by empty lines (a line of spaces is a row of open cells)"
ONE_GRID = True  # a puzzle is one grid (ARC: a task of several)
# `--search` (trm.inference.search) branches on a cell being off the path by walling it in the
# question (a path cell "o" is not valid input, a wall is): ``branches``, ``dead_end``,
# ``answer_of``. A maze has 8 views, and the maze models need more steps than Sudoku's.
CAN_SEARCH = True
SEARCH_DEFAULTS = {"views": 8, "node_steps": 32}

_INDEX = {c: i for i, c in enumerate(CHARSET)}
SYMMETRIES = tuple(dihedral_symmetry(t) for t in range(8))


def _cell(flat_index: int, side: int) -> str:
    return f"row {flat_index // side + 1}, column {flat_index % side + 1}"


# --- text ----------------------------------------------------------------------------------


def parse(text: str, *, require_endpoints: bool = True) -> np.ndarray:
    """Read a maze from lines of equal length over ``# SGo`` (or one line of n² characters).

    With ``require_endpoints`` (questions, answers) the maze must have exactly one S and one G.
    Raises ``PuzzleError`` naming the problem and its 1-based row and column.
    """
    rows = [r.removesuffix("\r") for r in text.split("\n")]
    while rows and rows[-1] == "":
        rows.pop()
    while rows and rows[0] == "":
        rows.pop(0)
    if not rows:
        raise PuzzleError("empty maze")
    if len(rows) == 1:
        side = int(round(len(rows[0]) ** 0.5))
        if side * side != len(rows[0]):
            raise PuzzleError(
                f"maze is not square (one line of {len(rows[0])} characters is not n² for any n)"
            )
        rows = [rows[0][i : i + side] for i in range(0, side * side, side)]
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch not in _INDEX:
                raise PuzzleError(f"bad character {ch!r} at row {r + 1}, column {c + 1}")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise PuzzleError(
                f"rows have different lengths (row {r + 1} has {len(row)}, expected {width})"
            )
    if len(rows) != width:
        raise PuzzleError(f"maze is not square ({len(rows)} rows of {width} columns)")
    grid = np.array([[_INDEX[ch] for ch in row] for row in rows], dtype=np.uint8)
    if require_endpoints:
        problem = _endpoint_problem(grid)
        if problem:
            raise PuzzleError(problem)
    return grid


def read(text: str, source: str) -> list[tuple[str, np.ndarray]]:
    """Mazes separated by empty lines in a file's text, each with the position of its first
    line (a line of spaces is a row of open cells, not a separator)."""
    return parse_each(parse, blocks(text, source))


def check_grid(grid: object, where: str) -> np.ndarray:
    """A square array of indices into ``CHARSET``, checked as ``parse`` checks text."""
    g = square_grid(grid, len(CHARSET), where)
    problem = _endpoint_problem(g)
    if problem:
        raise PuzzleError(f"{where}: {problem}")
    return g


def _endpoint_problem(grid: np.ndarray) -> str | None:
    """Why ``grid`` does not have exactly one S and one G (None when it does)."""
    for value in (START, GOAL):
        where = np.flatnonzero(grid.reshape(-1) == value)
        ch = CHARSET[value]
        if len(where) == 0:
            return f"no {ch} in maze"
        if len(where) > 1:
            cells = [_cell(int(i), grid.shape[-1]) for i in where]
            listed = ", ".join(cells[:-1]) + " and " + cells[-1]
            return f"maze has {len(where)} {ch} cells ({listed})"
    return None


def render(grid: np.ndarray) -> str:
    """The maze as lines of text (no trailing newline)."""
    chars = np.array(list(CHARSET))[np.asarray(grid)]
    return "\n".join("".join(row) for row in chars)


def to_line(grid: np.ndarray) -> str:
    """The maze as one row-major line of n² characters (the CSV format)."""
    return "".join(np.array(list(CHARSET))[np.asarray(grid)].reshape(-1))


# --- tokens --------------------------------------------------------------------------------


def encode(grid: np.ndarray) -> np.ndarray:
    """Grid(s) ``(..., n, n)`` to tokens ``(..., n*n)`` uint8 (index + 1)."""
    g = np.asarray(grid)
    if g.ndim < 2 or g.shape[-1] != g.shape[-2]:
        raise PuzzleError(f"maze grid must be square, got shape {g.shape}")
    if g.size and int(g.max()) > PATH:
        raise PuzzleError(f"maze grid has value {int(g.max())}, expected 0..{PATH}")
    return (g.reshape(*g.shape[:-2], g.shape[-1] ** 2) + 1).astype(np.uint8)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Tokens ``(..., n*n)`` to grid(s) ``(..., n, n)``; PAD or unknown tokens raise."""
    t = np.asarray(tokens)
    side = int(round(t.shape[-1] ** 0.5))
    if side * side != t.shape[-1]:
        raise PuzzleError(f"{t.shape[-1]} maze tokens do not form a square grid")
    bad = (t < 1) | (t > len(CHARSET))
    if bad.any():
        first = np.argwhere(bad)[0]
        raise PuzzleError(
            f"token {int(t[tuple(first)])} at {_cell(int(first[-1]), side)} is not a maze cell "
            f"(expected 1..{len(CHARSET)})"
        )
    return (t - 1).astype(np.uint8).reshape(*t.shape[:-1], side, side)


def decode_answers(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model output tokens (N, n*n) -> grids (N, n, n) and a mask of rows of maze cells only.

    Rows with a token outside the maze cells decode as all-wall grids (masked out)."""
    t = np.asarray(tokens)
    ok = ((t >= 1) & (t <= len(CHARSET))).all(-1)
    return decode(np.where(ok[:, None], t, 1)), ok


# --- breadth-first search ------------------------------------------------------------------


def bfs_distances(passable: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Moves from the nearest source to every cell through passable cells; -1 if unreachable.

    ``passable`` and ``sources`` are boolean ``(..., n, n)``; leading axes are a batch, all
    searched at once by expanding boolean frontiers with array shifts. Returns int32.
    """
    passable = np.asarray(passable, dtype=bool)
    frontier = np.asarray(sources, dtype=bool) & passable
    visited = frontier.copy()
    dist = np.where(frontier, 0, -1).astype(np.int32)
    d = 0
    while frontier.any():
        d += 1
        grown = np.zeros_like(frontier)
        grown[..., 1:, :] |= frontier[..., :-1, :]
        grown[..., :-1, :] |= frontier[..., 1:, :]
        grown[..., :, 1:] |= frontier[..., :, :-1]
        grown[..., :, :-1] |= frontier[..., :, 1:]
        frontier = grown & passable & ~visited
        visited |= frontier
        dist[frontier] = d
    return dist


def _at(values: np.ndarray, mask: np.ndarray, default: int = -1) -> np.ndarray:
    """``values`` at the (single) True cell of ``mask`` per grid of the batch."""
    return np.where(mask, values, default).max(axis=(-2, -1))


def shortest_path_length(question: np.ndarray) -> int | None:
    """Moves on a shortest path from S to G, or None when G cannot be reached."""
    q = np.asarray(question)
    d = int(_at(bfs_distances(q != WALL, q == START), q == GOAL))
    return d if d >= 0 else None


def given_mask(question: np.ndarray) -> np.ndarray:
    """The cells an answer must keep: walls, S and G (only open cells may become path)."""
    return np.asarray(question) != OPEN


def has_solution(question: np.ndarray) -> bool:
    """Whether G can be reached from S at all (breadth-first search)."""
    return shortest_path_length(question) is not None


def solve_batch(questions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Answer every question of a batch ``(B, n, n)`` (tie-break in the module docstring).

    Returns ``(answers, lengths)``; where G is unreachable the length is -1 and the answer is
    the question unchanged.
    """
    q = np.where(np.asarray(questions) == PATH, OPEN, questions).astype(np.uint8)
    b, n, _ = q.shape
    to_goal = bfs_distances(q != WALL, q == GOAL).reshape(b, n * n)
    flat_q = q.reshape(b, n * n)
    lengths = _at(to_goal.reshape(b, n, n), q == START)
    answers = flat_q.copy()
    rows = np.arange(b)
    pos = np.argmax(flat_q == START, axis=1)
    left = np.where(lengths > 0, lengths, 0)  # moves still to make
    while (left > 1).any():
        walking = left > 1
        r, c = pos // n, pos % n
        nxt = np.full(b, -1)
        for ok, step in ((r > 0, -n), (c > 0, -1), (c < n - 1, 1), (r < n - 1, n)):
            cand = np.where(ok, pos + step, pos)
            closer = ok & (to_goal[rows, cand] == left - 1) & (nxt < 0)
            nxt = np.where(closer, cand, nxt)
        pos = np.where(walking, nxt, pos)
        answers[rows[walking], pos[walking]] = PATH
        left = np.where(walking, left - 1, left)
    return answers.reshape(b, n, n), lengths


def solve(question: np.ndarray) -> np.ndarray | None:
    """The answer grid marking one shortest path (module tie-break), or None if unsolvable."""
    answers, lengths = solve_batch(np.asarray(question)[None])
    return answers[0] if lengths[0] >= 0 else None


# --- checking ------------------------------------------------------------------------------


def check_answer(question: np.ndarray, answer: np.ndarray) -> str | None:
    """Why ``answer`` is not a shortest-path answer to ``question``; None when it is one.

    The answer must equal the question except on ``o`` cells, which must be open in the
    question; the ``o`` cells with S and G must connect S to G, and their count + 1 must equal
    the shortest length. (Together these make them exactly one shortest path.)
    """
    q, a = np.asarray(question), np.asarray(answer)
    if q.shape != a.shape:
        return f"answer has shape {a.shape} but question has shape {q.shape}"
    problem = _endpoint_problem(q)
    if problem:
        return "question: " + problem
    if a.size and int(a.max()) > PATH:
        return f"answer has value {int(a.max())}, expected 0..{PATH}"
    n = q.shape[-1]
    q = np.where(q == PATH, OPEN, q)
    path = a == PATH
    through = np.flatnonzero((path & (q != OPEN)).reshape(-1))
    if len(through):
        i = int(through[0])
        what = "a wall" if q.flat[i] == WALL else repr(CHARSET[q.flat[i]])
        return f"answer path goes through {what} at {_cell(i, n)}"
    changed = np.flatnonzero((~path & (a != q)).reshape(-1))
    if len(changed):
        i = int(changed[0])
        was, now = CHARSET[q.flat[i]], CHARSET[a.flat[i]]
        return f"answer changes {_cell(i, n)} from {was!r} to {now!r}"
    shortest = shortest_path_length(q)
    if shortest is None:
        return "G cannot be reached from S"
    on_path = path | (a == START) | (a == GOAL)
    if _at(bfs_distances(on_path, a == START), a == GOAL) < 0:
        return "answer path does not connect S to G"
    length = int(path.sum()) + 1
    if length != shortest:
        return f"answer path has length {length} but the shortest is {shortest}"
    return None


def verify(question: np.ndarray, answer: np.ndarray) -> bool:
    """True when ``answer`` marks a shortest S-to-G path of ``question`` (any shortest path)."""
    return check_answer(question, answer) is None


def verify_batch(questions: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """``verify`` for a batch ``(B, n, n)`` of questions and answers, as a bool array ``(B,)``."""
    q, a = np.asarray(questions), np.asarray(answers)
    if q.shape != a.shape:
        raise PuzzleError(f"answers have shape {a.shape} but questions have shape {q.shape}")
    axes = (-2, -1)
    ok = ((q == START).sum(axes) == 1) & ((q == GOAL).sum(axes) == 1) & (a <= PATH).all(axes)
    q = np.where(q == PATH, OPEN, q)
    path = a == PATH
    ok &= ~(path & (q != OPEN)).any(axes) & ~(~path & (a != q)).any(axes)
    shortest = _at(bfs_distances(q != WALL, q == START), q == GOAL)
    on_path = path | (a == START) | (a == GOAL)
    connected = _at(bfs_distances(on_path, a == START), a == GOAL) >= 0
    return ok & (shortest >= 0) & connected & (path.sum(axes) + 1 == shortest)


# --- search (trm.inference.search) ---------------------------------------------------------


def branches(grid: np.ndarray, token_probs: np.ndarray, rule: str, k: int) -> list[tuple]:
    """What a search node of ``grid`` (the question with walls added) branches into:
    ``(cell, WALL, p)`` for the ``k`` open cells whose place on the path the network is least
    sure of (probability nearest 1/2), ``p`` its probability that the cell is off the path.
    ``token_probs`` (n*n, VOCAB_SIZE) of the node's last step; ``rule`` has one reading here."""
    on_path = np.asarray(token_probs)[:, PATH + 1]  # token = index + 1
    open_ = np.flatnonzero(np.asarray(grid).reshape(-1) == OPEN)
    unsure = np.minimum(on_path, 1 - on_path)[open_]
    cells = open_[np.argsort(-unsure, kind="stable")[:k]]
    return [(int(c), WALL, float(1 - on_path[c])) for c in cells]


def dead_end(grid: np.ndarray, question: np.ndarray) -> bool:
    """Whether the walls committed in ``grid`` leave no shortest path of ``question`` (the
    same view): G unreachable, or only by a longer path."""
    length = shortest_path_length(grid)
    return length is None or length != shortest_path_length(question)


def answer_of(question: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """A search node's answer as an answer to ``question``: its path cells on the question (the
    walls the node added are open cells again)."""
    q = np.asarray(question)
    return np.where((q == OPEN) & (np.asarray(answer) == PATH), PATH, q).astype(np.uint8)


# --- symmetries ----------------------------------------------------------------------------


def symmetries() -> list[Symmetry]:
    """The 8 dihedral transforms (SPEC §3.4 numbering); each maps shortest paths to shortest."""
    return list(SYMMETRIES)


def view_symmetries(views: int, seed: int = 0) -> list[Symmetry]:
    """The first ``views`` dihedral transforms, the identity first (a maze has 8 views)."""
    if views > len(SYMMETRIES):
        raise PuzzleError(f"--views {views}: a maze has only {len(SYMMETRIES)} symmetric views")
    return list(SYMMETRIES[:views])


def random_symmetry(rng: np.random.Generator) -> Symmetry:
    """One of the 8 dihedral transforms, uniformly."""
    return SYMMETRIES[int(rng.integers(len(SYMMETRIES)))]


def difficulty(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Tokens (N, L) -> (N,) difficulty for curricula: the length of the shortest path."""
    return (np.asarray(labels) == PATH + 1).sum(axis=-1)
