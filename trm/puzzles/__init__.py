"""Puzzle kinds, independent of any network: parse, render, encode, decode, verify, symmetries.

``KINDS`` is the only place that knows which kinds exist; each is a module that follows the
``PuzzleKind`` protocol of ``trm.puzzles.base`` (vocabulary, sequence length, codecs, rules).
"""

from __future__ import annotations

import numpy as np

from trm.errors import TrmError
from trm.puzzles import arc, maze, sudoku
from trm.puzzles.base import PAD, PuzzleError, PuzzleKind, Symmetry

KINDS: dict[str, PuzzleKind] = {"sudoku": sudoku, "maze": maze, "arc": arc}


def kind_of_vocab(vocab_size: int) -> str:
    """The kind whose vocabulary has ``vocab_size`` tokens ("" when none has)."""
    return next((name for name, k in KINDS.items() if k.VOCAB_SIZE == vocab_size), "")


def verified_tokens(kind: str, inputs: np.ndarray, answers: np.ndarray) -> np.ndarray | None:
    """Which answers pass ``kind``'s rules, on tokens: questions and answers ``(b, L)`` ->
    ``(b,)`` bool (an answer with a token outside the kind's cells fails). None for a kind
    without rules (ARC) or no known kind."""
    module = KINDS.get(kind)
    if module is None or not module.HAS_RULES:
        return None
    questions, _ = module.decode_answers(np.asarray(inputs))
    grids, ok = module.decode_answers(np.asarray(answers))
    return module.verify_batch(questions, grids) & ok


def check_shape(kind: str, seq_len: int, vocab_size: int, where: str) -> None:
    """Raise a one-line error when a model of this shape cannot read ``kind`` puzzles."""
    k = KINDS[kind]
    if seq_len != k.SEQ_LEN or vocab_size != k.VOCAB_SIZE:
        raise TrmError(
            f"{where}: model takes {seq_len} tokens over a vocabulary of {vocab_size}, not "
            f"{kind} puzzles ({k.SEQ_LEN} tokens, {k.VOCAB_SIZE})"
        )


__all__ = [
    "KINDS",
    "PAD",
    "PuzzleError",
    "PuzzleKind",
    "Symmetry",
    "arc",
    "check_shape",
    "kind_of_vocab",
    "maze",
    "sudoku",
    "verified_tokens",
]
