"""`trm bench train|solve|build`: measured speed, printed, never asserted.

``train`` times full optimiser steps (deep-supervision step, backward, sign-SGD, AdamATan2,
EMA) on random data and reports sample-steps/s, the FLOP rate counted as SPEC §9, and that
rate over the matrix-multiply rate measured in the same process (float32 on CPU, bf16 on CUDA).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from trm.act import initial_carry
from trm.config import TrainConfig
from trm.data import Batch
from trm.flops import training_flops
from trm.limits import MAX_BATCH, MAX_COUNT, MAX_OPT_STEPS, bounded
from trm.model import ModelConfig
from trm.optim import EMA, AdamATan2
from trm.runtime import setup_runtime

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# name -> (model config, batch on CPU, batch on CUDA). CPU runs the first two by default.
TRAIN_CASES = {
    "sudoku-mlp-paper": (
        dict(mixer="mlp", pos_encoding="none", vocab_size=11, seq_len=81),
        32,
        768,
    ),
    "small-mlp": (
        dict(
            dim=128,
            num_heads=4,
            recursions=2,
            latent_steps=3,
            mixer="mlp",
            pos_encoding="none",
            puzzle_emb_dim=128,
            puzzle_emb_len=1,
            max_supervision_steps=8,
            vocab_size=11,
            seq_len=81,
        ),
        64,
        768,
    ),
    # The ARC-AGI-1 recipe's model with its full puzzle-embedding table, per-GPU batch 192.
    "arc-att-paper": (
        dict(vocab_size=12, seq_len=900, latent_steps=4, num_puzzle_identifiers=876_406),
        4,
        192,
    ),
}
CPU_DEFAULT = ["sudoku-mlp-paper", "small-mlp"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure training, solving or dataset-building speed",
        description="Measure speed, printed and never asserted. train: optimiser steps of "
        "random data (sample-steps/s, FLOP rate against this machine's matmul rate); solve: "
        "puzzles/s with all supervision steps and with adaptive halting; build: dataset "
        "build times.",
    )
    p.add_argument("what", choices=["train", "solve", "build"])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument(
        "--batch-size", type=bounded(0, MAX_BATCH), default=0, help="batch (default: per case)"
    )
    p.add_argument(
        "--steps",
        type=bounded(0, MAX_OPT_STEPS),
        default=0,
        help="timed steps (train; default 10 CPU, 50 CUDA)",
    )
    p.add_argument(
        "--case",
        action="append",
        choices=list(TRAIN_CASES),
        help="train cases to run (default all)",
    )
    p.add_argument("--no-compile", action="store_true", help="CUDA: do not torch.compile")
    p.add_argument("--checkpoint", help="solve: a checkpoint (default: a random-init model)")
    p.add_argument(
        "--kind", default="sudoku", choices=["sudoku", "maze", "arc"], help="solve: puzzle kind"
    )
    p.add_argument(
        "--count", type=bounded(0, MAX_COUNT), default=0, help="solve: puzzles (default 1024)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


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


def bench_train_case(name: str, device_name: str, batch: int, steps: int, compile_: bool) -> dict:
    """Time ``steps`` optimiser steps of one case after warm-up."""
    from trm.train import build_model, train_step

    kw, cpu_batch, cuda_batch = TRAIN_CASES[name]
    on_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    batch = batch or (cuda_batch if on_cuda else cpu_batch)
    cfg = TrainConfig(
        model=ModelConfig(**kw), global_batch_size=batch, device=device_name, compile=compile_
    )
    rt = setup_runtime(cfg.device, cfg.bf16)
    core, fwd = build_model(cfg, rt)
    adam = AdamATan2(core.parameters(), lr=1e-4, weight_decay=0.1)
    ema = EMA(core, 0.999)
    gen = torch.Generator(device=rt.device)
    gen.manual_seed(0)
    m = cfg.model
    x = torch.randint(1, m.vocab_size, (batch, m.seq_len), dtype=torch.int32, device=rt.device)
    ids = torch.randint(0, m.num_puzzle_identifiers, (batch,), dtype=torch.int32, device=rt.device)
    data = Batch(x, x.clone(), ids)
    carry = initial_carry(core, data, rt.state_dtype)
    autocast = rt.autocast()

    def run(n: int):
        nonlocal carry
        for _ in range(n):
            carry, loss, _ = train_step(
                fwd,
                core,
                carry,
                data,
                adam,
                ema,
                cfg,
                1e-4,
                1e-4,
                1 / batch,
                generator=gen,
                autocast=autocast,
            )
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


def bench_build() -> list[dict]:
    """Build times of each dataset kind at a measurable size, in a temporary directory."""
    from data_builders import arc, maze, sudoku

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sudoku_csv = SHARED_DATA / "sudoku" / "forum_hardest_1905_11plus_10k.csv"
        cases = []
        if sudoku_csv.is_file():
            cases.append(
                (
                    "sudoku csv 1000 x 1000 aug",
                    lambda: sudoku.build(
                        f"{tmp}/s",
                        str(sudoku_csv),
                        subsample=1000,
                        num_aug=1000,
                        test_fraction=0.1,
                        progress=False,
                    ),
                    1_001_000,
                )
            )
        cases.append(
            (
                "sudoku generate 20 + 5 (min rating 0)",
                lambda: sudoku.build(
                    f"{tmp}/g", "generate", count=20, test_count=5, progress=False
                ),
                25,
            )
        )
        cases.append(
            (
                "maze generate 20 + 20 (30x30, path > 110)",
                lambda: maze.build(f"{tmp}/m", "generate", count=20, test_count=20, progress=False),
                40,
            )
        )
        concept = SHARED_DATA / "arc"
        if concept.is_dir():
            cases.append(
                (
                    "arc conceptarc x 100 aug",
                    lambda: arc.build(
                        f"{tmp}/a",
                        [str(concept)],
                        ["concept"],
                        "concept",
                        num_aug=100,
                        progress=False,
                    ),
                    None,
                )
            )
        for name, fn, n in cases:
            t = time.perf_counter()
            summary = fn()
            seconds = time.perf_counter() - t
            n = n or summary.get("train_examples") or 0
            rows.append(
                {"build": name, "seconds": round(seconds, 2), "rows_per_s": round(n / seconds, 1)}
            )
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark and print its figures."""
    if args.what == "train":
        steps = args.steps or (50 if torch.cuda.is_available() and args.device != "cpu" else 10)
        cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        cases = args.case or (list(TRAIN_CASES) if cuda else CPU_DEFAULT)
        results = [
            bench_train_case(c, args.device, args.batch_size, steps, not args.no_compile)
            for c in cases
        ]
    elif args.what == "solve":
        from trm.bench_solve import bench_solve

        results = [bench_solve(args)]
    else:
        results = bench_build()
    for r in results:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0
