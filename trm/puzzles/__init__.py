"""Puzzle kinds, independent of any network: parse, render, encode, decode, verify, symmetries."""

from trm.puzzles import arc, maze, sudoku
from trm.puzzles.base import PAD, PuzzleError, Symmetry

KINDS = {"sudoku": sudoku, "maze": maze, "arc": arc}

__all__ = ["KINDS", "PAD", "PuzzleError", "Symmetry", "arc", "maze", "sudoku"]
