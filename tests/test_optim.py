"""AdamATan2 against its formula, sparse sign-SGD, the schedule and EMA (SPEC §7)."""

from __future__ import annotations

import math

import pytest
import torch

from trm.optim import EMA, AdamATan2, learning_rate, sign_sgd_rows


def adam_atan2_reference(theta, grads, lr, wd, b1=0.9, b2=0.95):
    theta = theta.double().clone()
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        g = g.double()
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * torch.atan2(m / (1 - b1**t), v.sqrt() / math.sqrt(1 - b2**t))
    return theta


def test_adam_atan2_matches_formula_over_steps():
    g = torch.Generator().manual_seed(0)
    theta0 = torch.randn(6, 5, generator=g)
    grads = [torch.randn(6, 5, generator=g) for _ in range(7)]
    p = torch.nn.Parameter(theta0.clone())
    opt = AdamATan2([p], lr=0.01, betas=(0.9, 0.95), weight_decay=0.5)
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
    assert torch.allclose(
        p.detach().double(), adam_atan2_reference(theta0, grads, 0.01, 0.5), atol=1e-6
    )


def test_adam_atan2_first_step_is_lr_pi_over_4():
    p = torch.nn.Parameter(torch.ones(4))
    p.grad = torch.tensor([3.0, -0.001, 0.0, 7.0])
    AdamATan2([p], lr=0.1, weight_decay=1.0).step()
    decayed = 1 - 0.1
    expected = torch.tensor(
        [
            decayed - 0.1 * math.pi / 4,
            decayed + 0.1 * math.pi / 4,
            decayed,
            decayed - 0.1 * math.pi / 4,
        ]
    )
    assert torch.allclose(p.detach(), expected)


def test_sign_sgd_touches_only_batch_rows_and_sums_duplicates():
    table = torch.ones(5, 3)
    ids = torch.tensor([1, 3, 1])
    grads = torch.tensor([[1.0, -1.0, 2.0], [-1.0, 1.0, 0.0], [-3.0, -1.0, 0.0]])
    sign_sgd_rows(table, ids, grads, lr=0.1, weight_decay=1.0)
    decayed = 0.9
    assert torch.allclose(
        table[1], torch.tensor([decayed + 0.1, decayed + 0.1, decayed - 0.1])
    )  # sum (-2,-2,2)
    assert torch.allclose(table[3], torch.tensor([decayed + 0.1, decayed - 0.1, decayed]))
    for untouched in (0, 2, 4):
        assert torch.equal(table[untouched], torch.ones(3))


def test_schedule_warmup_then_constant_or_cosine():
    assert learning_rate(1, 1e-4, 2000, 65104, 1.0) == pytest.approx(1e-4 / 2000)
    assert learning_rate(2000, 1e-4, 2000, 65104, 1.0) == pytest.approx(1e-4)
    assert learning_rate(60000, 1e-4, 2000, 65104, 1.0) == pytest.approx(1e-4)
    assert learning_rate(65104, 1.0, 100, 65104, 0.1) == pytest.approx(0.1)
    assert learning_rate(100 + (65104 - 100) // 2, 1.0, 100, 65104, 0.0) == pytest.approx(
        0.5, abs=1e-4
    )


def test_ema_update_and_swap():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, rate=0.9)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 1.2))
    ema.swap(model)
    assert torch.allclose(model.weight, torch.full((1, 2), 1.2))
    ema.swap(model)
    assert torch.allclose(model.weight, torch.full((1, 2), 3.0))
