"""Inference for users: puzzles in, checked answers out (adaptive halting, views, verification).

The engine keeps one fixed-size batch of slots on the device. Every supervision step runs all
slots; a slot whose puzzle halted (its halting logit ``q_halt > 0``, or the step limit) hands
its answer back and takes the next waiting puzzle with fresh states, so a long file streams
through a batch of constant shape. The host reads one small mask per step.

Test-time augmentation: ``views`` symmetric copies of every puzzle are solved in the same
stream and each answer is mapped back. Sudoku and Maze answers are checked by the rules; a
verified answer wins, else the most common one (``method`` says which). ARC votes across views
(``trm.arc_vote``) and returns the top two attempts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import trm
from trm.arc_vote import Votes
from trm.errors import TrmError
from trm.model import TinyRecursiveModel
from trm.puzzles import arc, maze, sudoku
from trm.puzzles.base import Symmetry
from trm.safe_io import read_json

# --- shipped checkpoints -------------------------------------------------------------------


def shipped_checkpoint(kind: str) -> Path:
    """The checkpoint ``trm solve`` uses without ``--checkpoint``.

    Looks in ``$TRM_CHECKPOINTS/<kind>``, then for the first directory of
    ``<repo root>/checkpoints`` whose name starts with the kind (e.g. ``sudoku-mlp-cpu``).
    """
    env = os.environ.get("TRM_CHECKPOINTS")
    if env and (Path(env) / kind).is_dir():
        return Path(env) / kind
    for root in _checkpoint_roots():
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if d.is_dir() and d.name.startswith(kind) and (d / "model.safetensors").is_file():
                return d
    raise TrmError(
        f"no shipped checkpoint for {kind} is installed; pass --checkpoint RUN_OR_INFERENCE_DIR "
        "(train one with `trm train ...`)"
    )


def _checkpoint_roots() -> list[Path]:
    """A clone's ``checkpoints/``, then the installed data package ``trm_checkpoints``."""
    roots = [Path(trm.__file__).resolve().parents[1] / "checkpoints"]
    try:
        import trm_checkpoints

        roots += [Path(p) for p in trm_checkpoints.__path__]
    except ImportError:
        pass
    return roots


# --- the streaming engine ------------------------------------------------------------------


@dataclass
class RunOutput:
    """Per input row: predicted tokens (N, L), supervision steps used (N,), final q_halt (N,)."""

    preds: np.ndarray
    steps: np.ndarray
    q_halt: np.ndarray


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrmError(f"--device {device} but no CUDA device is available")
    return torch.device(device)


@torch.inference_mode()
def run_stream(
    model: TinyRecursiveModel,
    inputs: np.ndarray,
    puzzle_ids: np.ndarray | None = None,
    *,
    puzzle_rows: torch.Tensor | None = None,
    batch_size: int = 256,
    steps: int | None = None,
    progress=None,
) -> RunOutput:
    """Solve every row of ``inputs`` (N, L) tokens through a fixed batch of ``batch_size`` slots.

    ``steps=None``: adaptive halting (``q_halt > 0``) capped at the model's maximum; an int:
    exactly that many supervision steps. Puzzle embeddings come from ``puzzle_ids`` (N,) rows
    of the model's table, or directly from ``puzzle_rows`` (N, E) (fitted by ``trm.adapt``).
    """
    device = next(model.parameters()).device
    n = len(inputs)
    if n == 0:
        empty = np.zeros((0, inputs.shape[1] if inputs.ndim == 2 else 0), np.int64)
        return RunOutput(empty, np.zeros(0, np.int64), np.zeros(0, np.float32))
    limit = steps if steps is not None else model.cfg.max_supervision_steps
    if limit < 1:
        raise TrmError(f"--steps must be at least 1, got {limit}")
    adaptive = steps is None
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    x_all = torch.as_tensor(np.asarray(inputs, dtype=np.int32), device=device)
    if puzzle_rows is None:
        ids = np.zeros(n, np.int64) if puzzle_ids is None else np.asarray(puzzle_ids, np.int64)
        rows_all = model.puzzle_rows(torch.as_tensor(ids, device=device))
    else:
        rows_all = puzzle_rows.to(device)

    b = min(batch_size, n)
    slot_row = torch.arange(b, device=device)  # which input row each slot holds
    slot_x = x_all[:b].clone()
    slot_p = rows_all[:b].clone() if rows_all is not None else None
    y0, z0 = model.initial_state(1, device, dtype)
    y, z = y0.expand(b, -1, -1).clone(), z0.expand(b, -1, -1).clone()
    slot_steps = torch.zeros(b, dtype=torch.int32, device=device)
    active = torch.ones(b, dtype=torch.bool, device=device)
    preds = torch.zeros(x_all.shape, dtype=torch.int64, device=device)
    steps_out = torch.zeros(n, dtype=torch.int32, device=device)
    q_out = torch.zeros(n, dtype=torch.float32, device=device)
    waiting, live = b, b
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cuda
        else torch.autocast("cpu", enabled=False)
    )
    while live:
        with autocast:
            out = model(slot_x, slot_p, y, z)
        slot_steps += 1
        done = slot_steps >= limit
        if adaptive:
            done |= out.q_halt > 0
        done &= active
        idx = done.nonzero().squeeze(1)  # the one host read per step
        y, z = out.y, out.z
        if len(idx) == 0:
            continue
        rows = slot_row[idx]
        preds[rows] = out.logits[idx].argmax(-1)
        steps_out[rows] = slot_steps[idx]
        q_out[rows] = out.q_halt[idx].float()
        k = min(len(idx), n - waiting)
        refill, retire = idx[:k], idx[k:]
        if k:
            new = torch.arange(waiting, waiting + k, device=device)
            slot_row[refill] = new
            slot_x[refill] = x_all[new]
            if slot_p is not None:
                slot_p[refill] = rows_all[new]
            y[refill], z[refill] = y0[0].to(y.dtype), z0[0].to(z.dtype)
            slot_steps[refill] = 0
            waiting += k
        if len(retire):
            active[retire] = False
            live -= len(retire)
        if progress is not None:
            progress.update(len(idx))
    return RunOutput(
        preds.cpu().numpy(), steps_out.cpu().numpy().astype(np.int64), q_out.cpu().numpy()
    )


# --- results -------------------------------------------------------------------------------


@dataclass
class SolveResult:
    """The answer to one puzzle (or one ARC test input) and how it was reached.

    ``verified``: the rules accept ``answer`` (None for ARC, which has no rules). ``method``:
    ``verified`` (some view's answer passed the rules), ``majority`` (none did: the most common
    answer) or ``vote`` (ARC). ``steps``: supervision steps of the view that gave the answer.
    """

    answer: np.ndarray | None
    verified: bool | None
    steps: int
    views: int
    views_agreeing: int
    method: str
    attempts: list[np.ndarray] = field(default_factory=list)  # ARC: top two
    embedding: str = ""  # ARC: "trained" or "adapted"
    view_answers: list[np.ndarray] = field(default_factory=list, repr=False)
    view_verified: np.ndarray | None = field(default=None, repr=False)
    view_steps: np.ndarray | None = field(default=None, repr=False)
    solvable: bool | None = None  # False: an exact solver proved the puzzle has no solution

    def to_json(self, render) -> dict:
        """A JSON-able dict; ``render`` turns a grid into text."""
        d = {
            "answer": None if self.answer is None or render is None else render(self.answer),
            "verified": self.verified,
            "steps": int(self.steps),
            "views": self.views,
            "views_agreeing": self.views_agreeing,
            "method": self.method,
        }
        if self.solvable is not None:
            d["solvable"] = self.solvable
        if self.attempts:
            d["answer"] = self.answer.tolist()
            d["attempts"] = [a.tolist() for a in self.attempts]
            d["embedding"] = self.embedding
        return d


def view_symmetries(kind: str, views: int, seed: int = 0) -> list[Symmetry]:
    """``views`` symmetries, the identity first (Sudoku: seeded random shuffles; Maze: dihedral)."""
    if views < 1:
        raise TrmError(f"--views must be at least 1, got {views}")
    if kind == "maze":
        if views > len(maze.SYMMETRIES):
            raise TrmError(
                f"--views {views}: a maze has only {len(maze.SYMMETRIES)} symmetric views"
            )
        return list(maze.SYMMETRIES[:views])
    rng = np.random.default_rng(seed)
    ident = Symmetry("identity", lambda g: g, lambda g: g)
    return [ident] + [sudoku.random_symmetry(rng) for _ in range(views - 1)]


def decode_answers(kind: str, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model tokens (N, L) -> grids (N, n, n) and a mask of rows that are well-formed grids."""
    if kind == "sudoku":
        ok = ((tokens >= 2) & (tokens <= 10)).all(-1)
        return sudoku.decode(tokens), ok
    ok = ((tokens >= 1) & (tokens <= len(maze.CHARSET))).all(-1)
    return maze.decode(np.where(ok[:, None], tokens, 1)), ok


def solve_grids(
    model: TinyRecursiveModel,
    kind: str,
    grids: list[np.ndarray] | np.ndarray,
    *,
    views: int = 1,
    steps: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    progress=None,
) -> list[SolveResult]:
    """Solve Sudoku or Maze questions (grids) with ``views`` symmetric views each."""
    module = sudoku if kind == "sudoku" else maze
    q = np.stack([np.asarray(g, np.uint8) for g in grids])  # (N, n, n)
    if kind == "maze" and q.shape[-1] ** 2 != model.cfg.seq_len:
        raise TrmError(
            f"maze is {q.shape[-1]}x{q.shape[-1]} but the model expects {model.cfg.seq_len} cells"
        )
    syms = view_symmetries(kind, views, seed)
    k = len(syms)
    # Row order is view-major within each puzzle: row = puzzle * k + view.
    viewed = np.stack([s.forward(q) for s in syms], axis=1)  # (N, K, n, n)
    tokens = module.encode(viewed).reshape(len(q) * k, -1)
    run = run_stream(model, tokens, batch_size=batch_size, steps=steps, progress=progress)
    answers, ok = decode_answers(kind, run.preds)
    answers = answers.reshape(len(q), k, *q.shape[1:])
    back = np.stack([s.inverse(answers[:, v]) for v, s in enumerate(syms)], axis=1)  # (N, K, n, n)
    good = module.verify_batch(np.repeat(q, k, axis=0), back.reshape(len(q) * k, *q.shape[1:]))
    good = (good & ok).reshape(len(q), k)
    results = [
        _choose(back[i], good[i], run.steps.reshape(-1, k)[i], run.q_halt.reshape(-1, k)[i])
        for i in range(len(q))
    ]
    for question, r in zip(q, results):
        if not r.verified:
            keep_givens(kind, question, r)
    return results


def with_givens(kind: str, question: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """``answer`` with the question's givens put back (Sudoku digits; maze walls, S and G)."""
    given = question > 0 if kind == "sudoku" else question != maze.OPEN
    return np.where(given, question, answer).astype(np.uint8)


def keep_givens(kind: str, question: np.ndarray, result: SolveResult) -> None:
    """An unverified answer keeps the question's givens, and says whether the puzzle has a
    solution at all (Sudoku: the exact solver; Maze: breadth-first search)."""
    result.answer = with_givens(kind, question, result.answer)
    if kind == "sudoku":
        result.solvable = sudoku.count_solutions(question, 1) > 0
    else:
        result.solvable = maze.shortest_path_length(question) is not None


def _choose(answers: np.ndarray, good: np.ndarray, steps: np.ndarray, q: np.ndarray) -> SolveResult:
    """A verified answer when any view has one, else the most common (mean q_halt breaks ties)."""
    keys = [a.tobytes() for a in answers]
    counts = Counter(keys)
    if good.any():
        pick = int(np.flatnonzero(good)[0])
        method = "verified"
    else:
        mean_q = {
            key: float(np.mean([q[i] for i in range(len(keys)) if keys[i] == key]))
            for key in counts
        }
        best = max(counts, key=lambda key: (counts[key], mean_q[key]))
        pick = keys.index(best)
        method = "majority"
    return SolveResult(
        answers[pick],
        bool(good[pick]),
        int(steps[pick]),
        len(keys),
        counts[keys[pick]],
        method,
        view_answers=list(answers),
        view_verified=good,
        view_steps=steps,
    )


def results_to_jsonl(results: list[SolveResult], render) -> str:
    """One JSON object per result per line."""
    return "\n".join(json.dumps(r.to_json(render)) for r in results)


# --- ARC -----------------------------------------------------------------------------------


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


def solve_arc_task(
    model: TinyRecursiveModel,
    task: arc.Task,
    *,
    data_path: str = "",
    views: int = 8,
    steps: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    adapt_steps: int = 100,
    progress: bool = False,
) -> list[SolveResult]:
    """Predict every test output of an ARC task by voting over ``views`` augmented views.

    A task seen in training uses its trained puzzle-embedding rows (``embedding="trained"``);
    a new one gets rows fitted on its demonstration pairs (``"adapted"``, ``trm.adapt``).
    """
    if views < 1:
        raise TrmError(f"--views must be at least 1, got {views}")
    known = trained_views(data_path, task.name) if model.puzzle_embedding is not None else []
    rows = None
    if known:
        chosen = known[:views]
        augs, ids = [a for _, a in chosen], np.array([i for i, _ in chosen])
        how = "trained"
    else:
        rng = np.random.default_rng(seed)
        augs = [arc.Augmentation()] + [arc.random_augmentation(rng) for _ in range(views - 1)]
        ids = np.zeros(len(augs), np.int64)
        how = "none"
        if model.puzzle_embedding is not None:
            from trm.adapt import demo_tensors, fit_embeddings

            demo_in, demo_out = demo_tensors(task, augs)
            rows = fit_embeddings(
                model, demo_in, demo_out, steps=adapt_steps, seed=seed, progress=progress
            )
            how = "adapted"
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
        run = run_stream(
            model,
            tokens,
            np.tile(ids, len(task.test)),
            puzzle_rows=None if rows is None else rows.repeat(len(task.test), 1),
            batch_size=batch_size,
            steps=steps,
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
