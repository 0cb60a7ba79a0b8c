"""The on-disk dataset format (SPEC §2), written atomically.

Layout (compatible with the official builders)::

    <out>/identifiers.json             index = puzzle identifier, value = name ("<blank>" at 0)
    <out>/<split>/dataset.json         metadata (SPEC §2.3)
    <out>/<split>/all__<field>.npy     inputs, labels (uint8 [E, L]); puzzle_identifiers,
                                       puzzle_indices, group_indices (int32, CSR-style)
    <out>/<extra files>                e.g. test_puzzles.json (ARC)

Everything is written into a temporary directory beside ``out`` and renamed into place when
complete, so an interrupted build never leaves a half dataset nor damages an existing one. The
temporary's name carries the builder's pid (``.<out>.tmp-<pid>-XXXX``); the next build of the
same target removes those whose process is gone (``trm.safe_io.remove_stale_temps``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trm.safe_io import (
    check_writable_dir,
    default_mode,
    read_json,
    remove_stale_temps,
    temp_prefix,
)

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
SET_NAME = "all"


@dataclass
class Split:
    """One split: examples grouped into puzzles, puzzles grouped into groups (SPEC §2.2)."""

    inputs: np.ndarray  # (E, L) uint8 token ids
    labels: np.ndarray  # (E, L) uint8 token ids
    puzzle_identifiers: np.ndarray  # (N_p,) int32 embedding row of each puzzle
    puzzle_indices: np.ndarray  # (N_p + 1,) int32, examples of puzzle p: [pi[p], pi[p+1])
    group_indices: np.ndarray  # (N_g + 1,) int32, puzzles of group g: [gi[g], gi[g+1])

    def __post_init__(self) -> None:
        self.inputs = np.ascontiguousarray(self.inputs, dtype=np.uint8)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.uint8)
        for name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.int32))
        e = len(self.inputs)
        assert self.inputs.shape == self.labels.shape and self.inputs.ndim == 2
        assert self.puzzle_indices[0] == 0 and self.puzzle_indices[-1] == e
        assert len(self.puzzle_indices) == len(self.puzzle_identifiers) + 1
        assert self.group_indices[0] == 0 and self.group_indices[-1] == len(self.puzzle_identifiers)

    @classmethod
    def one_example_per_puzzle(
        cls, inputs: np.ndarray, labels: np.ndarray, group_sizes: np.ndarray | int
    ) -> Split:
        """A split where every puzzle is one example with identifier 0 (Sudoku, Maze).

        ``group_sizes`` gives the number of puzzles per group (an int for equal groups).
        """
        e = len(inputs)
        if np.isscalar(group_sizes):
            assert e % int(group_sizes) == 0
            group_sizes = np.full(e // int(group_sizes), int(group_sizes))
        group_indices = np.concatenate([[0], np.cumsum(group_sizes)])
        return cls(inputs, labels, np.zeros(e, np.int32), np.arange(e + 1), group_indices)

    @property
    def num_groups(self) -> int:
        return len(self.group_indices) - 1

    @property
    def num_puzzles(self) -> int:
        return len(self.puzzle_identifiers)


def split_metadata(split: Split, vocab_size: int, num_puzzle_identifiers: int) -> dict[str, Any]:
    """The ``dataset.json`` of one split (SPEC §2.3; ``total_puzzles`` is the real count)."""
    return {
        "pad_id": 0,
        "ignore_label_id": 0,
        "blank_identifier_id": 0,
        "vocab_size": int(vocab_size),
        "seq_len": int(split.inputs.shape[1]),
        "num_puzzle_identifiers": int(num_puzzle_identifiers),
        "total_groups": split.num_groups,
        "mean_puzzle_examples": len(split.inputs) / max(1, split.num_puzzles),
        "total_puzzles": split.num_puzzles,
        "sets": [SET_NAME],
    }


def write_dataset(
    out_dir: str | os.PathLike,
    splits: dict[str, Split],
    vocab_size: int,
    identifiers: list[str] | None = None,
    extra_json: dict[str, Any] | None = None,
) -> Path:
    """Write ``splits`` (e.g. {"train": ..., "test": ...}) to ``out_dir`` atomically.

    ``identifiers`` names each puzzle identifier (default ``["<blank>"]``); its length is
    ``num_puzzle_identifiers``. ``extra_json`` maps file names to JSON-serialisable objects
    written at the top level (``test_puzzles.json``, ``build_info.json``, ...). An existing
    ``out_dir`` is replaced only once the new dataset is complete.
    """
    out = Path(out_dir)
    check_writable_dir(out, "dataset directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, "tmp")  # left by a killed build of the same target
    if out.exists():
        remove_stale_temps(out, "old")  # superseded datasets of a build killed mid-swap
    identifiers = identifiers if identifiers is not None else ["<blank>"]
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out, "tmp"), dir=out.parent))
    try:
        os.chmod(tmp, default_mode("dir"))  # mkdtemp makes 0700; a dataset is shared like any dir
        for name, split in splits.items():
            d = tmp / name
            d.mkdir()
            for field in FIELDS:
                np.save(d / f"{SET_NAME}__{field}.npy", getattr(split, field))
            meta = split_metadata(split, vocab_size, len(identifiers))
            (d / "dataset.json").write_text(json.dumps(meta, indent=2))
        (tmp / "identifiers.json").write_text(json.dumps(identifiers))
        for fname, obj in (extra_json or {}).items():
            (tmp / fname).write_text(json.dumps(obj))
        if out.exists():
            old = out.parent / (temp_prefix(out, "old") + tmp.name.rsplit("-", 1)[1])
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_metadata(data_dir: str | os.PathLike, split: str = "train") -> dict[str, Any]:
    """The ``dataset.json`` of one split."""
    return read_json(Path(data_dir) / split / "dataset.json")
