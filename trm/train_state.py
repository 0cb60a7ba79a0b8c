"""The state of a training run, and how it is saved and restored exactly (``checkpoint.pt``).

``TrainState`` holds everything a run changes; ``save_checkpoint`` gathers every rank's carry and
generator into one resumable file and ``restore_checkpoint`` puts them back, so a resumed run
continues with the same losses as one that never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from trm.act import Carry
from trm.checkpoint import save_training_state
from trm.config import TrainConfig, to_yaml
from trm.data import TrainSampler
from trm.errors import TrmError
from trm.model import TinyRecursiveModel
from trm.optim import EMA, AdamATan2, learning_rate
from trm.run_layout import CHECKPOINT
from trm.runtime import Runtime, gather_objects


@dataclass
class TrainState:
    """Everything a training run changes, and what it needs to change it."""

    cfg: TrainConfig
    rt: Runtime
    core: TinyRecursiveModel  # the plain model (its weights, the puzzle-embedding table)
    fwd: torch.nn.Module  # what steps call: the model, compiled and/or DDP-wrapped
    adam: AdamATan2
    ema: EMA | None
    sampler: TrainSampler | None
    generator: torch.Generator  # halting exploration; the same on every rank
    steps_total: int
    step: int = 0
    seconds: float = 0.0  # wall time spent in training steps so far (not evaluation), all sittings
    carry: Carry | None = None
    sampler_state: dict = field(default_factory=dict)  # position after the last consumed batch

    @property
    def loss_scale(self) -> float:
        """1 / examples the summed loss is divided by (DDP averages gradients over ranks)."""
        b = self.cfg.global_batch_size
        return 1 / (b // self.rt.world_size if self.rt.world_size > 1 else b)

    def learning_rates(self) -> tuple[float, float]:
        """(network lr, puzzle-embedding lr) of the current step (warm-up, then cosine)."""
        c = self.cfg
        sched = (self.step, c.lr_warmup_steps, self.steps_total, c.lr_min_ratio)
        return (
            learning_rate(self.step, c.lr, *sched[1:]),
            learning_rate(self.step, c.puzzle_emb_lr, *sched[1:]),
        )


def restore_checkpoint(state: TrainState, saved: dict, run_dir: Path) -> None:
    """Load a run's resumable checkpoint into ``state`` (this rank's carry and generator)."""
    rt = state.rt
    try:
        state.core.load_state_dict(saved["model"])
    except RuntimeError as e:  # shapes the config check could not see (no config in the file)
        lines = str(e).strip().splitlines()
        raise TrmError(
            f"{run_dir / CHECKPOINT}: does not fit the model ({lines[-1].strip()})"
        ) from None
    state.adam.load_state_dict(saved["adam"])
    if state.ema is not None:
        state.ema.load_state_dict(saved["ema"])
    state.sampler.load_state_dict(saved["sampler"])
    state.sampler_state = state.sampler.state_dict()
    state.generator.set_state(saved["generator"][rt.rank])
    state.step = saved["step"]
    state.seconds = saved.get("seconds", 0.0)  # checkpoints before this field: unknown, 0
    if saved["carry"] is not None:
        carry = {k: v.to(rt.device) for k, v in saved["carry"][rt.rank].items()}
        state.carry = Carry.from_state_dict(carry)


def save_checkpoint(state: TrainState, run_dir: Path) -> None:
    """Write the resumable checkpoint (every rank's carry and generator, gathered to rank 0)."""
    c = state.carry
    carries = gather_objects(
        [None if c is None else {k: v.cpu() for k, v in c.state_dict().items()}], state.rt
    )
    gens = gather_objects([state.generator.get_state()], state.rt)
    if state.rt.is_main:
        save_training_state(
            run_dir,
            {
                "step": state.step,
                "seconds": state.seconds,
                "model": state.core.state_dict(),
                "adam": state.adam.state_dict(),
                "ema": state.ema.state_dict() if state.ema else None,
                "sampler": state.sampler_state,
                "generator": gens,
                "carry": carries,
                "config": to_yaml(state.cfg),
            },
        )
