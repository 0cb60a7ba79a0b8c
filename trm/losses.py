"""Losses and metrics of one supervision step (SPEC §6).

Stablemax replaces the softmax's exp by s(v) = v + 1 (v >= 0) or 1 / (1 - v) (v < 0). The
official code evaluates it in float64; here it is evaluated in float32 through log s(v)
(``log1p`` on both branches) and a log-sum, which matches the float64 reference to 1e-5 and
runs on every device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_LABEL = -100


def log_stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of the stablemax probabilities, in float32."""
    v = logits.float()
    log_s = torch.where(v >= 0, torch.log1p(v.clamp(min=0)), -torch.log1p((-v).clamp(min=0)))
    return log_s - torch.logsumexp(log_s, dim=dim, keepdim=True)


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token stablemax cross-entropy (B, L) in float32; ignored labels (-100) give 0."""
    valid = labels != IGNORE_LABEL
    logp = log_stablemax(logits)
    picked = torch.gather(logp, -1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -picked, 0.0)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token softmax cross-entropy (B, L) in float32; ignored labels give 0."""
    b, length, v = logits.shape
    loss = F.cross_entropy(
        logits.float().reshape(-1, v),
        labels.long().reshape(-1),
        ignore_index=IGNORE_LABEL,
        reduction="none",
    )
    return loss.view(b, length)


LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}
# The metric sums of ``step_loss``, by name.
METRICS = (
    "count",
    "accuracy",
    "exact_accuracy",
    "q_halt_accuracy",
    "steps",
    "lm_loss",
    "q_halt_loss",
)


def step_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    q_halt: torch.Tensor,
    halted: torch.Tensor,
    steps: torch.Tensor,
    loss_type: str = "stablemax",
    lm_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Summed loss of one supervision step and its metric sums (SPEC §6.2-6.3).

    ``loss = sum_s w_s mean_tokens CE + 0.5 * sum_s BCE(q_halt_s, exactly_right_s)``, summed
    over slots (divide by the global batch before backward); ``w_s`` = ``lm_weights`` (b,), 1 in
    the paper. Metrics are device tensors, counted over slots that are halted after this step
    and have a valid label; nothing is synchronised.
    """
    valid = labels != IGNORE_LABEL
    n_valid = valid.sum(-1)
    per_token = LOSSES[loss_type](logits, labels)
    per_slot = per_token.sum(-1) / n_valid.clamp(min=1)
    lm_loss = (per_slot if lm_weights is None else per_slot * lm_weights).sum()

    with torch.no_grad():
        token_right = (logits.argmax(-1) == labels) & valid
        n_right = token_right.sum(-1)
        exact = n_right == n_valid  # the whole answer is right
        counted = halted & (n_valid > 0)
    q_halt_loss = F.binary_cross_entropy_with_logits(
        q_halt, exact.to(q_halt.dtype), reduction="sum"
    )
    loss = lm_loss + 0.5 * q_halt_loss

    with torch.no_grad():
        c = counted.float()
        metrics = {
            "count": c.sum(),
            "accuracy": (c * n_right / n_valid.clamp(min=1)).sum(),
            "exact_accuracy": (c * exact).sum(),
            "q_halt_accuracy": (c * ((q_halt >= 0) == exact)).sum(),
            "steps": (c * steps).sum(),
            "lm_loss": lm_loss.detach(),
            "q_halt_loss": q_halt_loss.detach(),
        }
    return loss, metrics


def answer_loss_weights(
    steps: torch.Tensor, halted: torch.Tensor, decay: float = 1.0, final_only: bool = False
) -> torch.Tensor | None:
    """Per-slot answer-loss weights (b,): ``decay^(step-1)``, and 0 on a slot's non-final
    steps with ``final_only``; None for the paper's uniform weights."""
    if decay == 1.0 and not final_only:
        return None
    w = torch.pow(torch.full_like(steps, decay, dtype=torch.float32), (steps - 1).float())
    return w * halted.float() if final_only else w


def normalise_metrics(sums: dict[str, float], batch_size: int | None) -> dict[str, float]:
    """Metric sums to means: losses by ``batch_size`` (by count when None), the rest by count."""
    count = sums.get("count", 0.0)
    out = {}
    for k, v in sums.items():
        if k == "count":
            out[k] = v
        elif k.endswith("loss") and batch_size is not None:
            out[k] = v / batch_size
        elif count > 0:  # with no halted slot there is no accuracy to report (not zero)
            out[k] = v / count
    return out
