"""Fit puzzle embeddings for a new ARC task, with the network frozen (test-time adaptation).

An ARC model knows a task only through its learned puzzle-embedding row. For a task that was
not in the training data, a fresh row per view (augmentation) is fitted on that view of the
task's own demonstration pairs by gradient descent on the usual deep-supervision loss, with
every network weight frozen. The rows start at zero, like the training table.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from trm.data import IGNORE_LABEL
from trm.losses import step_loss
from trm.model import TinyRecursiveModel
from trm.puzzles import arc


def demo_tensors(
    task: arc.Task, augmentations: list[arc.Augmentation]
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of every view of every demonstration pair: inputs and labels (K, P, 900)."""
    inputs = np.stack(
        [np.stack([arc.encode(a.apply(i)) for i, _ in task.train]) for a in augmentations]
    )
    labels = np.stack(
        [np.stack([arc.encode(a.apply(o)) for _, o in task.train]) for a in augmentations]
    )
    return inputs, labels


def fit_embeddings(
    model: TinyRecursiveModel,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """Fit one puzzle-embedding row per view on its demonstration pairs; returns (K, E).

    ``inputs``, ``labels``: (K, P, L) tokens (PAD labels are ignored). Each optimiser step is
    one supervision step on the carried (y, z); the carry restarts every
    ``max_supervision_steps`` steps, as a training slot does when it reaches the maximum.
    """
    if model.puzzle_embedding is None:
        raise ValueError("the model has no puzzle embeddings to fit")
    device = model.puzzle_embedding.device
    k, p, length = inputs.shape
    torch.manual_seed(seed)
    x = torch.as_tensor(inputs.reshape(k * p, length).astype(np.int32), device=device)
    y_lab = torch.as_tensor(labels.reshape(k * p, length).astype(np.int64), device=device)
    y_lab = torch.where(y_lab == 0, IGNORE_LABEL, y_lab)
    view = torch.arange(k, device=device).repeat_interleave(p)
    emb = torch.zeros(k, model.puzzle_embedding.shape[1], device=device, requires_grad=True)
    opt = torch.optim.Adam([emb], lr=lr)
    frozen = [(q, q.requires_grad) for q in model.parameters()]
    for q, _ in frozen:
        q.requires_grad_(False)
    was_training = model.training
    model.eval()
    max_steps = model.cfg.max_supervision_steps
    try:
        y = z = None
        bar = tqdm(range(steps), desc="adapt", disable=None if progress else True, leave=False)
        for step in bar:  # the bar shows on a terminal only
            if step % max_steps == 0:
                y, z = model.initial_state(k * p, device, torch.float32)
            out = model(x, emb[view], y, z)
            halted = torch.ones(k * p, dtype=torch.bool, device=device)
            loss, _ = step_loss(out.logits, y_lab, out.q_halt, halted, torch.ones_like(view))
            opt.zero_grad(set_to_none=True)
            (loss / (k * p)).backward()
            opt.step()
            y, z = out.y, out.z
    finally:
        for q, flag in frozen:
            q.requires_grad_(flag)
        model.train(was_training)
    return emb.detach()
