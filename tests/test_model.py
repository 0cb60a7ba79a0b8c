"""The network: parameter counts, widths, init, shapes and where gradients flow (SPEC §4)."""

from __future__ import annotations

import math

import pytest
import torch

from trm.model import ModelConfig, TinyRecursiveModel, count_parameters, swiglu_width, trunc_normal_

PAPER = {
    "sudoku-mlp": (dict(mixer="mlp", pos_encoding="none", vocab_size=11, seq_len=81), 5_028_866),
    "sudoku-att": (dict(vocab_size=11, seq_len=81), 6_828_034),
    "maze-att": (dict(vocab_size=6, seq_len=900, latent_steps=4), 6_822_914),
    "arc-att": (dict(vocab_size=12, seq_len=900, latent_steps=4), 6_829_058),
    "maze-mlp": (
        dict(mixer="mlp", pos_encoding="none", vocab_size=6, seq_len=900, latent_steps=4),
        18_795_522,
    ),
    "arc-mlp": (
        dict(mixer="mlp", pos_encoding="none", vocab_size=12, seq_len=900, latent_steps=4),
        18_801_666,
    ),
}


def tiny(**kw) -> ModelConfig:
    base = dict(
        dim=32,
        num_heads=2,
        expansion=2,
        recursions=3,
        latent_steps=2,
        vocab_size=11,
        seq_len=9,
        puzzle_emb_dim=32,
        puzzle_emb_len=2,
        num_puzzle_identifiers=5,
    )
    return ModelConfig(**{**base, **kw})


@pytest.mark.parametrize("name", list(PAPER))
def test_parameter_counts_match_spec(name):
    kw, expected = PAPER[name]
    assert count_parameters(TinyRecursiveModel(ModelConfig(**kw))) == expected


def test_swiglu_width_rule():
    assert swiglu_width(512, 4) == 1536
    assert swiglu_width(97, 4) == 512
    assert swiglu_width(916, 4) == 2560


def test_truncated_normal_has_requested_std():
    t = trunc_normal_(torch.empty(400_000), 0.5, generator=torch.Generator().manual_seed(0))
    assert abs(t.std().item() - 0.5) < 0.005
    assert t.abs().max().item() <= 2 * 0.5 * 1.1368472 + 1e-6


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(mixer="mlp", pos_encoding="none"),
        dict(pos_encoding="learned"),
        dict(pos_encoding="none"),
        dict(puzzle_emb_dim=0),
    ],
)
def test_shapes_and_initial_halting(kw):
    cfg = tiny(**kw)
    model = TinyRecursiveModel(cfg)
    b = 3
    y, z = model.initial_state(b)
    assert y.shape == (b, cfg.total_len, cfg.dim)
    out = model(torch.randint(0, 11, (b, 9)), model.puzzle_rows(torch.tensor([0, 1, 4])), y, z)
    assert out.logits.shape == (b, 9, 11)
    assert out.q_halt.dtype == torch.float32
    assert torch.allclose(torch.sigmoid(out.q_halt), torch.full((b,), 1 / (1 + math.exp(5))))
    assert not out.y.requires_grad and not out.z.requires_grad  # the carry is detached


def test_puzzle_embedding_is_a_zero_buffer_in_the_first_prefix_position():
    model = TinyRecursiveModel(tiny())
    assert "puzzle_embedding" in dict(model.named_buffers())
    assert not model.puzzle_embedding.any()
    rows = torch.randn(2, 32)
    x = model.embed(torch.zeros(2, 9, dtype=torch.long), rows)
    assert torch.allclose(x[:, 0], rows * math.sqrt(32))
    assert not x[:, 1].any()  # the other prefix positions are zero


def test_only_the_last_recursion_carries_gradient():
    cfg = tiny(recursions=3, latent_steps=4)
    model = TinyRecursiveModel(cfg)
    calls = {"grad": 0, "nograd": 0}

    def hook(_module, _inputs):
        calls["grad" if torch.is_grad_enabled() else "nograd"] += 1

    model.net.register_forward_pre_hook(hook)
    y, z = model.initial_state(2)
    out = model(torch.randint(0, 11, (2, 9)), model.puzzle_rows(torch.tensor([1, 2])), y, z)
    n = cfg.latent_steps
    assert calls == {"grad": n + 1, "nograd": (cfg.recursions - 1) * (n + 1)}
    out.logits.sum().backward()
    assert model.token_embedding.grad is not None and model.token_embedding.grad.abs().sum() > 0


def test_gradient_does_not_reach_the_carried_state():
    model = TinyRecursiveModel(tiny())
    y, z = model.initial_state(2)
    y = y.clone().requires_grad_(True)
    z = z.clone().requires_grad_(True)
    out = model(torch.randint(0, 11, (2, 9)), model.puzzle_rows(torch.tensor([0, 0])), y, z)
    out.logits.sum().backward()
    # The first T-1 recursions run without grad, so the incoming states get none.
    assert y.grad is None and z.grad is None


def _conv_model(prefix: bool = False) -> TinyRecursiveModel:
    torch.manual_seed(0)
    cfg = ModelConfig(
        dim=16, num_heads=1, expansion=2, num_layers=1, recursions=1, latent_steps=1,
        mixer="conv", pos_encoding="none", puzzle_emb_dim=16 if prefix else 0,
        puzzle_emb_len=1 if prefix else 0, vocab_size=6, seq_len=49,
    )  # fmt: skip
    return TinyRecursiveModel(cfg)


@pytest.mark.parametrize("prefix", [False, True])
def test_conv_mixer_moves_information_one_cell_per_block(prefix):
    """A change at one cell reaches only its 3x3 neighbourhood in one block (7x7 grid)."""
    block = _conv_model(prefix).net.blocks[0]
    p = 1 if prefix else 0
    h = torch.randn(1, p + 49, 16)
    changed = h.clone()
    changed[0, p + 3 * 7 + 3] += 1.0  # the centre cell (row 3, column 3)
    with torch.no_grad():
        diff = (block(changed, None) - block(h, None)).abs().sum(-1)[0]
    moved = {divmod(i, 7) for i in range(49) if diff[p + i] > 1e-6}
    assert moved == {(r, c) for r in (2, 3, 4) for c in (2, 3, 4)}
    if prefix:
        assert diff[0] == 0  # the puzzle-embedding position is not mixed


def test_conv_mixer_needs_a_square_grid():
    with pytest.raises(ValueError, match="square grid, but seq_len is 50"):
        TinyRecursiveModel(
            ModelConfig(dim=16, mixer="conv", puzzle_emb_dim=0, vocab_size=6, seq_len=50)
        )


@pytest.mark.parametrize("mixer", ["attention", "mlp", "conv"])
def test_block_flops_match_torch_flop_counter(mixer):
    """trm.flops counts what torch's own counter counts in one network call."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from trm.flops import block_flops

    cfg = ModelConfig(
        dim=32, num_heads=2, expansion=2, num_layers=2, mixer=mixer,
        pos_encoding="rope" if mixer == "attention" else "none", puzzle_emb_dim=0,
        vocab_size=6, seq_len=36,
    )  # fmt: skip
    model = TinyRecursiveModel(cfg)
    h = torch.randn(1, cfg.total_len, cfg.dim)
    # the math kernel: its products are plain bmm (the CPU flash kernel is counted differently)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.net(h, h, model.rope())
    assert counter.get_total_flops() == cfg.num_layers * block_flops(cfg)
