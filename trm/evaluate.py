"""Accuracy over a test split (SPEC §8.1-8.2): every example runs all supervision steps."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.distributed as dist

from trm.act import Carry, initial_carry, supervision_step
from trm.data import Batch, PuzzleDataset, eval_batches
from trm.losses import normalise_metrics
from trm.model import StepOutput, TinyRecursiveModel


@torch.inference_mode()
def run_steps(
    model: torch.nn.Module,
    core: TinyRecursiveModel,
    batch: Batch,
    steps: int,
    dtype: torch.dtype,
    autocast=nullcontext,
) -> tuple[Carry, dict[str, torch.Tensor], StepOutput]:
    """Run ``steps`` supervision steps on a fresh carry (no halting); the last step's outputs."""
    carry = initial_carry(core, batch, dtype)
    metrics = out = None
    for _ in range(steps):
        with autocast():
            carry, _, metrics, out, _ = supervision_step(model, carry, batch, training=False)
    return carry, metrics, out


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    core: TinyRecursiveModel,
    data: PuzzleDataset,
    batch_size: int,
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    autocast=nullcontext,
    limit: int = 0,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    progress=None,
) -> dict[str, float]:
    """Exact accuracy, token accuracy, halting accuracy of the last step, over the test split.

    Metric sums stay on the device until the end; with several ranks they are all-reduced.
    Losses are averaged per example.
    """
    was_training = core.training
    core.eval()
    sums: dict[str, torch.Tensor] = {}
    steps = core.cfg.max_supervision_steps
    for batch, _ in eval_batches(data, batch_size, rank, world_size, limit, seed):
        _, metrics, _ = run_steps(model, core, batch.to(device), steps, dtype, autocast)
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0) + v.float()
        if progress is not None:
            progress.update(1)
    keys = sorted(sums)
    vec = torch.stack([sums[k] for k in keys]) if keys else torch.zeros(0, device=device)
    if world_size > 1:
        dist.all_reduce(vec)
    totals = dict(zip(keys, vec.tolist()))
    core.train(was_training)
    return normalise_metrics(totals, batch_size=None)
