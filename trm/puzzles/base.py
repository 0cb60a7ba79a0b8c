"""What every puzzle kind provides, and the dihedral group shared by Maze and ARC.

A *grid* is a 2-D numpy integer array in the puzzle's natural values (Sudoku: digits 0..9 with
0 = blank; Maze: indices into ``"# SGo"``; ARC: colours 0..9). *Tokens* are the model's ids
(PAD = 0 everywhere), see SPEC §2.4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from trm.errors import TrmError

PAD = 0  # the padding token id of every puzzle kind


class PuzzleError(TrmError):
    """A puzzle that cannot be read or is not valid; the message names the problem and where."""


Grid = np.ndarray
GridMap = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Symmetry:
    """One element of a puzzle's augmentation group: ``inverse(forward(g)) == g``.

    ``forward`` and ``inverse`` act on grids (and, for batched use, on arrays whose last two
    axes are the grid). ``name`` describes the element (for logs and identifiers).
    """

    name: str
    forward: GridMap
    inverse: GridMap


class PuzzleKind(Protocol):
    """The interface of ``trm.puzzles.sudoku``, ``.maze`` and ``.arc`` (plain modules).

    Everything a caller needs to know about a kind is here: nothing outside ``trm.puzzles``
    branches on a kind's name to find its constants.
    """

    NAME: str
    HAS_RULES: bool  # verify() and verify_batch() check answers (ARC: None)
    CAN_SEARCH: bool  # trm.inference.search can branch on its cells (Sudoku, Maze)
    SEARCH_DEFAULTS: dict  # the kind's defaults of trm.inference.search.Search
    VOCAB_SIZE: int  # token ids 0..VOCAB_SIZE-1, PAD = 0
    SEQ_LEN: int  # tokens per question of the shipped recipes
    ABOUT: str  # what the kind's puzzles are and how answers are checked (`trm solve` help)
    FILE_FORMAT: str  # how a puzzle file holds several puzzles (``read``)
    ONE_GRID: bool  # a puzzle is one grid (Sudoku, Maze); ARC: a task of several grids

    def parse(self, text: str) -> Grid | object: ...  # ARC: a Task
    # Every puzzle in a file's text, parsed, each with its position ("file:line"); errors name it
    def read(self, text: str, source: str) -> list[tuple[str, Grid | object]]: ...
    # A puzzle given in memory (a grid; ARC: a Task) checked as parse checks text
    def check_grid(self, grid: object, where: str) -> Grid | object: ...
    def render(self, grid: Grid) -> str: ...
    def to_line(self, grid: Grid) -> str: ...  # one line of text (CSV / JSON lines)
    def encode(self, grid: Grid) -> np.ndarray: ...
    def decode(self, tokens: np.ndarray) -> Grid: ...
    def decode_answers(self, tokens: np.ndarray) -> tuple[object, np.ndarray]: ...
    def verify(self, question: Grid, answer: Grid) -> bool | None: ...
    def verify_batch(self, questions: np.ndarray, answers: np.ndarray) -> np.ndarray | None: ...
    def given_mask(self, question: Grid) -> np.ndarray: ...  # cells an answer keeps
    def has_solution(self, question: Grid) -> bool | None: ...  # ARC: None
    def view_symmetries(self, views: int, seed: int = 0) -> list[Symmetry]: ...
    def random_symmetry(self, rng: np.random.Generator) -> Symmetry: ...
    def difficulty(self, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray: ...  # (N,)
    # CAN_SEARCH kinds: (cell, value, p) children of a search node, best first; whether committed
    # cells leave the question no answer; a node's answer put back on the question
    def branches(self, grid: Grid, token_probs: np.ndarray, rule: str, k: int) -> list: ...
    def dead_end(self, grid: Grid, question: Grid) -> bool: ...
    def answer_of(self, question: Grid, answer: Grid) -> Grid: ...


def square_grid(grid: object, values: int, where: str, side: int | None = None) -> np.ndarray:
    """``grid`` as a (side, side) uint8 array of integers in ``0..values-1``, else
    ``PuzzleError`` (``where``: its position). Floats are refused, never truncated."""
    a = np.asarray(grid) if not isinstance(grid, str) else np.asarray(None)
    if a.dtype.kind not in "iu" or a.ndim != 2 or a.shape[0] != a.shape[1] or a.size == 0:
        shape = "x".join(map(str, a.shape)) or "a scalar"
        raise PuzzleError(
            f"{where}: expected a square grid of integers, got {shape} of {a.dtype} "
            "(pass text, or a 2-D integer array)"
        )
    if side is not None and a.shape[0] != side:
        raise PuzzleError(f"{where}: grid is {a.shape[0]}x{a.shape[1]}, expected {side}x{side}")
    bad = np.argwhere((a < 0) | (a >= values))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        value = int(a[r, c])
        raise PuzzleError(
            f"{where}: value {value} at row {r + 1}, column {c + 1} (expected 0..{values - 1})"
        )
    return a.astype(np.uint8)


def numbered_lines(text: str, source: str) -> list[tuple[str, str]]:
    """The non-blank lines of ``text`` with their positions ``source:N`` (1-based)."""
    return [(f"{source}:{n + 1}", ln) for n, ln in enumerate(text.split("\n")) if ln.strip()]


def blocks(text: str, source: str) -> list[tuple[str, str]]:
    """Blocks of lines separated by empty lines, with the position of their first line (a line
    of spaces belongs to a block: it can be a row of open maze cells)."""
    out, start, cur = [], 0, []
    for n, line in enumerate(text.split("\n") + [""]):
        if line.removesuffix("\r"):
            if not cur:
                start = n
            cur.append(line)
        elif cur:
            out.append((f"{source}:{start + 1}", "\n".join(cur)))
            cur = []
    return out


def parse_each(parse: Callable[[str], object], items: list[tuple[str, str]]) -> list:
    """``(where, parse(text))`` for every item; a ``PuzzleError`` is prefixed with ``where``."""
    out = []
    for where, text in items:
        try:
            out.append((where, parse(text)))
        except PuzzleError as e:
            raise PuzzleError(f"{where}: {e}") from None
    return out


# --- the dihedral group of the square (SPEC §3.4), on the last two axes -------------------


def dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    """Apply dihedral transform ``t`` (0..7, numbering of SPEC §3.4) to the last two axes."""
    ax = (-2, -1)
    if t == 0:
        return grid
    if t == 1:
        return np.rot90(grid, 1, axes=ax)
    if t == 2:
        return np.rot90(grid, 2, axes=ax)
    if t == 3:
        return np.rot90(grid, 3, axes=ax)
    if t == 4:
        return np.flip(grid, axis=-1)
    if t == 5:
        return np.flip(grid, axis=-2)
    if t == 6:
        return np.swapaxes(grid, -1, -2)
    if t == 7:
        return np.flip(np.rot90(grid, 1, axes=ax), axis=-1)
    raise ValueError(f"dihedral id must be 0..7, got {t}")


DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def inverse_dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    """Undo ``dihedral(·, t)``."""
    return dihedral(grid, DIHEDRAL_INVERSE[t])


def dihedral_symmetry(t: int) -> Symmetry:
    """The dihedral transform ``t`` as a Symmetry."""
    return Symmetry(
        f"d{t}",
        lambda g: np.ascontiguousarray(dihedral(g, t)),
        lambda g: np.ascontiguousarray(inverse_dihedral(g, t)),
    )
