"""Deep supervision with adaptive halting (SPEC §5): the one engine every caller steps through.

Every batch slot carries ``(y, z)``, a step counter and its current example across supervision
steps. After each step one function, ``should_halt``, decides which slots are done; a done slot
is refilled with a fresh example and fresh states, so the batch shape never changes (which is
what lets the step be compiled with static shapes).

Two drivers share the step, the halting rule and the refill:

- ``supervision_step``: training (and ARC embedding fitting). The next example of every slot
  comes from the sampler's batch; the step returns the loss.
- ``stream``: inference (``trm solve``, ``trm eval``, training-time evaluation, traces). Rows
  wait in a queue and take the place of slots that halted; per row it returns the answer
  tokens, the steps used and the last halting logit (and, given labels, metric sums; on
  request, the per-cell probabilities of the last step, which the search branches on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from trm.batch import Batch
from trm.losses import answer_loss_weights, step_loss
from trm.model import StepOutput, TinyRecursiveModel
from trm.runtime import Runtime, inference_runtime


@dataclass
class Carry:
    """Per-slot state kept between supervision steps (all tensors have batch size b)."""

    y: torch.Tensor  # (b, S, D) answer state, detached
    z: torch.Tensor  # (b, S, D) latent state, detached
    steps: torch.Tensor  # (b,) int32 supervision steps taken on the current example
    halted: torch.Tensor  # (b,) bool: the slot takes a new example at the next step
    data: Batch  # the slot's current example

    def state_dict(self) -> dict[str, torch.Tensor]:
        d = self.data
        return {
            "y": self.y,
            "z": self.z,
            "steps": self.steps,
            "halted": self.halted,
            "inputs": d.inputs,
            "labels": d.labels,
            "puzzle_identifiers": d.puzzle_identifiers,
        }

    @classmethod
    def from_state_dict(cls, s: dict[str, torch.Tensor]) -> Carry:
        return cls(
            s["y"],
            s["z"],
            s["steps"],
            s["halted"],
            Batch(s["inputs"], s["labels"], s["puzzle_identifiers"]),
        )


def initial_carry(model: TinyRecursiveModel, batch: Batch, dtype: torch.dtype) -> Carry:
    """A carry whose slots are all halted, so the first step loads fresh data everywhere."""
    b = batch.inputs.shape[0]
    device = batch.inputs.device
    y, z = model.initial_state(b, device, dtype)
    return Carry(
        y.contiguous(),
        z.contiguous(),
        torch.zeros(b, dtype=torch.int32, device=device),
        torch.ones(b, dtype=torch.bool, device=device),
        batch,
    )


def refill(model: TinyRecursiveModel, carry: Carry, batch: Batch) -> Carry:
    """Replace halted slots by the new batch's rows with fresh states and a zero step count."""
    h = carry.halted
    y0, z0 = model.initial_state(h.shape[0], h.device, carry.y.dtype)
    hs = h.view(-1, 1, 1)
    hr = h.view(-1, 1)
    data = Batch(
        torch.where(hr, batch.inputs, carry.data.inputs),
        torch.where(hr, batch.labels, carry.data.labels),
        torch.where(h, batch.puzzle_identifiers, carry.data.puzzle_identifiers),
    )
    return Carry(
        torch.where(hs, y0, carry.y),
        torch.where(hs, z0, carry.z),
        torch.where(h, 0, carry.steps),
        h,
        data,
    )


# --- the halting decision ------------------------------------------------------------------


def should_halt(
    q_halt: torch.Tensor,
    steps: torch.Tensor,
    max_steps: int,
    *,
    adaptive: bool,
    exploration_prob: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Which slots are done after a step: at ``max_steps``, or (``adaptive``) when ``q_halt > 0``.

    ``exploration_prob`` (training only): with that probability a slot must first reach a
    minimum step count drawn uniformly from 2..max_steps. Without ``adaptive`` every slot runs
    exactly ``max_steps`` steps (evaluation of the paper's number, ``--steps N``).
    """
    halted = steps >= max_steps
    if adaptive and max_steps > 1:
        halted = halted | (q_halt > 0)
        if exploration_prob is not None:
            # Draw for the global batch and keep this rank's slice, so that W ranks halt
            # exactly like one process with the same global batch.
            b = steps.shape[0]
            rank, world = _rank_and_world()
            n = b * world
            explore = torch.rand(n, generator=generator, device=steps.device) < exploration_prob
            low = torch.randint(2, max_steps + 1, (n,), generator=generator, device=steps.device)
            mine = slice(rank * b, (rank + 1) * b)
            halted = halted & (steps >= torch.where(explore[mine], low[mine], 0))
    return halted


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# --- training: one supervision step on the sampler's batch ---------------------------------


@dataclass
class StepResult:
    """What one training supervision step gives back."""

    carry: Carry
    loss: torch.Tensor  # summed over slots (divide by the global batch before backward)
    metrics: dict[str, torch.Tensor]  # device sums over the slots that halted
    out: StepOutput
    puzzle_rows: torch.Tensor | None  # the rows used; a grad leaf when training (sign-SGD)


def supervision_step(
    model: torch.nn.Module,
    carry: Carry,
    batch: Batch,
    *,
    training: bool,
    exploration_prob: float = 0.0,
    generator: torch.Generator | None = None,
    loss_type: str = "stablemax",
    puzzle_rows: torch.Tensor | None = None,
    step_loss_decay: float = 1.0,
    final_step_only: bool = False,
) -> StepResult:
    """One deep-supervision step on every slot: refill, recurse, halt, loss.

    ``training``: halting by the Q head with exploration, and the batch's puzzle-embedding rows
    become gradient leaves (for sign-SGD). Otherwise every slot runs ``max_supervision_steps``
    steps. ``puzzle_rows`` (b, E) replaces the table's rows (ARC embedding fitting passes rows
    with gradient). ``step_loss_decay`` and ``final_step_only`` weight the answer loss by the
    supervision step (``trm.losses.answer_loss_weights``). ``model`` may be wrapped (DDP,
    compiled); its plain model is unwrapped.
    """
    core = unwrap(model)
    carry = refill(core, carry, batch)
    rows = puzzle_rows
    if rows is None:
        rows = core.puzzle_rows(carry.data.puzzle_identifiers)
        if rows is not None and training:
            rows = rows.detach().requires_grad_(True)
    out = model(carry.data.inputs, rows, carry.y, carry.z)
    steps = carry.steps + 1
    with torch.no_grad():
        halted = should_halt(
            out.q_halt,
            steps,
            core.cfg.max_supervision_steps,
            adaptive=training,
            exploration_prob=exploration_prob if training else None,
            generator=generator,
        )
    weights = answer_loss_weights(steps, halted, step_loss_decay, final_step_only)
    labels = carry.data.labels
    loss, metrics = step_loss(out.logits, labels, out.q_halt, halted, steps, loss_type, weights)
    return StepResult(Carry(out.y, out.z, steps, halted, carry.data), loss, metrics, out, rows)


def unwrap(model: torch.nn.Module) -> TinyRecursiveModel:
    """The plain model inside DDP / ``torch.compile`` wrappers."""
    while not isinstance(model, TinyRecursiveModel):
        model = getattr(model, "module", None) or model._orig_mod
    return model


# --- inference: a stream of rows through a fixed batch of slots ----------------------------


@dataclass(frozen=True)
class Halting:
    """When an inference slot is done.

    ``max_steps``: the step limit (None: the model's ``max_supervision_steps``; it may be set
    higher than the model was trained with). ``adaptive``: stop earlier when ``q_halt > 0``.
    ``is_done``: an optional external test ``(inputs, answers)`` -> (b,) bool on the question
    and answer tokens (b, L), e.g. a rules check (``trm.inference.solve.rules_check``), that
    also ends a slot.
    """

    max_steps: int | None = None
    adaptive: bool = True
    is_done: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    @property
    def mode(self) -> str:
        """``fixed`` (every step up to the limit), ``head``, ``rules`` or ``both``: what may
        stop a slot before its limit (``is_done`` is the rules check where one is set)."""
        if self.is_done is None:
            return "head" if self.adaptive else "fixed"
        return "both" if self.adaptive else "rules"

    def check(
        self, out: StepOutput, steps: torch.Tensor, limit: int, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(which slots are done, which passed ``is_done``: None without it)."""
        d = should_halt(out.q_halt, steps, limit, adaptive=self.adaptive)
        if self.is_done is None:
            return d, None
        passed = self.is_done(inputs, out.logits.argmax(-1))
        return d | passed, passed


ADAPTIVE = Halting()  # q_halt > 0 or the model's maximum (`trm solve`)
ALL_STEPS = Halting(adaptive=False)  # every row runs the model's maximum (the paper's number)


@dataclass
class StreamOutput:
    """Per input row: answer tokens (N, L), supervision steps used (N,), last q_halt (N,), with
    labels the metric sums of ``trm.losses.step_loss`` over the rows (device tensors), and with
    ``stream(..., probs=True)`` the softmax of the last step's logits (N, L, V) float32."""

    preds: np.ndarray
    steps: np.ndarray
    q_halt: np.ndarray
    metrics: dict[str, torch.Tensor] | None = None
    probs: np.ndarray | None = None


# Called after every step with the step output and the input row held by each slot.
StepHook = Callable[[StepOutput, torch.Tensor], None]


@torch.inference_mode()
def stream(
    model: torch.nn.Module,
    inputs: np.ndarray | torch.Tensor,
    *,
    puzzle_ids: np.ndarray | None = None,
    puzzle_rows: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    halting: Halting = ADAPTIVE,
    batch_size: int = 256,
    runtime: Runtime | None = None,
    on_step: StepHook | None = None,
    progress=None,
    probs: bool = False,
    groups: np.ndarray | None = None,
) -> StreamOutput:
    """Run every row of ``inputs`` (N, L) tokens through a fixed batch of ``batch_size`` slots.

    Puzzle embeddings come from ``puzzle_ids`` (N,) rows of the model's table, or directly
    from ``puzzle_rows`` (N, E) (fitted by ``trm.inference.arc``). ``runtime`` sets the precision
    (default: ``auto`` on the model's device). The host reads one small mask per step.
    ``probs``: also keep the per-cell probabilities of every last step (``StreamOutput.probs``).
    ``groups`` (N,) ints: rows that share a value are views of one puzzle; once one of them
    passes ``halting.is_done``, the others stop at their next step (a row of a solved group that
    was still waiting for a slot runs one step).
    """
    core = unwrap(model)
    device = core.token_embedding.device
    n = len(inputs)
    if n == 0:
        width = inputs.shape[1] if inputs.ndim == 2 else 0
        empty = np.zeros((0, width, core.cfg.vocab_size), np.float32) if probs else None
        return StreamOutput(
            np.zeros((0, width), np.int64), np.zeros(0, np.int64), np.zeros(0), probs=empty
        )
    limit = halting.max_steps if halting.max_steps is not None else core.cfg.max_supervision_steps
    if limit < 1:
        raise ValueError(f"the step limit must be at least 1, got {limit}")
    rt = runtime or inference_runtime(device)
    autocast = rt.autocast()
    queue = _Queue(core, inputs, puzzle_ids, puzzle_rows, labels, device)
    slots = _Slots(core, queue, min(batch_size, n), rt.state_dtype, probs)
    siblings = None if groups is None else _Siblings(groups, device)
    while slots.live:
        with autocast():
            out = model(slots.x, slots.rows, slots.y, slots.z)
        slots.y, slots.z = out.y, out.z
        slots.steps += 1
        if on_step is not None:
            on_step(out, slots.row)
        done, passed = halting.check(out, slots.steps, limit, slots.x)
        if siblings is not None and passed is not None:
            done = done | siblings.solved(slots.row, passed & slots.active)
        done = done & slots.active
        idx = done.nonzero().squeeze(1)  # the one host read per step
        if len(idx):
            slots.finish(idx, out)
            if progress is not None:
                progress.update(len(idx))
    return slots.output()


class _Siblings:
    """Which groups of rows (a puzzle's views) have a row that passed the check."""

    def __init__(self, groups: np.ndarray, device: torch.device):
        self.group = torch.as_tensor(np.asarray(groups, np.int64), device=device)  # (N,)
        self.done = torch.zeros(int(self.group.max()) + 1, dtype=torch.bool, device=device)

    def solved(self, rows: torch.Tensor, passed: torch.Tensor) -> torch.Tensor:
        """Mark the groups of the slots that ``passed``; which slots hold a row of a solved
        group (rows: the input row of each slot)."""
        self.done[self.group[rows[passed]]] = True
        return self.done[self.group[rows]]


class _Queue:
    """The rows waiting for a slot, on the device."""

    def __init__(self, core, inputs, puzzle_ids, puzzle_rows, labels, device):
        n = len(inputs)
        self.x = torch.as_tensor(np.asarray(inputs, dtype=np.int32), device=device)
        if puzzle_rows is None:
            ids = np.zeros(n, np.int64) if puzzle_ids is None else np.asarray(puzzle_ids, np.int64)
            self.rows = core.puzzle_rows(torch.as_tensor(ids, device=device))
        else:
            self.rows = puzzle_rows.to(device)
        self.labels = None if labels is None else labels.to(device)
        self.next = 0  # the first row not yet given a slot
        self.n = n


class _Slots:
    """The fixed batch: which row each slot holds, its tokens, states and step count."""

    def __init__(
        self, core: TinyRecursiveModel, queue: _Queue, b: int, dtype: torch.dtype, probs: bool
    ):
        device = queue.x.device
        self.core, self.queue = core, queue
        self.row = torch.arange(b, device=device)  # which input row each slot holds
        self.x = queue.x[:b].clone()
        self.rows = queue.rows[:b].clone() if queue.rows is not None else None
        y0, z0 = core.initial_state(1, device, dtype)
        self.y0, self.z0 = y0[0], z0[0]
        self.y, self.z = y0.expand(b, -1, -1).clone(), z0.expand(b, -1, -1).clone()
        self.steps = torch.zeros(b, dtype=torch.int32, device=device)
        self.active = torch.ones(b, dtype=torch.bool, device=device)
        self.live = b
        queue.next = b
        n = queue.n
        self.preds = torch.zeros(queue.x.shape, dtype=torch.int64, device=device)
        self.steps_out = torch.zeros(n, dtype=torch.int32, device=device)
        self.q_out = torch.zeros(n, dtype=torch.float32, device=device)
        self.metrics: dict[str, torch.Tensor] = {}
        shape = (*queue.x.shape, core.cfg.vocab_size)  # (N, L, V), only when asked for
        self.probs = torch.zeros(shape, device=device) if probs else None

    def finish(self, idx: torch.Tensor, out: StepOutput) -> None:
        """Record the answers of slots ``idx``; refill them from the queue or retire them."""
        rows = self.row[idx]
        self.preds[rows] = out.logits[idx].argmax(-1)
        self.steps_out[rows] = self.steps[idx]
        self.q_out[rows] = out.q_halt[idx].float()
        if self.probs is not None:
            self.probs[rows] = out.logits[idx].float().softmax(-1)
        q = self.queue
        if q.labels is not None:
            ones = torch.ones(len(idx), dtype=torch.bool, device=idx.device)
            _, m = step_loss(
                out.logits[idx], q.labels[rows], out.q_halt[idx], ones, self.steps[idx]
            )
            for k, v in m.items():
                self.metrics[k] = self.metrics.get(k, 0) + v.float()
        k = min(len(idx), q.n - q.next)
        refill_, retire = idx[:k], idx[k:]
        if k:
            new = torch.arange(q.next, q.next + k, device=idx.device)
            self.row[refill_] = new
            self.x[refill_] = q.x[new]
            if self.rows is not None:
                self.rows[refill_] = q.rows[new]
            self.y[refill_], self.z[refill_] = self.y0.to(self.y.dtype), self.z0.to(self.z.dtype)
            self.steps[refill_] = 0
            q.next += k
        if len(retire):
            self.active[retire] = False
            self.live -= len(retire)

    def output(self) -> StreamOutput:
        return StreamOutput(
            self.preds.cpu().numpy(),
            self.steps_out.cpu().numpy().astype(np.int64),
            self.q_out.cpu().numpy(),
            self.metrics if self.queue.labels is not None else None,
            None if self.probs is None else self.probs.cpu().numpy(),
        )
