"""Reading built datasets (SPEC §2): memory-mapped arrays, the training sampler, the test loader.

The sampler follows the official one (uniform over groups, one random puzzle of a group per
epoch, all its examples in random order, epochs concatenated into passes of
``epochs_per_pass`` epochs, incomplete last batch dropped, rank r takes rows
[r*b, (r+1)*b) of the global batch) with two deliberate differences: every random choice comes
from generators seeded by (seed, pass, batch), so all ranks agree (official bug B9) and the
position (pass, batch) is all that is needed to resume exactly.

A split is checked when it is loaded: ``dataset.json`` against its arrays (row length, token
ids below the vocabulary, puzzle and group offsets within the arrays), one line naming the
file. A run reads its splits with ``load_data``, which fills the config from them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trm.batch import IGNORE_LABEL, Batch
from trm.errors import TrmError
from trm.safe_io import read_json
from trm.schedules import pool_fraction

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


class PuzzleDataset:
    """One split of a built dataset: ``inputs``/``labels`` memory-mapped, indices in RAM."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        d = Path(root) / split
        meta_path = d / "dataset.json"
        if not meta_path.is_file():
            raise TrmError(
                f"{d}: not a trm dataset split (no dataset.json); build one with `trm build`"
            )
        self.root, self.split = Path(root), split
        self.metadata = check_metadata(read_json(meta_path), meta_path)
        set_name = self.metadata.get("sets", ["all"])[0]
        arrays, paths = {}, {f: d / f"{set_name}__{f}.npy" for f in FIELDS}
        for f, path in paths.items():
            if not path.is_file():
                raise TrmError(f"{path}: missing dataset array")
            mode = "r" if f in ("inputs", "labels") else None
            try:  # plain arrays only: a pickled object in a .npy is refused, never loaded
                arrays[f] = np.load(path, mmap_mode=mode, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise TrmError(f"{path}: not a readable dataset array ({e})") from None
        check_arrays(arrays, paths, self.metadata, meta_path)
        self.inputs, self.labels = arrays["inputs"], arrays["labels"]
        self.puzzle_identifiers = arrays["puzzle_identifiers"].astype(np.int32)
        self.puzzle_indices = arrays["puzzle_indices"].astype(np.int64)
        self.group_indices = arrays["group_indices"].astype(np.int64)
        self.ignore_label_id = self.metadata.get("ignore_label_id", 0)

    @property
    def num_examples(self) -> int:
        return len(self.inputs)

    @property
    def num_groups(self) -> int:
        return len(self.group_indices) - 1

    def collate(self, rows: np.ndarray, puzzles: np.ndarray, pad_to: int | None = None) -> Batch:
        """Gather example ``rows`` (of puzzles ``puzzles``) into a Batch padded to ``pad_to``."""
        inputs = np.asarray(self.inputs[rows], dtype=np.int32)
        labels = np.asarray(self.labels[rows], dtype=np.int32)
        labels[labels == self.ignore_label_id] = IGNORE_LABEL
        ids = self.puzzle_identifiers[puzzles].astype(np.int32)
        if pad_to is not None and len(rows) < pad_to:
            n = pad_to - len(rows)
            inputs = np.concatenate([inputs, np.zeros((n, inputs.shape[1]), np.int32)])
            labels = np.concatenate([labels, np.full((n, labels.shape[1]), IGNORE_LABEL, np.int32)])
            ids = np.concatenate([ids, np.zeros(n, np.int32)])
        return Batch(torch.from_numpy(inputs), torch.from_numpy(labels), torch.from_numpy(ids))

    def puzzle_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The puzzle index of each example row."""
        return np.searchsorted(self.puzzle_indices, rows, side="right") - 1


# dataset.json keys the loader and the trainer read, with their smallest allowed value
METADATA = {"vocab_size": 1, "seq_len": 1, "num_puzzle_identifiers": 1, "total_groups": 0}


def check_metadata(meta, path: Path) -> dict:
    """``meta`` when it is a dataset.json the loader can use, else a one-line error."""
    if not isinstance(meta, dict):
        raise TrmError(f"{path}: not a dataset description (expected a JSON object)")
    for key, low in METADATA.items():
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise TrmError(f"{path}: {key} must be an integer of at least {low}, got {value!r}")
    mean = meta.get("mean_puzzle_examples")
    if isinstance(mean, bool) or not isinstance(mean, (int, float)) or not mean >= 0:
        raise TrmError(f"{path}: mean_puzzle_examples must be a number >= 0, got {mean!r}")
    return meta


def check_arrays(arrays: dict, paths: dict, meta: dict, meta_path: Path) -> None:
    """One-line errors (naming the file) for arrays that disagree with ``dataset.json`` or with
    each other: row length, token ids, and the puzzle and group index ranges."""
    inputs, labels = arrays["inputs"], arrays["labels"]
    for f, a in arrays.items():
        ndim = 2 if f in ("inputs", "labels") else 1
        if not np.issubdtype(a.dtype, np.integer) or a.ndim != ndim:
            raise TrmError(
                f"{paths[f]}: expected a {ndim}-D integer array, got {a.ndim}-D {a.dtype}"
            )
    if labels.shape != inputs.shape:
        raise TrmError(
            f"{paths['labels']}: shape {labels.shape} differs from inputs {inputs.shape}"
        )
    if inputs.shape[1] != meta["seq_len"]:
        raise TrmError(
            f"{meta_path}: seq_len is {meta['seq_len']} but {paths['inputs'].name} holds rows of "
            f"{inputs.shape[1]} tokens"
        )
    vocab, ignore = meta["vocab_size"], meta.get("ignore_label_id", 0)
    for f, a in (("inputs", inputs), ("labels", labels)):
        low, high = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if high >= vocab or (low < 0 and low != ignore):
            raise TrmError(
                f"{paths[f]}: token id {high if high >= vocab else low} is outside the "
                f"vocabulary 0..{vocab - 1} of {meta_path}"
            )
    puzzles = len(arrays["puzzle_identifiers"])
    _check_offsets(arrays["puzzle_indices"], len(inputs), "examples", paths["puzzle_indices"])
    _check_offsets(arrays["group_indices"], puzzles, "puzzles", paths["group_indices"])
    if len(arrays["puzzle_indices"]) != puzzles + 1:
        raise TrmError(
            f"{paths['puzzle_indices']}: {len(arrays['puzzle_indices'])} offsets for "
            f"{puzzles} puzzle identifiers (expected {puzzles + 1})"
        )
    ids, n_ids = arrays["puzzle_identifiers"], meta["num_puzzle_identifiers"]
    if ids.size and (ids.min() < 0 or ids.max() >= n_ids):
        raise TrmError(
            f"{paths['puzzle_identifiers']}: identifiers must lie in 0..{n_ids - 1} "
            f"(num_puzzle_identifiers of {meta_path})"
        )


def _check_offsets(offsets: np.ndarray, total: int, what: str, path: Path) -> None:
    """CSR offsets must rise from 0 to ``total`` (the number of ``what``)."""
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != total or (np.diff(offsets) < 0).any():
        ends = f"{offsets[0]}..{offsets[-1]}" if len(offsets) else "empty"
        raise TrmError(f"{path}: offsets must rise from 0 to the {total} {what}, got {ends}")


@dataclass
class Curriculum:
    """Training draws from the easiest (or hardest) ``pool_fraction`` of the train puzzles,
    a pool that grows with the run's progress (``trm.schedules.pool_fraction``)."""

    order: np.ndarray  # puzzle indices, the ones to start with first
    start: float
    until: float
    steps_total: int

    @classmethod
    def by_difficulty(
        cls,
        data: PuzzleDataset,
        difficulty,
        hard_first: bool,
        start: float,
        until: float,
        steps_total: int,
    ) -> Curriculum:
        """Order the puzzles by ``difficulty(inputs, labels)`` of their first example."""
        if (np.diff(data.puzzle_indices) != 1).any():
            raise TrmError("a curriculum needs one example per puzzle (Sudoku, Maze datasets)")
        first = data.puzzle_indices[:-1]
        score = np.asarray(difficulty(data.inputs[first], data.labels[first]), np.float64)
        order = np.argsort(-score if hard_first else score, kind="stable")
        return cls(order, start, until, steps_total)


class TrainSampler:
    """Seeded, resumable training batches (SPEC §2.5). ``state`` = (pass, batch in pass)."""

    def __init__(
        self,
        data: PuzzleDataset,
        global_batch_size: int,
        epochs_per_pass: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        if global_batch_size % world_size:
            raise TrmError(
                f"global_batch_size {global_batch_size} is not divisible by {world_size} ranks"
            )
        self.data, self.B, self.epochs_per_pass, self.seed = (
            data,
            global_batch_size,
            epochs_per_pass,
            seed,
        )
        self.rank, self.world_size = rank, world_size
        self.pass_index, self.batch_index = 0, 0
        self._plan = None  # (puzzles per position, batch start positions) of the current pass
        self.curriculum: Curriculum | None = None  # set by the training run when asked for

    def state_dict(self) -> dict:
        return {"pass_index": self.pass_index, "batch_index": self.batch_index}

    def load_state_dict(self, state: dict) -> None:
        self.pass_index, self.batch_index = state["pass_index"], state["batch_index"]
        self._plan = None

    def _make_plan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.data
        rng = np.random.default_rng([self.seed, self.pass_index])
        order = np.concatenate([rng.permutation(d.num_groups) for _ in range(self.epochs_per_pass)])
        start, size = d.group_indices[order], np.diff(d.group_indices)[order]
        puzzles = start + (rng.random(len(order)) * size).astype(np.int64)  # one puzzle per visit
        counts = np.diff(d.puzzle_indices)[puzzles]
        ends = np.cumsum(counts)
        # Batch j takes whole puzzles until B examples are reached (the last one possibly cut).
        bounds = [0]
        filled = 0
        while True:
            pos = int(np.searchsorted(ends, filled + self.B, side="left"))
            if pos >= len(ends):
                break  # the incomplete last batch of the pass is dropped
            bounds.append(pos + 1)
            filled = int(ends[pos])
        return puzzles, counts, np.asarray(bounds)

    def batches_per_pass(self) -> int:
        if self._plan is None:
            self._plan = self._make_plan()
        return len(self._plan[2]) - 1

    def next_batch(self) -> Batch:
        """The next local batch (rows [rank*b, (rank+1)*b) of the global batch)."""
        if self.curriculum is not None:
            return self._curriculum_batch()
        while True:
            if self._plan is None:
                self._plan = self._make_plan()
            puzzles, counts, bounds = self._plan
            if self.batch_index < len(bounds) - 1:
                break
            self.pass_index, self.batch_index, self._plan = self.pass_index + 1, 0, None
            if len(bounds) == 1:
                raise TrmError("the dataset has fewer examples per pass than one global batch")
        lo, hi = bounds[self.batch_index], bounds[self.batch_index + 1]
        rng = np.random.default_rng([self.seed, self.pass_index, self.batch_index + 1])
        if (counts[lo:hi] == 1).all():  # Sudoku, Maze: one example per puzzle
            pids_a = puzzles[lo:hi]
            rows_a = self.data.puzzle_indices[pids_a]
        else:
            rows, pids = [], []
            for p, k in zip(puzzles[lo:hi], counts[lo:hi]):
                rows.append(self.data.puzzle_indices[p] + rng.permutation(k))
                pids.append(np.full(k, p))
            rows_a, pids_a = np.concatenate(rows)[: self.B], np.concatenate(pids)[: self.B]
        self.batch_index += 1
        b = self.B // self.world_size
        sl = slice(self.rank * b, (self.rank + 1) * b)
        return self.data.collate(rows_a[sl], pids_a[sl])

    def _curriculum_batch(self) -> Batch:
        """B puzzles drawn uniformly from the current pool (seeded by the batch count)."""
        c = self.curriculum
        k = self.batch_index  # with a curriculum: batches drawn so far (pass_index stays 0)
        fraction = pool_fraction(k / max(c.steps_total, 1), c.start, c.until)
        m = min(len(c.order), max(self.B, math.ceil(fraction * len(c.order))))
        rng = np.random.default_rng([self.seed, 7919, k])
        puzzles = c.order[rng.integers(0, m, self.B)]
        self.batch_index += 1
        b = self.B // self.world_size
        mine = puzzles[self.rank * b : (self.rank + 1) * b]
        return self.data.collate(self.data.puzzle_indices[mine], mine)


class Prefetcher:
    """Prepares the next batches in a background thread (pinned, copied without blocking).

    ``next()`` returns ``(batch, sampler_state)``, the state being the sampler's position just
    after that batch, so a checkpoint records what was consumed, not what was prefetched.
    """

    def __init__(self, sampler: TrainSampler, device: torch.device, depth: int = 2):
        import queue
        import threading

        self.sampler, self.device = sampler, device
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            while not self.stopped.is_set():
                batch = self.sampler.next_batch()
                state = self.sampler.state_dict()
                if self.device.type == "cuda":
                    batch = batch.pin_memory()
                self.queue.put((batch, state))
        except BaseException as e:  # surfaced to the training loop by next()
            self.queue.put((e, None))

    def next(self) -> tuple[Batch, dict]:
        batch, state = self.queue.get()
        if isinstance(batch, BaseException):
            raise batch
        return batch.to(self.device, non_blocking=True), state

    def close(self) -> None:
        self.stopped.set()
        while not self.queue.empty():
            self.queue.get_nowait()
