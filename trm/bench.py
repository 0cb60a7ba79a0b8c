"""Measured speed of training and solving, for ``trm bench``: figures, never assertions.

``bench_train_case`` times full optimiser steps (deep-supervision step, backward, sign-SGD,
AdamATan2, EMA) on random data and reports sample-steps/s, the FLOP rate counted as SPEC §9,
and that rate over the matrix-multiply rate measured in the same process (float32 on CPU, bf16
on CUDA). ``bench_solve`` times puzzles/s with all steps and with adaptive halting.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from trm.act import Halting, stream
from trm.batch import Batch
from trm.bench_cases import TRAIN_CASES
from trm.config import TrainConfig
from trm.flops import training_flops
from trm.loading import load_for_kind
from trm.model import ModelConfig, TinyRecursiveModel
from trm.options import DEFAULT_PRECISION
from trm.puzzles import sudoku
from trm.runtime import inference_runtime, pick_device, setup_runtime


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Best FLOP/s of an n x n x n matrix product, measured now in this process."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def bench_train_case(
    name: str,
    device_name: str,
    batch: int,
    steps: int,
    compile_: bool,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Time ``steps`` optimiser steps of one case after warm-up."""
    from trm.training import init_state, train_step  # deferred: `bench solve` does not train

    kw, cpu_batch, cuda_batch = TRAIN_CASES[name]
    on_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    batch = batch or (cuda_batch if on_cuda else cpu_batch)
    cfg = TrainConfig(
        model=ModelConfig(**kw),
        global_batch_size=batch,
        device=device_name,
        compile=compile_,
        weight_decay=0.1,
        lr_warmup_steps=0,
        precision=precision,
    )
    rt = setup_runtime(cfg.device, str(cfg.precision))
    state = init_state(cfg, rt, sampler=None, steps_total=10**9)
    m = cfg.model
    x = torch.randint(1, m.vocab_size, (batch, m.seq_len), dtype=torch.int32, device=rt.device)
    ids = torch.randint(0, m.num_puzzle_identifiers, (batch,), dtype=torch.int32, device=rt.device)
    data = Batch(x, x.clone(), ids)

    def run(n: int):
        for _ in range(n):
            state.step += 1
            train_step(state, data)
        _sync(rt.device)

    run(3 if rt.device.type == "cpu" else 10)  # warm-up (and compilation on CUDA)
    if rt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(rt.device)
    t = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - t
    sample_steps = batch * steps / seconds
    achieved = sample_steps * training_flops(m)
    peak_dtype = torch.bfloat16 if rt.bf16 else torch.float32
    peak = matmul_rate(rt.device, peak_dtype)
    out = {
        "case": name,
        "device": _device_name(rt.device),
        "precision": rt.precision,
        "threads": torch.get_num_threads(),
        "batch": batch,
        "timed_steps": steps,
        "sample_steps_per_s": round(sample_steps, 2),
        "gflop_per_sample_step": round(training_flops(m) / 1e9, 3),
        "achieved_tflops": round(achieved / 1e12, 4),
        "matmul_tflops": round(peak / 1e12, 4),
        "matmul_dtype": str(peak_dtype).replace("torch.", ""),
        "ratio": round(achieved / peak, 3),
    }
    if rt.device.type == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(rt.device) / 2**30, 2)
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def _random_model(device: torch.device) -> TinyRecursiveModel:
    """A random-init Sudoku model of ``trm bench train``'s cases: the paper's MLP on CUDA."""
    kw = TRAIN_CASES["sudoku-mlp-paper" if device.type == "cuda" else "small-mlp"][0]
    torch.manual_seed(0)
    return TinyRecursiveModel(ModelConfig(**kw)).to(device).eval()


def bench_solve(
    device: str = "auto",
    kind: str = "sudoku",
    count: int = 1024,
    batch: int = 256,
    checkpoint: str | None = None,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Time all-steps and adaptive solving of ``count`` generated questions."""
    dev = pick_device(device)
    rt = inference_runtime(dev, precision)
    if checkpoint:
        model, _ = load_for_kind(kind, checkpoint, None, str(dev))
        note = f"checkpoint {checkpoint}"
    else:
        model = _random_model(dev)
        note = "random-init model (no --checkpoint): " + (
            "Sudoku-MLP paper shape" if dev.type == "cuda" else "small CPU config"
        )
    rng = np.random.default_rng(0)
    if kind != "sudoku":
        tokens = rng.integers(1, model.cfg.vocab_size, (count, model.cfg.seq_len))
    else:
        grid = sudoku.random_solution(rng)
        grids = np.repeat(grid[None], count, axis=0)
        grids[rng.random(grids.shape) < 0.7] = 0
        tokens = sudoku.encode(grids).astype(np.int64)
    warm = Halting(max_steps=1, adaptive=False)
    stream(model, tokens[: min(batch, count)], halting=warm, batch_size=batch, runtime=rt)
    out = {"device": str(dev), "precision": rt.precision, "model": note, "puzzles": count}
    out["batch_size"] = batch
    # "Fixed" runs every puzzle for the model's maximum (16 in the paper's recipes).
    out["fixed_steps"] = model.cfg.max_supervision_steps
    for name, halting in (("fixed", Halting(adaptive=False)), ("adaptive", Halting())):
        _sync(dev)
        t0 = time.perf_counter()
        run = stream(model, tokens, halting=halting, batch_size=batch, runtime=rt)
        seconds = time.perf_counter() - t0
        out[f"{name}_puzzles_per_s"] = count / seconds
        out[f"{name}_mean_steps"] = float(run.steps.mean())
    out["speedup"] = out["adaptive_puzzles_per_s"] / out["fixed_puzzles_per_s"]
    return out
