"""One collated batch of examples: what the data pipeline yields and the engine consumes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE_LABEL = -100  # a label cell that no loss counts


@dataclass
class Batch:
    """A collated batch: int32 tensors; labels use -100 for ignored cells."""

    inputs: torch.Tensor  # (b, L)
    labels: torch.Tensor  # (b, L)
    puzzle_identifiers: torch.Tensor  # (b,)

    def to(self, device, non_blocking: bool = False) -> Batch:
        return Batch(
            *(
                t.to(device, non_blocking=non_blocking)
                for t in (self.inputs, self.labels, self.puzzle_identifiers)
            )
        )

    def pin_memory(self) -> Batch:
        return Batch(
            self.inputs.pin_memory(), self.labels.pin_memory(), self.puzzle_identifiers.pin_memory()
        )
