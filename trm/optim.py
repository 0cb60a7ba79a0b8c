"""Optimisation (SPEC §7): AdamATan2, sign-SGD for puzzle embeddings, LR schedule, EMA.

AdamATan2 is pure PyTorch (``torch._foreach_*`` over all tensors at once; no CUDA extension).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn


class AdamATan2(torch.optim.Optimizer):
    """Adam with ``atan2(m_hat, sqrt(v_hat))`` in place of ``m_hat / (sqrt(v_hat) + eps)``.

    No epsilon, no scale constants (SPEC §7.1). Decoupled weight decay is applied first:
    ``theta *= 1 - lr * wd``. The first step moves every parameter with a non-zero gradient by
    exactly ``lr * pi/4`` against the sign of its gradient.
    """

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.95), weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                if not self.state[p]:
                    self.state[p]["step"] = 0
                    self.state[p]["exp_avg"] = torch.zeros_like(p)
                    self.state[p]["exp_avg_sq"] = torch.zeros_like(p)
            m = [self.state[p]["exp_avg"] for p in params]
            v = [self.state[p]["exp_avg_sq"] for p in params]
            for p in params:
                self.state[p]["step"] += 1
            t = self.state[params[0]]["step"]
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            if wd != 0:
                torch._foreach_mul_(params, 1 - lr * wd)
            torch._foreach_lerp_(m, grads, 1 - beta1)
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, 1 - beta2)
            m_hat = torch._foreach_div(m, 1 - beta1**t)
            d = torch._foreach_sqrt(v)
            torch._foreach_div_(d, math.sqrt(1 - beta2**t))
            for p, mh, dd in zip(params, m_hat, d):
                p.add_(torch.atan2(mh, dd), alpha=-lr)
        return None


@torch.no_grad()
def sign_sgd_rows(
    table: torch.Tensor, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float
) -> None:
    """Sparse sign-SGD on the rows of ``table`` present in the batch (SPEC §7.2).

    ``ids`` (b,) and ``grads`` (b, D) are this rank's; with several ranks they are gathered so
    every rank applies the identical update to its replica. Gradients of repeated ids are summed;
    only touched rows are decayed: ``w[u] = w[u] * (1 - lr * wd) - lr * sign(sum g)``.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        world = dist.get_world_size()
        all_ids = [torch.empty_like(ids) for _ in range(world)]
        all_grads = [torch.empty_like(grads) for _ in range(world)]
        dist.all_gather(all_ids, ids)
        dist.all_gather(all_grads, grads)
        ids, grads = torch.cat(all_ids), torch.cat(all_grads)
    # Sum the gradients of repeated ids with fixed-size tensors only (no data-dependent shapes,
    # so no host synchronisation on a GPU): sort, mark each run's first position, segment-sum.
    ids = ids.long()
    order = torch.argsort(ids, stable=True)
    sorted_ids = ids[order]
    first = torch.ones_like(sorted_ids, dtype=torch.bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    segment = torch.cumsum(first.long(), 0) - 1  # run index of each sorted position
    summed = torch.zeros(len(ids), grads.shape[1], dtype=torch.float32, device=grads.device)
    summed.index_add_(0, segment, grads[order].float())
    rows = table[sorted_ids] * (1 - lr * weight_decay) - lr * torch.sign(summed[segment]).to(
        table.dtype
    )
    table.index_put_((sorted_ids,), rows)  # repeated ids write identical rows


def learning_rate(step: int, base: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to ``base``, then cosine down to ``min_ratio * base`` (step counts from 1)."""
    if step < warmup:
        return base * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class EMA:
    """Exponential moving average of a model's trainable parameters (buffers are not averaged)."""

    def __init__(self, model: nn.Module, rate: float = 0.999):
        self.rate = rate
        self.shadow = {
            n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """``shadow = rate * shadow + (1 - rate) * param`` for every parameter."""
        names = list(self.shadow)
        params = dict(model.named_parameters())
        torch._foreach_lerp_(
            [self.shadow[n] for n in names], [params[n].detach() for n in names], 1 - self.rate
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for n, t in state.items():
            self.shadow[n].copy_(t)

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the model's parameters with the shadow (twice undoes it); no model copy."""
        params = dict(model.named_parameters())
        for n, s in self.shadow.items():
            tmp = params[n].detach().clone()
            params[n].copy_(s)
            s.copy_(tmp)
