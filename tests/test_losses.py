"""Stablemax in float32 against float64, the halting target and the metrics (SPEC §6)."""

from __future__ import annotations

import pytest
import torch

from trm.losses import (
    IGNORE_LABEL,
    log_stablemax,
    softmax_cross_entropy,
    stablemax_cross_entropy,
    step_loss,
)


def stablemax_reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The official float64 formulation: s(v) = v + 1 or 1 / (1 - v + 1e-30)."""
    v = logits.double()
    s = torch.where(v >= 0, v + 1, 1 / (1 - v + 1e-30))
    p = s / s.sum(-1, keepdim=True)
    valid = labels != IGNORE_LABEL
    picked = torch.gather(p, -1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -torch.log(picked), 0.0)


def test_stablemax_reference_values():
    assert torch.allclose(
        log_stablemax(torch.tensor([0.0, 1.0, -1.0])).exp(), torch.tensor([2 / 7, 4 / 7, 1 / 7])
    )


@pytest.mark.parametrize("scale", [0.1, 1, 10, 100, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_stablemax_float32_matches_float64(scale, dtype):
    g = torch.Generator().manual_seed(int(scale * 10))
    logits = (torch.randn(4, 50, 12, generator=g) * scale).to(dtype)
    labels = torch.randint(0, 12, (4, 50), generator=g)
    labels[0, :5] = IGNORE_LABEL
    ours = stablemax_cross_entropy(logits, labels)
    assert ours.dtype == torch.float32
    ref = stablemax_reference(logits.float(), labels)
    assert (ours.double() - ref).abs().max().item() < 1e-5
    assert (ours[0, :5] == 0).all()


def test_softmax_option_matches_torch():
    logits, labels = torch.randn(2, 7, 5), torch.randint(0, 5, (2, 7))
    labels[1, 3] = IGNORE_LABEL
    expected = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, reduction="none", ignore_index=-100
    )
    assert torch.allclose(softmax_cross_entropy(logits, labels), expected, atol=1e-6)


def test_step_loss_halting_target_and_metrics():
    # Slot 0 exactly right, slot 1 one token wrong, slot 2 padding (no valid label).
    labels = torch.tensor([[2, 3, 4], [2, 3, 4], [IGNORE_LABEL] * 3])
    logits = torch.full((3, 3, 6), -5.0)
    for s in range(2):
        for t, lab in enumerate([2, 3, 4]):
            logits[s, t, lab] = 5.0
    logits[1, 2, 4], logits[1, 2, 5] = -5.0, 5.0
    q_halt = torch.tensor([1.0, 1.0, -1.0])
    halted = torch.tensor([True, True, True])
    steps = torch.tensor([3, 5, 16])
    loss, m = step_loss(logits, labels, q_halt, halted, steps)
    lm = stablemax_cross_entropy(logits, labels).sum(-1)[:2] / 3
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        q_halt, torch.tensor([1.0, 0.0, 1.0]), reduction="sum"
    )
    assert torch.allclose(loss, lm.sum() + 0.5 * bce)
    assert m["count"].item() == 2  # the padded slot is not counted
    assert m["exact_accuracy"].item() == 1
    assert m["accuracy"].item() == pytest.approx(1 + 2 / 3)
    assert m["q_halt_accuracy"].item() == 1  # q>=0 predicts right for slot 0, wrong for slot 1
    assert m["steps"].item() == 8


def test_metrics_count_only_halted_slots():
    labels = torch.tensor([[2, 3], [2, 3]])
    logits = torch.randn(2, 2, 6)
    _, m = step_loss(
        logits, labels, torch.zeros(2), torch.tensor([True, False]), torch.tensor([1, 1])
    )
    assert m["count"].item() == 1
