"""Accuracy over a test split (SPEC §8.1-8.2), measured through the engine (``trm.act.stream``).

This is the one measurement behind both the training run's ``eval/...`` log and ``trm eval``:
the same rows (``select_rows``), the same steps, the same metric sums (``trm.losses.step_loss``
over each row when it halts), so the two give the same numbers on the same checkpoint and data.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from trm.act import ALL_STEPS, Halting, stream, unwrap
from trm.data import PuzzleDataset
from trm.losses import METRICS, normalise_metrics
from trm.puzzles import PuzzleError, kind_of_vocab, verified_tokens
from trm.runtime import Runtime

# Rows handed to the engine at once (times the batch): bounds device memory on large splits.
CHUNK_BATCHES = 32


def select_rows(num_examples: int, limit: int = 0, seed: int = 0) -> np.ndarray:
    """All example rows, or a seeded random subset of ``limit`` of them (in file order)."""
    rows = np.arange(num_examples)
    if 0 < limit < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
    return rows


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    data: PuzzleDataset,
    batch_size: int,
    *,
    halting: Halting = ALL_STEPS,
    limit: int = 0,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    runtime: Runtime | None = None,
    progress=None,
) -> dict[str, float]:
    """Exact accuracy, token accuracy, halting accuracy, steps and losses over the test split,
    and for kinds with rules ``verified_accuracy``: the share of answers that pass the rules
    (a maze has several shortest paths; exact accuracy counts only the dataset's one).

    By default every row runs all ``max_supervision_steps`` steps (the paper's number). With
    several ranks each takes a share of the rows (``batch_size`` is global) and the sums are
    all-reduced. Losses are averaged per example.
    """
    core = unwrap(model)
    was_training = core.training
    core.eval()
    rows = np.array_split(select_rows(data.num_examples, limit, seed), world_size)[rank]
    b = max(1, batch_size // world_size)
    device = core.token_embedding.device
    kind = kind_of_vocab(core.cfg.vocab_size)
    keys = (*METRICS, "verified_accuracy") if _checkable(kind, data) else METRICS
    sums = {k: torch.zeros((), device=device) for k in keys}  # same keys on every rank
    for start in range(0, len(rows), b * CHUNK_BATCHES):
        chunk = rows[start : start + b * CHUNK_BATCHES]
        batch = data.collate(chunk, data.puzzle_of_rows(chunk))
        run = stream(
            model,
            batch.inputs.numpy(),
            puzzle_ids=batch.puzzle_identifiers.numpy(),
            labels=batch.labels,
            halting=halting,
            batch_size=b,
            runtime=runtime,
            progress=progress,
        )
        for k, v in run.metrics.items():
            sums[k] = sums[k] + v
        if "verified_accuracy" in sums:
            ok = verified_tokens(kind, batch.inputs.numpy(), run.preds)
            sums["verified_accuracy"] = sums["verified_accuracy"] + int(ok.sum())
    core.train(was_training)
    vec = torch.stack([sums[k] for k in keys])
    if world_size > 1:
        dist.all_reduce(vec)
    return normalise_metrics(dict(zip(keys, vec.tolist())), batch_size=None)


def _checkable(kind: str, data: PuzzleDataset) -> bool:
    """Whether the rules of ``kind`` can read this split's puzzles (a maze of another size can;
    a dataset that only shares a vocabulary size with a kind cannot)."""
    if data.num_examples == 0:
        return False
    row = np.asarray(data.labels[:1], np.int64)
    try:
        return verified_tokens(kind, row, row) is not None  # None: no rules (ARC, unknown)
    except (PuzzleError, ValueError):  # e.g. 6 tokens over Sudoku's vocabulary of 11
        return False
