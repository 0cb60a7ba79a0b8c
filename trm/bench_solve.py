"""`trm bench solve`: puzzles/s with all steps (16 in paper recipes) and with adaptive halting."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from trm.model import ModelConfig, TinyRecursiveModel
from trm.puzzles import sudoku
from trm.solve import pick_device, run_stream


def _random_model(device: torch.device) -> TinyRecursiveModel:
    """A random-init Sudoku model of ``trm bench train``'s cases: the paper's MLP on CUDA."""
    from trm.bench import TRAIN_CASES

    kw = TRAIN_CASES["sudoku-mlp-paper" if device.type == "cuda" else "small-mlp"][0]
    torch.manual_seed(0)
    return TinyRecursiveModel(ModelConfig(**kw)).to(device).eval()


def bench_solve(args: argparse.Namespace) -> dict:
    """Time all-steps and adaptive solving of ``args.count`` generated Sudoku questions."""
    device = pick_device(getattr(args, "device", "auto") or "auto")
    kind = getattr(args, "kind", "sudoku") or "sudoku"
    count = getattr(args, "count", 0) or 1024
    batch = getattr(args, "batch_size", 0) or 256
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint:
        from trm.solve_cli import load_checkpoint

        model, _ = load_checkpoint(kind, checkpoint, None, str(device))
        note = f"checkpoint {checkpoint}"
    else:
        model = _random_model(device)
        note = "random-init model (no --checkpoint): " + (
            "Sudoku-MLP paper shape" if device.type == "cuda" else "small CPU config"
        )
    rng = np.random.default_rng(0)
    if kind != "sudoku":
        tokens = rng.integers(1, model.cfg.vocab_size, (count, model.cfg.seq_len))
    else:
        grid = sudoku.random_solution(rng)
        grids = np.repeat(grid[None], count, axis=0)
        grids[rng.random(grids.shape) < 0.7] = 0
        tokens = sudoku.encode(grids).astype(np.int64)
    run_stream(model, tokens[: min(batch, count)], batch_size=batch, steps=1)  # warm-up
    out = {"device": str(device), "model": note, "puzzles": count, "batch_size": batch}
    # "Fixed" runs every puzzle for the model's maximum (16 in the paper's recipes).
    out["fixed_steps"] = model.cfg.max_supervision_steps
    for name, steps in (("fixed", model.cfg.max_supervision_steps), ("adaptive", None)):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        run = run_stream(model, tokens, batch_size=batch, steps=steps)
        seconds = time.perf_counter() - t0
        out[f"{name}_puzzles_per_s"] = count / seconds
        out[f"{name}_mean_steps"] = float(run.steps.mean())
    out["speedup"] = out["adaptive_puzzles_per_s"] / out["fixed_puzzles_per_s"]
    return out
