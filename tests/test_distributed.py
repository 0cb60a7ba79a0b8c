"""Two processes under torchrun (gloo on CPU) train exactly like one with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch
from tiny_data import multi_example_task

from trm.checkpoint import load_training_state
from trm.config import load_config
from trm.training import train

ARGS = [
    "model.dim=32",
    "model.num_heads=2",
    "model.expansion=2",
    "model.recursions=2",
    "model.latent_steps=1",
    "model.puzzle_emb_dim=32",
    "model.puzzle_emb_len=1",
    "model.max_supervision_steps=3",
    "device=cpu",
    "precision=fp32",  # ranks split the batch: bf16 rounding would differ with the shapes
    "compile=false",
    "threads=1",
    "global_batch_size=8",
    "max_steps=6",
    "lr=1e-3",
    "lr_warmup_steps=2",
    "eval_interval=2",
    "puzzle_emb_lr=1e-2",
    "log_every_steps=1",
    "eval_every_steps=6",
    "eval_limit=8",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_match_one_process(tmp_path):
    data = multi_example_task(tmp_path / "data", n_puzzles=16, examples=3)
    one = train(
        load_config(None, [f"data_path={data}", f"run_dir={tmp_path / 'one'}", *ARGS]),
        progress=False,
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "trm.cli",
        "train",
        f"data_path={data}",
        f"run_dir={tmp_path / 'two'}",
        *ARGS,
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_training_state(one), load_training_state(tmp_path / "two")
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-5), k
    # The puzzle-embedding rows were trained (sign-SGD) identically on both ranks.
    assert a["model"]["puzzle_embedding"].abs().sum() > 0
