"""ARC answers: voting over augmented views, and puzzle embeddings fitted for new tasks.

An ARC model knows a task only through its learned puzzle-embedding row. A task seen in
training uses its trained rows; for a new task a fresh row per view (augmentation) is fitted on
that view of the task's own demonstration pairs by gradient descent on the usual
deep-supervision loss, with every network weight frozen (the rows start at zero, like the
training table). Then every test input runs in all views and the views vote (``votes``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from trm.act import Halting, initial_carry, stream, supervision_step
from trm.batch import IGNORE_LABEL, Batch
from trm.errors import TrmError
from trm.inference.solve import SolveResult
from trm.inference.votes import Votes
from trm.model import TinyRecursiveModel
from trm.puzzles import arc
from trm.runtime import Runtime
from trm.safe_io import read_json


def trained_views(
    data_path: str | os.PathLike, task_name: str
) -> list[tuple[int, arc.Augmentation]]:
    """(puzzle id, augmentation) of every puzzle of ``task_name`` in the training dataset,
    the un-augmented one first; empty when the task (or the dataset) is not there."""
    path = Path(data_path) / "identifiers.json"
    if not data_path or not path.is_file():
        return []
    names = read_json(path)
    found = []
    for i, name in enumerate(names):
        if name == task_name or name.startswith(task_name + arc.SEPARATOR):
            found.append((i, arc.parse_augmented_name(name)[1]))
    return sorted(found, key=lambda v: not v[1].is_identity)


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
    one supervision step of the engine (``trm.act.supervision_step``) on the carried (y, z);
    a slot starts afresh after ``max_supervision_steps`` steps, as a training slot does.
    """
    if model.puzzle_embedding is None:
        raise ValueError("the model has no puzzle embeddings to fit")
    device = model.puzzle_embedding.device
    k, p, length = inputs.shape
    torch.manual_seed(seed)
    x = torch.as_tensor(inputs.reshape(k * p, length).astype(np.int32), device=device)
    y_lab = torch.as_tensor(labels.reshape(k * p, length).astype(np.int64), device=device)
    batch = Batch(x, torch.where(y_lab == 0, IGNORE_LABEL, y_lab), torch.zeros_like(x[:, 0]))
    view = torch.arange(k, device=device).repeat_interleave(p)
    emb = torch.zeros(k, model.puzzle_embedding.shape[1], device=device, requires_grad=True)
    opt = torch.optim.Adam([emb], lr=lr)
    frozen = [(q, q.requires_grad) for q in model.parameters()]
    for q, _ in frozen:
        q.requires_grad_(False)
    was_training = model.training
    model.eval()
    try:
        carry = initial_carry(model, batch, torch.float32)
        bar = tqdm(range(steps), desc="adapt", disable=None if progress else True, leave=False)
        for _ in bar:  # the bar shows on a terminal only
            result = supervision_step(model, carry, batch, training=False, puzzle_rows=emb[view])
            opt.zero_grad(set_to_none=True)
            (result.loss / (k * p)).backward()
            opt.step()
            carry = result.carry
    finally:
        for q, flag in frozen:
            q.requires_grad_(flag)
        model.train(was_training)
    return emb.detach()


def solve_arc_task(
    model: TinyRecursiveModel,
    task: arc.Task,
    *,
    halting: Halting,
    runtime: Runtime | None = None,
    data_path: str = "",
    views: int = 8,
    batch_size: int = 256,
    seed: int = 0,
    adapt_steps: int = 100,
    progress: bool = False,
) -> list[SolveResult]:
    """Predict every test output of an ARC task by voting over ``views`` augmented views, each
    stopping by ``halting`` (``trm.inference.halting.halting_for``).

    A task seen in training uses its trained puzzle-embedding rows (``embedding="trained"``);
    a new one gets rows fitted on its demonstration pairs (``"adapted"``, ``fit_embeddings``).
    """
    if views < 1:
        raise TrmError(f"--views must be at least 1, got {views}")
    augs, ids, rows, how = _views(model, task, data_path, views, seed, adapt_steps, progress)
    k = len(augs)
    tokens = np.stack(
        [arc.encode(a.apply(i)) for i, _ in task.test for a in augs]
    )  # (tests * K, 900)
    bar = tqdm(  # on stderr, only on a terminal
        total=len(tokens),
        desc=f"solve {task.name}",
        unit="view",
        disable=None if progress else True,
        leave=False,
    )
    with bar:
        run = stream(
            model,
            tokens,
            puzzle_ids=np.tile(ids, len(task.test)),
            puzzle_rows=None if rows is None else rows.repeat(len(task.test), 1),
            halting=halting,
            batch_size=batch_size,
            runtime=runtime,
            progress=bar,
        )
    votes = Votes()
    results = []
    for t, (test_input, _) in enumerate(task.test):
        key = arc.grid_hash(test_input)
        for v, a in enumerate(augs):
            pred = arc.decode(run.preds[t * k + v])
            if pred.size:
                votes.add(task.name, key, a.invert(pred), float(run.q_halt[t * k + v]))
        ranked = votes.rank(task.name, key)
        attempts = votes.attempts(task.name, key)
        best = attempts[0] if attempts else np.zeros((0, 0), np.uint8)
        results.append(
            SolveResult(
                best,
                None,
                int(run.steps[t * k : (t + 1) * k].max()),
                k,
                ranked[0].count if ranked else 0,
                "vote",
                attempts=attempts or [best, best],
                embedding=how,
            )
        )
    return results


def _views(model, task, data_path, views, seed, adapt_steps, progress):
    """The views' augmentations, puzzle ids, fitted rows (or None) and how they were found."""
    known = trained_views(data_path, task.name) if model.puzzle_embedding is not None else []
    if known:
        chosen = known[:views]
        return [a for _, a in chosen], np.array([i for i, _ in chosen]), None, "trained"
    rng = np.random.default_rng(seed)
    augs = [arc.Augmentation()] + [arc.random_augmentation(rng) for _ in range(views - 1)]
    ids = np.zeros(len(augs), np.int64)
    if model.puzzle_embedding is None:
        return augs, ids, None, "none"
    demo_in, demo_out = demo_tensors(task, augs)
    rows = fit_embeddings(model, demo_in, demo_out, steps=adapt_steps, seed=seed, progress=progress)
    return augs, ids, rows, "adapted"
