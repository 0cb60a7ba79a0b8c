"""The on-disk dataset format (SPEC §2), written atomically.

Layout (compatible with the official builders)::

    <out>/identifiers.json             index = puzzle identifier, value = name ("<blank>" at 0)
    <out>/<split>/dataset.json         metadata (SPEC §2.3)
    <out>/<split>/all__<field>.npy     inputs, labels (uint8 [E, L]); puzzle_identifiers,
                                       puzzle_indices, group_indices (int32, CSR-style)
    <out>/<extra files>                e.g. test_puzzles.json (ARC)

Everything is written into a temporary directory beside ``out`` and renamed into place when
complete, so an interrupted build or a full disk never leaves a half dataset nor damages an
existing one. The temporary's name carries the builder's pid (``.<out>.tmp-<pid>-XXXX``); the
next build of the same target removes those whose process is gone
(``trm.safe_io.remove_stale_temps``).

A destination is checked before any work (``check_destination``): a new path, an empty
directory, or, with ``overwrite``, a dataset (``identifiers.json`` and a ``<split>/dataset.json``,
nothing else but the files a build writes). Anything else is refused, so a build never deletes
data it did not write. ``out`` may be a link to a directory: the dataset replaces the link's
target and the link stays.
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

from trm.errors import TrmError
from trm.safe_io import (
    check_writable_dir,
    default_mode,
    os_error,
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
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``splits`` (e.g. {"train": ..., "test": ...}) to ``out_dir`` atomically.

    ``identifiers`` names each puzzle identifier (default ``["<blank>"]``); its length is
    ``num_puzzle_identifiers``. ``extra_json`` maps file names to JSON-serialisable objects
    written at the top level (``test_puzzles.json``, ``build_info.json``, ...). An existing
    dataset in ``out_dir`` is replaced only with ``overwrite``, once the new one is complete;
    a full disk is one ``TrmError`` ("no space left on DIR") and leaves the old one intact.
    """
    target = check_destination(out_dir, overwrite)  # again: the build may have taken hours
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, target, "create the directory of") from None
    remove_stale_temps(target, "tmp")  # left by a killed build of the same target
    if target.exists():
        remove_stale_temps(target, "old")  # superseded datasets of a build killed mid-swap
    identifiers = identifiers if identifiers is not None else ["<blank>"]
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target, "tmp"), dir=target.parent))
        _write_files(tmp, splits, vocab_size, identifiers, extra_json or {})
        _swap_into_place(tmp, target)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise os_error(e, target) from None
        raise
    return Path(out_dir)


def _write_files(
    tmp: Path,
    splits: dict[str, Split],
    vocab_size: int,
    identifiers: list[str],
    extra_json: dict[str, Any],
) -> None:
    """Every file of the dataset, into the fresh directory ``tmp``."""
    os.chmod(tmp, default_mode("dir"))  # mkdtemp makes 0700; a dataset is shared like any dir
    for name, split in splits.items():
        d = tmp / name
        d.mkdir()
        for field in FIELDS:
            _save_npy(d / f"{SET_NAME}__{field}.npy", getattr(split, field))
        meta = split_metadata(split, vocab_size, len(identifiers))
        (d / "dataset.json").write_text(json.dumps(meta, indent=2))
    (tmp / "identifiers.json").write_text(json.dumps(identifiers))
    for fname, obj in extra_json.items():
        (tmp / fname).write_text(json.dumps(obj))


def _save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through ``write`` calls (numpy chunks them), not ``ndarray.tofile``: on a
    full disk ``tofile`` raises an errno-less "N requested and M written", ``write`` ENOSPC."""

    class Chunks:
        def __init__(self, f: Any) -> None:
            self.write = f.write

    with open(path, "wb") as f:
        np.save(Chunks(f), array)


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the complete dataset ``tmp`` onto ``target``; an old one there goes only after."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.parent / (temp_prefix(target, "old") + tmp.name.rsplit("-", 1)[1])
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)  # the old dataset goes back where it was
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_destination(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """The directory a dataset for ``--out`` ``out`` is written to, or a one-line ``TrmError``.

    Accepted: a path that can be created, an empty directory, and, with ``overwrite``, a dataset
    (``is_dataset``). Refused: the empty string, anything else that exists (a file, a directory
    with other files in it, a dataset without ``overwrite``), the current directory or one
    holding it, a mount point (a dataset is put in place by renaming). A link to a directory
    stands for its target: the dataset is written beside the target and replaces it, and the
    link keeps pointing at it. Reads only (and probes that a new directory can be created).
    """
    if os.fspath(out) == "":
        raise TrmError("--out is empty: name the dataset directory to write (e.g. data/NAME)")
    check_writable_dir(out, "dataset directory")
    target = Path(out).resolve()  # a link's target; "data/x/.." is data
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise TrmError(
            f"{out}: is the current directory or holds it; a build replaces its --out "
            "directory, so name a new one (e.g. data/NAME)"
        )
    if not target.exists():
        return target
    if not target.is_dir():
        raise TrmError(f"{out}: exists and is not a directory; pick another --out")
    if os.path.ismount(target):
        raise TrmError(f"{out}: is a mount point; build into a directory inside it")
    check_writable_dir(target.parent, "dataset directory")  # the swap renames in the parent
    try:
        entries = sorted(p.name for p in target.iterdir())
    except OSError as e:
        raise TrmError(f"{out}: cannot read the directory ({e.strerror})") from None
    if not entries:
        return target
    if not is_dataset(target):
        shown = ", ".join(entries[:3]) + (
            f", ... ({len(entries)} entries)" if len(entries) > 3 else ""
        )
        raise TrmError(
            f"{out}: exists and is not a dataset (it holds {shown}); a build would replace it, "
            "so pick a new or empty directory for --out"
        )
    foreign = _foreign_entry(target)
    if foreign is not None:
        raise TrmError(
            f"{out}: the dataset there also holds {foreign}, which no build writes; move it "
            "away first (a build replaces the whole directory)"
        )
    if not overwrite:
        raise TrmError(
            f"{out} already holds a dataset: pass --overwrite (overwrite=True) to replace it, "
            "or pick another --out"
        )
    return target


def is_dataset(path: str | os.PathLike) -> bool:
    """Whether directory ``path`` holds a dataset: ``identifiers.json`` and a split's
    ``dataset.json`` (what ``write_dataset`` and the official builders write)."""
    p = Path(path)
    return (p / "identifiers.json").is_file() and any(
        (d / "dataset.json").is_file() for d in p.iterdir() if d.is_dir()
    )


def _foreign_entry(path: Path) -> str | None:
    """The first entry of dataset ``path`` that no build writes (a split directory holds
    ``dataset.json`` and ``.npy`` files, the top level ``.json`` files), or None."""

    def ours(p: Path, names: tuple[str, ...]) -> bool:
        return p.is_file() and not p.is_symlink() and p.name.endswith(names)

    for entry in sorted(path.iterdir()):
        if ours(entry, (".json",)):
            continue
        if not entry.is_dir() or entry.is_symlink() or not (entry / "dataset.json").is_file():
            return entry.name
        inner = next(
            (p for p in sorted(entry.iterdir()) if not ours(p, (".npy", "dataset.json"))), None
        )
        if inner is not None:
            return f"{entry.name}/{inner.name}"
    return None


def read_metadata(data_dir: str | os.PathLike, split: str = "train") -> dict[str, Any]:
    """The ``dataset.json`` of one split."""
    return read_json(Path(data_dir) / split / "dataset.json")
