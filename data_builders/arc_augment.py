"""ARC augmentation engine: choose de-duplicated augmentations of a task, encode them in bulk.

An augmentation is a pair (t, colour map) as in :mod:`trm.puzzles.arc`; here they travel as
arrays ``ts`` (K,) and ``maps`` (K, 10) so that one task's copies are transformed together.
Index 0 is always the original (t = 0, identity map).
"""

from __future__ import annotations

import hashlib

import numpy as np

from trm.puzzles import arc
from trm.puzzles.base import dihedral

SWAPS_AXES = np.array([t in (1, 3, 6, 7) for t in range(8)])  # dihedral ids that transpose shapes
IDENTITY_MAP = np.arange(10, dtype=np.uint8)


def transform_stack(grid: np.ndarray, ts: np.ndarray, maps: np.ndarray) -> dict[int, np.ndarray]:
    """``dihedral_t(map[grid])`` for every copy, grouped by t: {t: (n_t, h', w')} in copy order."""
    recoloured = maps[:, grid]  # (K, h, w)
    return {t: dihedral(recoloured[ts == t], t) for t in range(8) if np.any(ts == t)}


def _pair_rows(
    pair: tuple[np.ndarray, np.ndarray | None], ts: np.ndarray, maps: np.ndarray
) -> np.ndarray:
    """Per copy, the bytes of one transformed pair: shapes (4 bytes), then both grids flat."""
    k = len(ts)
    parts = []
    for grid in pair:
        if grid is None:
            continue
        h, w = grid.shape
        shapes = np.where(SWAPS_AXES[ts][:, None], [w, h], [h, w]).astype(np.uint8)  # (K, 2)
        flat = np.empty((k, h * w), np.uint8)
        for t, stack in transform_stack(grid, ts, maps).items():
            flat[ts == t] = stack.reshape(len(stack), -1)
        parts += [shapes, flat]
    return np.concatenate(parts, axis=1)


def puzzle_digests(pairs: list, ts: np.ndarray, maps: np.ndarray) -> list[bytes]:
    """SHA-256 of each transformed copy of the whole puzzle (pairs sorted, so order-free)."""
    rows = [_pair_rows(p, ts, maps) for p in pairs]
    if len(rows) == 1:
        return [hashlib.sha256(r.tobytes()).digest() for r in rows[0]]
    # Each pair row starts with its shapes, so the joined sorted rows are unambiguous.
    return [
        hashlib.sha256(b"".join(sorted(r[j].tobytes() for r in rows))).digest()
        for j in range(len(ts))
    ]


def choose_augmentations(
    pairs: list, rng: np.random.Generator, num_aug: int
) -> tuple[np.ndarray, np.ndarray]:
    """The original plus up to ``num_aug`` distinct augmentations of a puzzle (SPEC §3.3).

    ``pairs`` are all (input, output|None) pairs of the task, both splits. Random (t, map)
    trials are drawn until ``num_aug`` are accepted or ``5 * num_aug`` trials were made; a
    trial whose transformed puzzle equals one already accepted (the original included) is
    discarded. Returns ``ts`` (K,) and ``maps`` (K, 10) uint8, row 0 being the original.
    """
    ts_acc, maps_acc = [np.zeros(1, np.int64)], [IDENTITY_MAP[None]]
    seen = set(puzzle_digests(pairs, ts_acc[0], maps_acc[0]))
    accepted, trials, budget = 0, 0, 5 * num_aug
    while accepted < num_aug and trials < budget:
        remaining = num_aug - accepted
        n = min(budget - trials, remaining + remaining // 8 + 8)
        ts = rng.integers(0, 8, size=n)
        maps = arc.random_colour_maps(rng, n)
        keep = []
        for j, digest in enumerate(puzzle_digests(pairs, ts, maps)):
            trials += 1
            if digest not in seen:
                seen.add(digest)
                keep.append(j)
                accepted += 1
                if accepted == num_aug:
                    break
        ts_acc.append(ts[keep])
        maps_acc.append(maps[keep])
    return np.concatenate(ts_acc), np.concatenate(maps_acc)


def puzzle_names(task: str, ts: np.ndarray, maps: np.ndarray) -> list[str]:
    """``<task>|||t<t>|||<map digits>`` per copy; the original (row 0) keeps the bare name."""
    digits = (maps + ord("0")).tobytes().decode("ascii")
    sep = arc.SEPARATOR
    names = [
        f"{task}{sep}t{t}{sep}{digits[10 * k : 10 * k + 10]}" for k, t in enumerate(ts.tolist())
    ]
    names[0] = task
    return names


def translation_offsets(
    pairs: list[arc.Pair], ts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Random (row, column) offsets (K, P, 2): shared by a pair's input and output, one example
    per copy (chosen at random) left at the top-left (SPEC §3.3)."""
    k, p = len(ts), len(pairs)
    dims = np.array([np.maximum(i.shape, o.shape) for i, o in pairs])  # (P, 2) max (h, w)
    swap = SWAPS_AXES[ts][:, None, None]  # (K, 1, 1)
    dims = np.where(swap, dims[None, :, ::-1], dims[None])  # (K, P, 2) after the transform
    offsets = rng.integers(0, arc.SIZE - dims + 1)
    offsets[np.arange(k), rng.integers(0, p, size=k)] = 0
    return offsets


def encode_pairs(
    pairs: list[arc.Pair],
    ts: np.ndarray,
    maps: np.ndarray,
    offsets: np.ndarray | None,
    inputs: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Encode every copy of every pair into ``inputs``/``labels`` (K*P, 900), copy-major.

    Row ``k * P + p`` holds pair p of copy k, at ``offsets[k, p]`` (None: top-left).
    """
    k, p = len(ts), len(pairs)
    for j, pair in enumerate(pairs):
        for grid, out in zip(pair, (inputs, labels)):
            for t, stack in transform_stack(grid, ts, maps).items():
                copies = np.nonzero(ts == t)[0]
                off = None if offsets is None else offsets[copies, j]
                out[copies * p + j] = arc.encode_batch(stack, off)
    assert k * p == len(inputs)
