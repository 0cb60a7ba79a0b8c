"""Sudoku: parsing, rendering, token codec, verifier, solver, rating and symmetries.

A grid is a (9, 9) integer array of digits 0..9, 0 = blank. Tokens (SPEC §2.4): PAD = 0,
blank = 1, digit d = d + 1. The solver (``count_solutions``, ``solve``, ``rate``,
``random_solution``) lives in ``trm.puzzles.sudoku_solver`` and is re-exported here.
"""

from __future__ import annotations

import numpy as np

from trm.puzzles.base import PuzzleError, Symmetry, numbered_lines, parse_each, square_grid
from trm.puzzles.sudoku_solver import (  # noqa: F401 (re-exported)
    count_solutions,
    random_solution,
    rate,
    solve,
)

NAME = "sudoku"
HAS_RULES = True  # verify() checks an answer by the rules (ARC: no rules, None)
VOCAB_SIZE = 11
SEQ_LEN = 81
ABOUT = (  # `trm solve sudoku --help`
    "Solve 9x9 Sudoku: 81 cells, '.' or '0' for blanks (spaces, '|', '-', '+' ignored). "
    "Answers are checked by the rules; an unsolvable puzzle is reported as such."
)
FILE_FORMAT = "one puzzle per line"
ONE_GRID = True  # a puzzle is one grid (ARC: a task of several)
CHARSET = ".123456789"  # a cell's character by digit (0 = blank)
# `--search` (trm.inference.search) may commit a blank cell to a digit the network proposes, by
# writing it into the question as a given (``branches``, ``dead_end``, ``answer_of``).
CAN_SEARCH = True
SEARCH_DEFAULTS: dict = {}  # trm.inference.search.Search's own defaults suit Sudoku

_SEPARATORS = set(" \t\r\n|-+")


def _units() -> tuple[tuple[int, ...], ...]:
    rows = [tuple(9 * r + c for c in range(9)) for r in range(9)]
    cols = [tuple(9 * r + c for r in range(9)) for c in range(9)]
    boxes = [
        tuple(9 * (3 * (b // 3) + i) + 3 * (b % 3) + j for i in range(3) for j in range(3))
        for b in range(9)
    ]
    return tuple(rows + cols + boxes)


_UNITS = _units()
# (27, 9) flat cell indices of rows, columns and boxes, for the batched checks
_UNIT_INDEX = np.array(_UNITS, dtype=np.intp)
_UNIT_NAMES = [f"row {k + 1}" for k in range(9)] + [f"column {k + 1}" for k in range(9)]
_UNIT_NAMES += [f"box {k + 1}" for k in range(9)]


# --- text ---------------------------------------------------------------------------------


def parse(text: str) -> np.ndarray:
    """Read a Sudoku from text: 81 cells, ``.`` or ``0`` for blanks, digits 1-9.

    Whitespace, line breaks, ``|``, ``-`` and ``+`` are separators and ignored. Raises
    ``PuzzleError`` for a bad character (with its cell position), a wrong number of cells or
    contradictory givens.
    """
    cells: list[int] = []
    for ch in text:
        if ch in _SEPARATORS:
            continue
        if ch == ".":
            cells.append(0)
        elif "0" <= ch <= "9":
            cells.append(int(ch))
        else:
            n = len(cells)
            raise PuzzleError(
                f"bad character {ch!r} at cell {n + 1} (row {n // 9 + 1}, column {n % 9 + 1})"
            )
    if len(cells) != 81:
        raise PuzzleError(f"sudoku has {len(cells)} cells, expected 81")
    grid = np.array(cells, dtype=np.uint8).reshape(9, 9)
    conflict = first_conflict(grid)
    if conflict:
        raise PuzzleError(f"contradictory givens: {conflict}")
    return grid


def read(text: str, source: str) -> list[tuple[str, np.ndarray]]:
    """One puzzle per non-blank line of a file's text, each with its position ``source:N``."""
    return parse_each(parse, numbered_lines(text, source))


def check_grid(grid: object, where: str) -> np.ndarray:
    """A 9x9 array of digits 0..9 (0 = blank) checked as ``parse`` checks text."""
    g = square_grid(grid, 10, where, side=9)
    conflict = first_conflict(g)
    if conflict:
        raise PuzzleError(f"{where}: contradictory givens: {conflict}")
    return g


def render(grid: np.ndarray) -> str:
    """A readable 9x9 grid with box separators, ``.`` for blanks."""
    g = np.asarray(grid).reshape(9, 9)
    lines = []
    for r in range(9):
        if r in (3, 6):
            lines.append("------+-------+------")
        cells = ["." if v == 0 else str(int(v)) for v in g[r]]
        lines.append(" | ".join(" ".join(cells[3 * k : 3 * k + 3]) for k in range(3)))
    return "\n".join(lines)


def to_line(grid: np.ndarray) -> str:
    """The 81-character row-major form, ``.`` for blanks (the CSV ``question`` format)."""
    return "".join("." if v == 0 else str(int(v)) for v in np.asarray(grid).reshape(81))


# --- tokens -------------------------------------------------------------------------------


def encode(grid: np.ndarray) -> np.ndarray:
    """Grid(s) (..., 9, 9) of digits 0..9 -> tokens (..., 81) uint8 (digit + 1)."""
    g = np.asarray(grid)
    return (g.reshape(*g.shape[:-2], 81) + 1).astype(np.uint8)


def decode(tokens: np.ndarray) -> np.ndarray:
    """Tokens (..., 81) -> grid(s) (..., 9, 9); PAD (0) and blank (1) both give digit 0."""
    t = np.asarray(tokens).astype(np.int16)
    return np.clip(t - 1, 0, 9).astype(np.uint8).reshape(*t.shape[:-1], 9, 9)


def decode_answers(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model output tokens (N, 81) -> grids (N, 9, 9) and a mask of rows that are all digits."""
    t = np.asarray(tokens)
    return decode(t), ((t >= 2) & (t <= 10)).all(-1)


# --- rules --------------------------------------------------------------------------------


def first_conflict(grid: np.ndarray) -> str | None:
    """The first repeated digit in a row, column or box, e.g. ``digit 5 appears twice in row 3``."""
    flat = np.asarray(grid).reshape(81)
    for k, unit in enumerate(_UNITS):
        seen = set()
        for i in unit:
            v = int(flat[i])
            if v and v in seen:
                return f"digit {v} appears twice in {_UNIT_NAMES[k]}"
            seen.add(v)
    return None


def _units_ok_batch(grids: np.ndarray) -> np.ndarray:
    """(N, 9, 9) -> (N,) bool: every cell 1..9 and every unit a permutation of 1..9."""
    flat = np.asarray(grids).reshape(-1, 81).astype(np.int64)
    in_range = ((flat >= 1) & (flat <= 9)).all(axis=1)
    bits = np.left_shift(1, np.clip(flat, 0, 9))[:, _UNIT_INDEX]  # (N, 27, 9)
    return in_range & (np.bitwise_or.reduce(bits, axis=2) == 0x3FE).all(axis=1)


def verify_batch(questions: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """(N, 9, 9) questions and answers -> (N,) bool: each answer solves its question."""
    q = np.asarray(questions).reshape(-1, 81)
    a = np.asarray(answers).reshape(-1, 81)
    return _units_ok_batch(a) & ((q == 0) | (q == a)).all(axis=1)


def is_valid_solution_batch(answers: np.ndarray) -> np.ndarray:
    """(N, 9, 9) -> (N,) bool: complete grids whose rows, columns and boxes hold 1..9."""
    return _units_ok_batch(answers)


def verify(question: np.ndarray, answer: np.ndarray) -> bool:
    """True if ``answer`` is complete, keeps every given of ``question`` and obeys the rules."""
    return bool(verify_batch(np.asarray(question)[None], np.asarray(answer)[None])[0])


def given_mask(question: np.ndarray) -> np.ndarray:
    """The cells an answer must keep: the given digits."""
    return np.asarray(question) > 0


def has_solution(question: np.ndarray) -> bool:
    """Whether the puzzle has any solution at all (the exact solver)."""
    return count_solutions(np.asarray(question), 1) > 0


def open_cells(grid: np.ndarray) -> np.ndarray:
    """(9, 9) -> (81,) bool: the blank cells, which a search may commit to a digit."""
    return np.asarray(grid).reshape(81) == 0


def value_probs(token_probs: np.ndarray) -> np.ndarray:
    """The network's per-cell token probabilities (..., 81, VOCAB_SIZE) -> (..., 81, 10): the
    probability of digit d in column d (column 0: blank or PAD, never committed)."""
    p = np.asarray(token_probs)
    out = p[..., 1:].copy()  # token d + 1 is digit d
    out[..., 0] += p[..., 0]
    return out


def pick_cell(probs: np.ndarray, open_: np.ndarray, rule: str) -> int:
    """The open cell to branch on: ``probs`` (cells, 10) by digit (``value_probs``), ``open_``
    the blank cells; ``least``: the cell whose top digit is least probable, ``two-way``: the one
    whose second digit is most probable."""
    top = -np.sort(-probs[:, 1:], axis=1)  # (cells, 9) each cell's digit probabilities, high first
    score = -top[:, 0] if rule == "least" else top[:, 1]
    return int(np.flatnonzero(open_)[np.argmax(score[open_])])


def branches(grid: np.ndarray, token_probs: np.ndarray, rule: str, k: int) -> list[tuple]:
    """What a search node of ``grid`` (the question with committed cells) branches into:
    ``(cell, digit, p)`` for the ``k`` digits the network ranks highest in the open cell
    ``pick_cell`` chooses (``token_probs`` (81, VOCAB_SIZE) of its last step), best first."""
    open_ = open_cells(grid)
    if not open_.any():
        return []
    probs = value_probs(token_probs)
    cell = pick_cell(probs, open_, rule)
    order = np.argsort(-probs[cell, 1:], kind="stable")[:k] + 1
    return [(cell, int(d), float(probs[cell, d])) for d in order]


def dead_end(grid: np.ndarray, question: np.ndarray) -> bool:
    """Whether the committed digits of ``grid`` break the rules among its givens (a digit twice
    in a row, column or box); ``question`` is not needed for Sudoku."""
    return first_conflict(grid) is not None


def answer_of(question: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """A search node's answer as an answer to ``question``: the question's givens put back."""
    return np.where(given_mask(question), question, answer)


def is_valid_solution(answer: np.ndarray) -> bool:
    """True if ``answer`` is a complete grid whose rows, columns and boxes hold 1..9."""
    return bool(_units_ok_batch(np.asarray(answer)[None])[0])


# --- symmetries (SPEC §3.1) ---------------------------------------------------------------


def _line_perms(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 9) row (or column) orders: permuted bands, each with its three rows permuted."""
    bands = np.argsort(rng.random((n, 3)), axis=1)  # (n, 3)
    inner = np.argsort(rng.random((n, 3, 3)), axis=2)  # (n, 3, 3)
    return (3 * bands[:, :, None] + inner).reshape(n, 9)


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """n random transforms: transpose flags (n,), row/column orders (n, 9), digit maps (n, 10)."""
    transpose = rng.random(n) < 0.5
    rows = _line_perms(rng, n)
    cols = _line_perms(rng, n)
    digits = np.zeros((n, 10), dtype=np.uint8)
    digits[:, 1:] = np.argsort(rng.random((n, 9)), axis=1) + 1
    return transpose, rows, cols, digits


def _sources(transpose: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, 81) flat source cell of every new cell: new (i, j) = old (rows[i], cols[j]) after
    the optional transpose, i.e. old (cols[j], rows[i]) when transposed."""
    straight = rows[:, :, None] * 9 + cols[:, None, :]
    flipped = cols[:, None, :] * 9 + rows[:, :, None]
    return np.where(transpose[:, None, None], flipped, straight).reshape(-1, 81)


def random_symmetry(rng: np.random.Generator) -> Symmetry:
    """A random validity-preserving transform: digit relabelling (0 kept), transpose with
    probability 1/2, band/row and stack/column permutations. Acts on (..., 9, 9) arrays."""
    transpose, rows, cols, digits = _draw(rng, 1)
    src = _sources(transpose, rows, cols)[0]
    back = np.argsort(src)
    dmap, dinv = digits[0], np.argsort(digits[0]).astype(np.uint8)

    def forward(g: np.ndarray) -> np.ndarray:
        g = np.asarray(g)
        flat = g.reshape(*g.shape[:-2], 81)[..., src]
        return dmap[flat].astype(g.dtype).reshape(g.shape)

    def inverse(g: np.ndarray) -> np.ndarray:
        g = np.asarray(g)
        flat = g.reshape(*g.shape[:-2], 81)[..., back]
        return dinv[flat].astype(g.dtype).reshape(g.shape)

    name = f"t{int(transpose[0])}-r{''.join(map(str, rows[0]))}-c{''.join(map(str, cols[0]))}"
    return Symmetry(f"{name}-d{''.join(map(str, dmap[1:]))}", forward, inverse)


def view_symmetries(views: int, seed: int = 0) -> list[Symmetry]:
    """``views`` test-time views: the identity, then seeded random validity-preserving shuffles."""
    rng = np.random.default_rng(seed)
    ident = Symmetry("identity", lambda g: g, lambda g: g)
    return [ident] + [random_symmetry(rng) for _ in range(views - 1)]


def augment_batch(
    questions: np.ndarray, answers: np.ndarray, rng: np.random.Generator, copies: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each of N puzzles followed by ``copies`` random shuffles of it, all at once.

    ``questions``, ``answers``: (N, 9, 9). Returns two (N, copies + 1, 9, 9) uint8 arrays;
    index 0 along axis 1 is the original, the same transform is applied to question and answer.
    """
    q = np.asarray(questions, dtype=np.uint8).reshape(-1, 81)
    a = np.asarray(answers, dtype=np.uint8).reshape(-1, 81)
    n = len(q)
    out_q = np.empty((n, copies + 1, 81), np.uint8)
    out_a = np.empty((n, copies + 1, 81), np.uint8)
    out_q[:, 0], out_a[:, 0] = q, a
    if copies:
        transpose, rows, cols, digits = _draw(rng, n * copies)
        src = _sources(transpose, rows, cols).reshape(n, copies, 81)
        digits = digits.reshape(n, copies, 10)
        item = np.arange(n)[:, None, None]
        copy = np.arange(copies)[None, :, None]
        out_q[:, 1:] = digits[item, copy, q[item, src]]
        out_a[:, 1:] = digits[item, copy, a[item, src]]
    return out_q.reshape(n, copies + 1, 9, 9), out_a.reshape(n, copies + 1, 9, 9)


def add_givens(
    questions: np.ndarray, answers: np.ndarray, targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Questions with clues copied back from their answers until puzzle i has ``targets[i]``
    givens (a puzzle that already has as many keeps its own). (N, 9, 9) uint8 in and out.

    The cells are taken in one random order per puzzle, so for one ``rng`` state a larger target
    adds a superset of the cells a smaller one adds (nested rungs of a difficulty ladder).
    """
    q = np.asarray(questions).reshape(-1, 81)
    a = np.asarray(answers).reshape(-1, 81)
    keys = rng.random(q.shape)
    keys[q != 0] = -1.0  # givens first: they count towards the target
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)  # 0 = first cell taken
    take = rank < np.asarray(targets).reshape(-1, 1)
    return np.where(take, a, q).astype(np.uint8).reshape(-1, 9, 9)


def solution_invariant(answers: np.ndarray) -> np.ndarray:
    """(N, 9, 9) complete grids -> (N,) keys equal for grids equal up to Sudoku symmetry.

    For every pair of rows the map "digit in the upper row -> digit below it" is a permutation
    of 1..9; its cycle type does not change under digit relabelling or column moves, and row
    moves only reorder the pairs. The sorted cycle types of all row pairs (marked same-band or
    not), and likewise of column pairs, sorted together for the transpose, form the key. It is an
    invariant, not a canonical form: unrelated grids may rarely share a key (which only merges
    them on one side of a split), but equivalent grids always do.
    """
    g = np.asarray(answers).reshape(-1, 9, 9).astype(np.intp)
    n = len(g)
    r1, r2 = np.triu_indices(9, 1)  # the 36 pairs
    same_band = (r1 // 3 == r2 // 3).astype(np.int64)
    sides = []
    for lines in (g, g.transpose(0, 2, 1)):
        perm = np.zeros((n, 36, 10), np.intp)
        idx = np.arange(n)[:, None, None], np.arange(36)[None, :, None]
        perm[idx[0], idx[1], lines[:, r1]] = lines[:, r2]  # (N, 36, 10)
        x = np.broadcast_to(np.arange(1, 10), (n, 36, 9)).copy()
        start, length = x.copy(), np.zeros_like(x)
        for k in range(1, 10):
            x = np.take_along_axis(perm, x, axis=2)
            length = np.where((length == 0) & (x == start), k, length)
        hist = np.stack([(length == k).sum(axis=2) for k in range(1, 10)], axis=2)  # (N, 36, 9)
        code = (hist * 10 ** np.arange(9)).sum(axis=2) * 2 + same_band
        sides.append(np.sort(code, axis=1))
    a, b = sides
    swap = np.array([tuple(x) > tuple(y) for x, y in zip(a, b)])
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    keys = np.concatenate([lo, hi], axis=1)
    return np.array([k.tobytes() for k in keys], dtype=object)


def difficulty(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Tokens (N, 81) -> (N,) difficulty for curricula: the number of blank cells."""
    return (np.asarray(inputs) == encode(np.zeros((9, 9), np.uint8))[0]).sum(axis=-1)


def singles_rounds(grid: np.ndarray) -> int | None:
    """Rounds of naked and hidden singles (every single of a round placed at once) that solve
    ``grid`` (9, 9), or None when singles alone get stuck (the puzzle needs more reasoning)."""
    g = np.asarray(grid, np.int64).reshape(81).copy()
    units = _UNIT_INDEX  # (27, 9) cell indices
    cell_units = [np.flatnonzero((units == k).any(axis=1)) for k in range(81)]
    rounds = 0
    while (g == 0).any():
        seen = np.zeros((27, 10), bool)
        np.put_along_axis(seen, g[units], True, axis=1)
        cand = np.ones((81, 10), bool)
        cand[:, 0] = False
        for k in range(81):
            cand[k] &= ~seen[cell_units[k]].any(axis=0) if g[k] == 0 else False
        place = np.zeros(81, np.int64)
        naked = cand.sum(axis=1) == 1
        place[naked] = cand[naked].argmax(axis=1)
        in_unit = cand[units]  # (27, 9, 10): unit, position, digit
        only = in_unit.sum(axis=1) == 1  # (27, 10): digit d has one spot in the unit
        for u, d in zip(*np.nonzero(only)):
            place[units[u, in_unit[u, :, d].argmax()]] = d
        if not place.any():
            return None
        g = np.where(place > 0, place, g)
        rounds += 1
    return rounds
