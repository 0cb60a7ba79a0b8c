"""FLOP counts of SPEC §9: matrix products only, 2 FLOPs per multiply-accumulate."""

from __future__ import annotations

from trm.model import ModelConfig, swiglu_width
from trm.schedules import depth_segments


def block_flops(cfg: ModelConfig) -> float:
    """FLOPs of one block for one sample (forward)."""
    s, d = cfg.total_len, cfg.dim
    i = swiglu_width(d, cfg.expansion)
    channel = 2 * s * (d * 2 * i + i * d)
    if cfg.mixer == "attention":
        mixing = 2 * s * (3 * d * d + d * d) + 4 * s * s * d
    elif cfg.mixer == "conv":  # 3x3 depthwise over the grid cells, then a d x d projection
        mixing = 2 * cfg.seq_len * (9 * d + d * d)
    else:
        i_s = swiglu_width(s, cfg.expansion)
        mixing = 2 * d * (s * 2 * i_s + i_s * s)
    return float(channel + mixing)


def head_flops(cfg: ModelConfig) -> float:
    """Output head over the L answer positions plus the halting head (forward)."""
    return float(2 * cfg.seq_len * cfg.dim * cfg.vocab_size + 2 * cfg.dim * 2)


def forward_flops(cfg: ModelConfig) -> float:
    """One supervision step at inference: T(n+1) network calls of ``num_layers`` blocks."""
    calls = cfg.recursions * (cfg.latent_steps + 1)
    return calls * cfg.num_layers * block_flops(cfg) + head_flops(cfg)


def training_flops(cfg: ModelConfig, depth: tuple[int, int] | None = None) -> float:
    """One training sample-step at depth (T, n) (default the config's): the T(n+1) forward
    calls plus the backward (2x) of the (n+1) calls with gradient."""
    t, n = depth or (cfg.recursions, cfg.latent_steps)
    calls = (t + 2) * (n + 1)
    return calls * cfg.num_layers * block_flops(cfg) + 3 * head_flops(cfg)


def run_training_flops(
    cfg: ModelConfig, batch: int, step: int, steps_total: int, schedule: list[list[float]] = ()
) -> float:
    """FLOPs of optimiser steps 1..``step`` of a run of ``batch`` slots (a depth schedule's
    shallow steps cost less)."""
    final = (cfg.recursions, cfg.latent_steps)
    total = 0.0
    for first, last, depth in depth_segments(list(schedule), steps_total, final):
        if first <= step:
            total += (min(step, last) - first + 1) * batch * training_flops(cfg, depth)
    return total
