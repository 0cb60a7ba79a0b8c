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
    VOCAB_SIZE: int  # token ids 0..VOCAB_SIZE-1, PAD = 0
    SEQ_LEN: int  # tokens per question of the shipped recipes

    def parse(self, text: str) -> Grid | object: ...  # ARC: a Task
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
