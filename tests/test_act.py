"""Deep supervision with halting: row replacement, halting rule, exploration (SPEC §5)."""

from __future__ import annotations

import torch
from tiny_data import tiny_config

from trm.act import initial_carry, refill, should_halt, supervision_step
from trm.batch import Batch
from trm.model import TinyRecursiveModel


def model_and_batch(b=4, max_steps=16):
    cfg = tiny_config(
        recursions=2,
        seq_len=5,
        puzzle_emb_dim=32,
        num_puzzle_identifiers=3,
        max_supervision_steps=max_steps,
    )
    torch.manual_seed(0)
    model = TinyRecursiveModel(cfg)
    x = torch.randint(2, 11, (b, 5), dtype=torch.int32)
    return model, Batch(x, x.clone(), torch.zeros(b, dtype=torch.int32))


def test_halted_rows_are_replaced_with_fresh_state_others_kept():
    model, batch = model_and_batch()
    carry = initial_carry(model, batch, torch.float32)
    carry = supervision_step(model, carry, batch, training=False).carry
    assert carry.steps.tolist() == [1, 1, 1, 1]
    carry.halted = torch.tensor([True, False, True, False])
    new = Batch(torch.full_like(batch.inputs, 7), batch.labels, torch.ones(4, dtype=torch.int32))
    r = refill(model, carry, new)
    y0, z0 = model.initial_state(4)
    assert torch.equal(r.data.inputs[0], new.inputs[0]) and torch.equal(
        r.data.inputs[1], carry.data.inputs[1]
    )
    assert r.data.puzzle_identifiers.tolist() == [1, 0, 1, 0]
    assert torch.equal(r.y[0], y0[0]) and torch.equal(r.z[2], z0[2])
    assert torch.equal(r.y[1], carry.y[1]) and torch.equal(r.z[3], carry.z[3])
    assert r.steps.tolist() == [0, 1, 0, 1]


def test_first_step_loads_every_slot():
    model, batch = model_and_batch()
    carry = initial_carry(model, batch, torch.float32)
    assert carry.halted.all()
    carry = supervision_step(model, carry, batch, training=True).carry
    assert torch.equal(carry.data.inputs, batch.inputs)


def test_halting_rule_training_and_eval():
    steps = torch.tensor([1, 1, 16, 3])
    q = torch.tensor([1.0, -1.0, -1.0, 2.0])
    # Evaluation: only the maximum halts, whatever the Q head says.
    assert should_halt(q, steps, 16, adaptive=False).tolist() == [
        False,
        False,
        True,
        False,
    ]
    # Training without exploration: Q > 0 or maximum.
    assert should_halt(q, steps, 16, adaptive=True, exploration_prob=0.0).tolist() == [
        True,
        False,
        True,
        True,
    ]


def test_exploration_sets_a_minimum_of_2_to_max_steps():
    g = torch.Generator().manual_seed(0)
    n = 20000
    q = torch.full((n,), 10.0)  # the Q head wants to halt everywhere
    ones = torch.ones(n, dtype=torch.long)
    halted_at_1 = should_halt(q, ones, 16, adaptive=True, exploration_prob=0.1, generator=g)
    frac = 1 - halted_at_1.float().mean().item()
    assert abs(frac - 0.1) < 0.01  # ~10% are forced to continue
    at_max = torch.full((n,), 16)
    always = should_halt(q, at_max, 16, adaptive=True, exploration_prob=0.1, generator=g)
    assert always.all()  # a minimum never exceeds the maximum


def test_carry_is_detached_and_steps_count_up():
    model, batch = model_and_batch(max_steps=3)
    carry = initial_carry(model, batch, torch.float32)
    for expected in (1, 2, 3):
        result = supervision_step(model, carry, batch, training=True, exploration_prob=0.0)
        result.loss.backward()
        carry = result.carry
        assert not carry.y.requires_grad and not carry.z.requires_grad
        assert carry.steps.tolist() == [expected] * 4
    assert carry.halted.all()  # halted at the maximum, refilled at the next step
    carry = supervision_step(model, carry, batch, training=True).carry
    assert carry.steps.tolist() == [1] * 4
