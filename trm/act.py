"""Deep supervision with adaptive halting (SPEC §5): the carry and one supervision step.

Every batch slot carries ``(y, z)``, a step counter and its current example across optimiser
steps. A slot that halted is refilled with a fresh example and fresh states, so the batch
shape never changes (which is what lets the step be compiled with static shapes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trm.data import Batch
from trm.losses import step_loss
from trm.model import StepOutput, TinyRecursiveModel


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


def should_halt(
    out: StepOutput,
    steps: torch.Tensor,
    max_steps: int,
    exploration_prob: float,
    training: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Halting after a step: at ``max_steps``, or (training) when the Q head says so.

    With probability ``exploration_prob`` a slot must first reach a minimum step count drawn
    uniformly from 2..max_steps. At evaluation every slot runs all ``max_steps`` steps.
    """
    halted = steps >= max_steps
    if training and max_steps > 1:
        halted = halted | (out.q_halt > 0)
        # Draw for the global batch and keep this rank's slice, so that W ranks halt exactly
        # like one process with the same global batch.
        b = steps.shape[0]
        rank, world = _rank_and_world()
        n = b * world
        explore = torch.rand(n, generator=generator, device=steps.device) < exploration_prob
        min_steps = torch.randint(2, max_steps + 1, (n,), generator=generator, device=steps.device)
        mine = slice(rank * b, (rank + 1) * b)
        halted = halted & (steps >= torch.where(explore[mine], min_steps[mine], 0))
    return halted


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def supervision_step(
    model: torch.nn.Module,
    carry: Carry,
    batch: Batch,
    *,
    training: bool,
    generator: torch.Generator | None = None,
    loss_type: str = "stablemax",
) -> tuple[Carry, torch.Tensor, dict[str, torch.Tensor], StepOutput, torch.Tensor | None]:
    """One deep-supervision step on every slot: refill, recurse, halt, loss.

    ``model`` may be wrapped (DDP, compiled); its ``module``/``_orig_mod`` is the plain model.
    Returns the new carry, the summed loss, metric sums, the step output, and the batch's
    puzzle-embedding rows (a leaf with gradient when training, for sign-SGD).
    """
    core = _unwrap(model)
    carry = refill(core, carry, batch)
    rows = core.puzzle_rows(carry.data.puzzle_identifiers)
    if rows is not None and training:
        rows = rows.detach().requires_grad_(True)
    out = model(carry.data.inputs, rows, carry.y, carry.z)
    steps = carry.steps + 1
    with torch.no_grad():
        halted = should_halt(
            out,
            steps,
            core.cfg.max_supervision_steps,
            core.cfg.halt_exploration_prob,
            training,
            generator,
        )
    loss, metrics = step_loss(out.logits, carry.data.labels, out.q_halt, halted, steps, loss_type)
    new = Carry(out.y, out.z, steps, halted, carry.data)
    return new, loss, metrics, out, rows


def _unwrap(model: torch.nn.Module) -> TinyRecursiveModel:
    while not isinstance(model, TinyRecursiveModel):
        model = getattr(model, "module", None) or model._orig_mod
    return model
