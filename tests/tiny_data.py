"""Tiny datasets the tests build themselves (no builders, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_builders.format import Split, write_dataset
from trm.model import ModelConfig


def reverse_task(
    out: Path,
    n_train: int = 256,
    n_test: int = 64,
    length: int = 6,
    seed: int = 0,
    num_aug: int = 0,
) -> Path:
    """Sequences of digit tokens (2..10) whose answer is the sequence reversed (vocab 11)."""
    rng = np.random.default_rng(seed)

    def split(n: int, groups_of: int) -> Split:
        x = rng.integers(2, 11, size=(n, length)).astype(np.uint8)
        return Split.one_example_per_puzzle(x, x[:, ::-1], groups_of)

    return write_dataset(
        out, {"train": split(n_train, 1 + num_aug), "test": split(n_test, 1)}, vocab_size=11
    )


def multi_example_task(
    out: Path, n_puzzles: int = 12, examples: int = 3, length: int = 5, seed: int = 0
) -> Path:
    """ARC-like puzzles: several examples, own identifiers; answer = input + the puzzle's shift."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_puzzles + 1)
    shifts = rng.integers(1, 8, n_puzzles)
    x = rng.integers(2, 11, size=(n_puzzles * examples, length))
    y = (x - 2 + np.repeat(shifts, examples)[:, None]) % 9 + 2
    split = Split(
        x.astype(np.uint8),
        y.astype(np.uint8),
        ids,
        np.arange(0, n_puzzles * examples + 1, examples),
        np.arange(0, n_puzzles + 1, 2),
    )
    names = ["<blank>"] + [f"p{i}" for i in ids]
    test = Split(
        x[::examples].astype(np.uint8),
        y[::examples].astype(np.uint8),
        ids,
        np.arange(n_puzzles + 1),
        np.arange(n_puzzles + 1),
    )
    return write_dataset(out, {"train": split, "test": test}, vocab_size=11, identifiers=names)


def shift_task(
    out: Path, n_train: int = 512, n_test: int = 128, length: int = 8, seed: int = 0
) -> Path:
    """Digits whose answer maps d to d + 1 (mod 9): learnable in a few hundred steps."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        x = rng.integers(2, 11, size=(n, length)).astype(np.uint8)
        return Split.one_example_per_puzzle(x, ((x - 2 + 1) % 9 + 2).astype(np.uint8), 1)

    return write_dataset(out, {"train": split(n_train), "test": split(n_test)}, vocab_size=11)


def tiny_config(**overrides) -> ModelConfig:
    """A tiny model config for fast tests (dim 32, 1 recursion of 1 latent step, Sudoku shape)."""
    base = dict(
        dim=32,
        num_heads=2,
        expansion=2,
        recursions=1,
        latent_steps=1,
        puzzle_emb_dim=0,
        puzzle_emb_len=1,
        vocab_size=11,
        seq_len=81,
        max_supervision_steps=4,
    )
    return ModelConfig(**{**base, **overrides})
