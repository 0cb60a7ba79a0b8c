"""The Tiny Recursive Model: one small network that recursively refines a latent and an answer.

Names follow the paper: ``x`` is the embedded question, ``y`` the embedded current answer and
``z`` the latent reasoning state (the official code calls them ``input_embeddings``, ``z_H`` and
``z_L``). One supervision step is ``deep_recursion``: ``recursions`` (T) calls of
``latent_recursion``, which updates ``z <- net(z, x + y)`` ``latent_steps`` (n) times and then
``y <- net(y, z)``. Only the last call carries gradient (SPEC §4.8). The deep-supervision loop
around it (carry, halting, refilling) is in ``trm.act``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

# Std of a unit normal truncated to [-2, 2] is 1/1.1368472: scale up so the result has `std`.
_TRUNC_SCALE = 1.1368472


class Choice(str, Enum):
    """One of a config field's allowed strings: plain text in YAML, ``==`` to a ``str`` in code.

    (``enum.StrEnum`` without needing Python 3.11.)
    """

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Mixer(Choice):
    """How a block mixes positions: self-attention, an MLP over positions ("mlp_t"), or a 3x3
    convolution over the grid (``conv``: not in the paper; a cell sees only its neighbours)."""

    attention = "attention"
    mlp = "mlp"
    conv = "conv"


class PosEncoding(Choice):
    """Position information: rotary, a learned table, or none (an MLP mixer learns positions)."""

    rope = "rope"
    learned = "learned"
    none = "none"


@dataclass
class ModelConfig:
    """Architecture (SPEC §4.1). Fields marked *from data* are filled in from the dataset."""

    dim: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    num_layers: int = 2  # blocks per network call
    recursions: int = 3  # T
    latent_steps: int = 6  # n
    mixer: Mixer = Mixer.attention
    pos_encoding: PosEncoding = PosEncoding.rope
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    puzzle_emb_dim: int = 512  # 0 disables puzzle embeddings
    puzzle_emb_len: int = 16  # prefix positions reserved for the puzzle embedding
    max_supervision_steps: int = 16  # N_sup (the training schedule; inference may run more)
    vocab_size: int = 0  # from data
    seq_len: int = 0  # from data
    num_puzzle_identifiers: int = 1  # from data

    @property
    def prefix_len(self) -> int:
        if self.puzzle_emb_dim == 0:
            return 0
        return self.puzzle_emb_len or math.ceil(self.puzzle_emb_dim / self.dim)

    @property
    def total_len(self) -> int:
        """S = prefix positions + sequence length."""
        return self.prefix_len + self.seq_len


def trunc_normal_(tensor: torch.Tensor, std: float, generator: torch.Generator | None = None):
    """JAX-style truncated normal (at ±2 of the underlying normal) whose std equals ``std``."""
    if std == 0:
        return tensor.zero_()
    with torch.no_grad():
        c = std * _TRUNC_SCALE
        lo, hi = math.erf(-2 / math.sqrt(2)), math.erf(2 / math.sqrt(2))
        tensor.uniform_(lo, hi, generator=generator).erfinv_().mul_(math.sqrt(2) * c)
        return tensor.clamp_(-2 * c, 2 * c)


def swiglu_width(width: int, expansion: float) -> int:
    """Hidden width of a SwiGLU over ``width`` features: round(2/3·e·h) up to a multiple of 256."""
    return math.ceil(round(expansion * width * 2 / 3) / 256) * 256


def rms_norm(h: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm over the last axis, computed in float32, no learnable gain."""
    dtype = h.dtype
    h = h.float()
    return (h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps)).to(dtype)


class Linear(nn.Module):
    """A linear layer with LeCun truncated-normal init (std 1/sqrt(in)), bias off by default."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(
            trunc_normal_(torch.empty(out_features, in_features), 1 / math.sqrt(in_features))
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.weight, self.bias)


def token_lookup(tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[tokens]`` as a product with one-hot rows, in float32: the same values (one
    non-zero term per sum), but its backward is a matrix product instead of a scatter-add.
    torch.compile's CPU code for the scatter-add of ``table[tokens]`` (and ``F.embedding``)
    corrupts the heap when its gradient comes through the network (torch 2.13, inductor C++
    backend). Vocabularies are tiny (at most 12 tokens), so the product costs nothing."""
    with torch.autocast(device_type=table.device.type, enabled=False):
        one_hot = F.one_hot(tokens.long(), table.shape[0]).to(table.dtype)  # (B, L, V)
        return one_hot @ table


class SwiGLU(nn.Module):
    """``down(silu(gate) * up)`` with one fused input projection to (gate, up)."""

    def __init__(self, width: int, expansion: float):
        super().__init__()
        hidden = swiglu_width(width, expansion)
        self.gate_up = Linear(width, 2 * hidden)
        self.down = Linear(hidden, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # Two products on the halves of the fused weight rather than one product split in two:
        # the backward then sums weight-sized slices instead of concatenating activation-sized
        # gradients (measurably faster on CPU; the parameter layout stays the official one).
        w = self.gate_up.weight
        hidden = w.shape[0] // 2
        return self.down(F.silu(F.linear(h, w[:hidden])) * F.linear(h, w[hidden:]))


def rope_tables(length: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (length, head_dim) in the rotate-half convention (SPEC §4.4)."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(q: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``q`` (B, H, S, hd) by position, in float32."""
    dtype = q.dtype
    q = q.float()
    half = q.shape[-1] // 2
    rotated = torch.cat([-q[..., half:], q[..., :half]], dim=-1)
    return (q * cos + rotated * sin).to(dtype)


class Attention(nn.Module):
    """Non-causal self-attention without mask; qkv laid out as [q heads | k heads | v heads]."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = Linear(dim, 3 * dim)
        self.out = Linear(dim, dim)

    def forward(
        self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        b, s, d = h.shape
        qkv = self.qkv(h).view(b, s, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, S, hd)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.out(o.transpose(1, 2).reshape(b, s, d))


def grid_side(seq_len: int) -> int:
    """The side of the square grid of ``seq_len`` cells; ValueError when there is none."""
    side = math.isqrt(seq_len)
    if side * side != seq_len:
        raise ValueError(f"model.mixer=conv needs a square grid, but seq_len is {seq_len}")
    return side


class GridConv(nn.Module):
    """Local token mixing: a 3x3 depthwise convolution over the grid's cells (zero outside the
    grid), then a channel projection. Prefix positions (the puzzle embedding) are not mixed.

    One call moves information one cell, as one step of a breadth-first search does: a maze
    path is local, and attention over all 900 cells of a 30x30 maze costs most of a step.
    """

    def __init__(self, dim: int, seq_len: int, prefix_len: int):
        super().__init__()
        self.side, self.prefix = grid_side(seq_len), prefix_len
        self.weight = nn.Parameter(trunc_normal_(torch.empty(dim, 1, 3, 3), 1 / 3))  # fan-in 9
        self.out = Linear(dim, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, s, d = h.shape
        grid = h[:, self.prefix :].transpose(1, 2).reshape(b, d, self.side, self.side)
        mixed = F.conv2d(grid, self.weight.to(grid.dtype), padding=1, groups=d)
        u = self.out(mixed.reshape(b, d, -1).transpose(1, 2))
        if self.prefix:
            u = torch.cat([u.new_zeros(b, self.prefix, d), u], dim=1)
        return u


class Block(nn.Module):
    """Post-norm block: token mixing (attention or MLP over positions), then a channel SwiGLU."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.eps = cfg.norm_eps
        if cfg.mixer == "attention":
            self.attention = Attention(cfg.dim, cfg.num_heads)
        elif cfg.mixer == "mlp":
            self.token_mlp = SwiGLU(cfg.total_len, cfg.expansion)
        elif cfg.mixer == "conv":
            self.grid_conv = GridConv(cfg.dim, cfg.seq_len, cfg.prefix_len)
        else:
            raise ValueError(f"model.mixer must be 'attention', 'mlp' or 'conv', got {cfg.mixer!r}")
        self.mlp = SwiGLU(cfg.dim, cfg.expansion)

    def forward(
        self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        if hasattr(self, "attention"):
            h = rms_norm(h + self.attention(h, rope), self.eps)
        elif hasattr(self, "grid_conv"):
            h = rms_norm(h + self.grid_conv(h), self.eps)
        else:
            # Mixer-style: mix along positions; the norm runs over positions too (SPEC 11-Q5).
            u = h.transpose(1, 2)  # (B, D, S)
            u = rms_norm(u + self.token_mlp(u), self.eps)
            h = u.transpose(1, 2)
        return rms_norm(h + self.mlp(h), self.eps)


class Network(nn.Module):
    """``net(state, injection)``: ``num_layers`` blocks applied to ``state + injection``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))

    def forward(self, state: torch.Tensor, injection: torch.Tensor, rope) -> torch.Tensor:
        h = state + injection
        for block in self.blocks:
            h = block(h, rope)
        return h


@dataclass
class StepOutput:
    """One supervision step: new carried states (detached), answer logits and halting logits."""

    y: torch.Tensor  # (B, S, D)
    z: torch.Tensor  # (B, S, D)
    logits: torch.Tensor  # (B, L, V)
    q_halt: torch.Tensor  # (B,) float32
    q_continue: torch.Tensor  # (B,) float32


class TinyRecursiveModel(nn.Module):
    """The TRM network with its embeddings and heads (SPEC §4).

    The puzzle-embedding table is a buffer trained by sign-SGD (``trm.optim``), not a
    parameter; callers pass the rows of the batch (``puzzle_rows``) so that training can give
    them a gradient without touching the table.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size <= 0 or cfg.seq_len <= 0:
            raise ValueError("ModelConfig.vocab_size and seq_len must be set from the dataset")
        # (T, n) overriding the config's while a training depth schedule runs (None: the config's)
        self.depth: tuple[int, int] | None = None
        self.cfg = cfg
        d = cfg.dim
        self.token_embedding = nn.Parameter(
            trunc_normal_(torch.empty(cfg.vocab_size, d), 1 / math.sqrt(d))
        )
        if cfg.puzzle_emb_dim > 0:
            table = torch.zeros(cfg.num_puzzle_identifiers, cfg.puzzle_emb_dim)
            self.register_buffer("puzzle_embedding", table)
        else:
            self.puzzle_embedding = None
        if cfg.pos_encoding == "learned":
            self.position_embedding = nn.Parameter(
                trunc_normal_(torch.empty(cfg.total_len, d), 1 / math.sqrt(d))
            )
        if cfg.pos_encoding == "rope":
            cos, sin = rope_tables(cfg.total_len, d // cfg.num_heads, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        elif cfg.pos_encoding not in ("learned", "none"):
            raise ValueError(
                f"model.pos_encoding must be rope, learned or none, got {cfg.pos_encoding!r}"
            )
        self.net = Network(cfg)
        self.output_head = Linear(d, cfg.vocab_size)
        self.halt_head = Linear(d, 2, bias=True)  # (halt, continue) logits from prefix position 0
        with torch.no_grad():
            self.halt_head.weight.zero_()
            self.halt_head.bias.fill_(-5.0)  # halting probability starts at sigmoid(-5)
        # Fixed initial answer and latent vectors, shared by every position (never trained).
        self.register_buffer("y_init", trunc_normal_(torch.empty(d), 1.0))
        self.register_buffer("z_init", trunc_normal_(torch.empty(d), 1.0))

    def rope(self):
        return (self.rope_cos, self.rope_sin) if self.cfg.pos_encoding == "rope" else None

    def puzzle_rows(self, puzzle_identifiers: torch.Tensor) -> torch.Tensor | None:
        """The puzzle-embedding rows of a batch (B, puzzle_emb_dim), a copy of the table's rows."""
        if self.puzzle_embedding is None:
            return None
        return self.puzzle_embedding[puzzle_identifiers]

    def embed(self, inputs: torch.Tensor, puzzle_rows: torch.Tensor | None) -> torch.Tensor:
        """x: token embeddings with the puzzle embedding in the prefix positions (B, S, D)."""
        cfg = self.cfg
        h = token_lookup(inputs, self.token_embedding)  # (B, L, D)
        if puzzle_rows is not None:
            b = inputs.shape[0]
            pad = cfg.prefix_len * cfg.dim - puzzle_rows.shape[-1]
            prefix = F.pad(puzzle_rows.to(h.dtype), (0, pad)).view(b, cfg.prefix_len, cfg.dim)
            h = torch.cat([prefix, h], dim=1)
        if cfg.pos_encoding == "learned":
            h = (h + self.position_embedding) / math.sqrt(2)
        return math.sqrt(cfg.dim) * h

    def initial_state(
        self, batch_size: int, device=None, dtype=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh (y, z) of shape (B, S, D): the fixed init vectors at every position."""
        shape = (batch_size, self.cfg.total_len, self.cfg.dim)
        y = self.y_init.to(device=device, dtype=dtype).expand(shape)
        z = self.z_init.to(device=device, dtype=dtype).expand(shape)
        return y, z

    def latent_recursion(self, x, y, z, rope, n: int):
        """One recursion process: n updates ``z <- net(z, x + y)``, then ``y <- net(y, z)``."""
        for _ in range(n):
            z = self.net(z, x + y, rope)
        y = self.net(y, z, rope)
        return y, z

    def deep_recursion(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> StepOutput:
        """One supervision step: T latent recursions (the first T-1 without gradient), then the
        answer logits and the halting logits; ``(y, z)`` come back detached for the carry."""
        rope = self.rope()
        T, n = self.depth or (self.cfg.recursions, self.cfg.latent_steps)
        with torch.no_grad():
            for _ in range(T - 1):
                y, z = self.latent_recursion(x, y, z, rope, n)
        y, z = self.latent_recursion(x, y, z, rope, n)
        logits = self.output_head(y[:, self.cfg.prefix_len :])  # (B, L, V)
        q = self.halt_head(y[:, 0]).float()  # (B, 2): halt, continue
        return StepOutput(y.detach(), z.detach(), logits, q[:, 0], q[:, 1])

    def forward(
        self,
        inputs: torch.Tensor,
        puzzle_rows: torch.Tensor | None,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> StepOutput:
        """Embed the question (x) and run ``deep_recursion`` from the carried ``(y, z)``."""
        return self.deep_recursion(self.embed(inputs, puzzle_rows), y, z)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the puzzle-embedding table is a buffer and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
