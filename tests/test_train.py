"""The training loop: it learns, resumes exactly, stops cleanly on NaN and on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tiny_data import reverse_task, shift_task

from trm.checkpoint import load_training_state
from trm.cli import main
from trm.config import load_config
from trm.errors import TrmError
from trm.loading import load_directory
from trm.training import Interrupted, train

TINY = [
    "model.dim=32",
    "model.num_heads=2",
    "model.expansion=2",
    "model.recursions=2",
    "model.latent_steps=2",
    "model.puzzle_emb_dim=32",
    "model.puzzle_emb_len=1",
    "model.max_supervision_steps=4",
    "device=cpu",
    "threads=1",
    "compile=false",  # tiny runs: compiling would cost more than it saves
    "lr_warmup_steps=10",
    "weight_decay=0.01",
    "eval_interval=5",
]


def tiny_cfg(data: Path, run_dir: Path, *extra: str):
    return load_config(None, [f"data_path={data}", f"run_dir={run_dir}", *TINY, *extra])


def metrics(run_dir: Path, prefix: str = "train/") -> dict[int, dict]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if any(k.startswith(prefix) for k in row):
            out[row["step"]] = row
    return out


def test_learns_a_small_task_far_above_chance(tmp_path):
    data = shift_task(tmp_path / "data", n_train=512, n_test=128)
    cfg = tiny_cfg(
        data,
        tmp_path / "run",
        "global_batch_size=32",
        "max_steps=300",
        "lr=3e-3",
        "eval_every_steps=300",
        "log_every_steps=50",
        "ema_rate=0.95",
        "model.dim=64",
        "model.puzzle_emb_dim=64",
    )
    run = train(cfg, progress=False)
    evals = metrics(run, "eval/")
    exact = evals[300]["eval/exact_accuracy"]
    assert exact > 0.5, exact  # chance is 9**-8
    model, saved = load_directory(run)
    assert saved.model.vocab_size == 11 and saved.kind == "sudoku"


def test_resume_continues_exactly(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=64, n_test=16)
    extra = [
        "global_batch_size=8",
        "max_steps=12",
        "log_every_steps=1",
        "checkpoint_every_steps=4",
        "eval_every_steps=6",
        "eval_limit=8",
    ]
    whole = train(tiny_cfg(data, tmp_path / "whole", *extra), progress=False)
    with pytest.raises(Interrupted):
        train(tiny_cfg(data, tmp_path / "parts", *extra), progress=False, stop_at_step=5)
    saved = load_training_state(tmp_path / "parts")
    assert saved["step"] == 5 and saved["seconds"] > 0  # training wall time, kept for resume
    resumed = train(
        load_config(tmp_path / "parts" / "config.yaml"),
        resume_dir=str(tmp_path / "parts"),
        progress=False,
    )
    a, b = metrics(whole), metrics(resumed)
    assert sorted(a) == sorted(b) == list(range(1, 13))
    for step in a:
        assert a[step]["train/lm_loss"] == b[step]["train/lm_loss"], step
        assert a[step]["train/q_halt_loss"] == b[step]["train/q_halt_loss"], step
    # the wall time goes on from the checkpoint's: it grows over every step of both sittings
    seconds = [b[step]["train/seconds"] for step in sorted(b)]
    assert seconds == sorted(seconds) and seconds[5] > saved["seconds"]
    assert metrics(resumed, "eval/")[12]["eval/seconds"] == b[12]["train/seconds"]
    sa, sb = load_training_state(whole)["model"], load_training_state(resumed)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_inference_directory_holds_ema_weights_without_pickle(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=32, n_test=8)
    run = train(
        tiny_cfg(data, tmp_path / "run", "global_batch_size=8", "max_steps=6", "ema_rate=0.5"),
        progress=False,
    )
    weights = run / "inference" / "model.safetensors"
    with safe_open(str(weights), "pt") as f:  # safetensors: no pickle involved
        names = set(f.keys())
    assert {"token_embedding", "puzzle_embedding", "y_init", "z_init"} <= names
    state = load_training_state(run)
    model, _ = load_directory(run / "inference")
    assert torch.equal(model.token_embedding.detach(), state["ema"]["token_embedding"])
    assert not torch.equal(state["model"]["token_embedding"], state["ema"]["token_embedding"])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=32, n_test=8)
    cfg = tiny_cfg(
        data,
        tmp_path / "run",
        "global_batch_size=8",
        "max_steps=50",
        "lr=1e30",
        "lr_warmup_steps=1",
        "log_every_steps=1",
        "checkpoint_every_steps=1",
    )
    with pytest.raises(TrmError, match="NaN or infinite.*last good checkpoint \\(step 1\\)"):
        train(cfg, progress=False)
    state = load_training_state(tmp_path / "run")
    assert state["step"] == 1
    assert not (tmp_path / "run" / "train.lock").exists()  # released on an exception too


def start_training(data: Path, run: Path, *extra: str) -> subprocess.Popen:
    """A long `trm train` in a process of its own, returned once it has logged a step."""
    args = [
        sys.executable,
        "-m",
        "trm.cli",
        "train",
        f"data_path={data}",
        f"run_dir={run}",
        *TINY,
        "global_batch_size=8",
        "max_steps=100000",
        "log_every_steps=1",
        "checkpoint_every_steps=100000",
        *extra,
        "--no-progress",
    ]
    proc = subprocess.Popen(
        args, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    return proc


def test_sigterm_saves_a_checkpoint(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=64, n_test=8)
    run = tmp_path / "run"
    proc = start_training(data, run)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume with: trm train --resume" in err
    assert load_training_state(run)["step"] >= 1
    assert not (run / "train.lock").exists()  # released on the way out


def test_config_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "model.dimm=3", "--print-config"]) == 2
    assert "model.dimm" in capsys.readouterr().err
    assert main(["train", "lr=fast", "--print-config"]) == 2
    assert "lr" in capsys.readouterr().err
    assert main(["train", "configs/sudoku_mlp.yaml", "global_batch_size=32", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "global_batch_size: 32" in out and "mixer: mlp" in out


def test_init_from_starts_from_other_weights_and_refuses_another_architecture(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=32, n_test=8)
    extra = ["global_batch_size=8", "eval_limit=8"]
    first = train(tiny_cfg(data, tmp_path / "a", *extra, "max_steps=6"), progress=False)
    # negligible rates: the warm-started weights stay as loaded, so the export is the source's
    still = [*extra, "max_steps=1", "lr=1e-12", "puzzle_emb_lr=1e-12", "seed=5"]
    second = train(tiny_cfg(data, tmp_path / "b", *still, f"init_from={first}"), progress=False)
    a, _ = load_directory(first)
    b, saved = load_directory(second)
    assert saved.init_from == str(first)  # the saved config says where it started
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)
    fresh, _ = load_directory(train(tiny_cfg(data, tmp_path / "c", *still), progress=False))
    assert not torch.equal(fresh.state_dict()["token_embedding"], sb["token_embedding"])
    wider = ["model.dim=64", "model.puzzle_emb_dim=64", f"init_from={first}"]
    with pytest.raises(TrmError, match="model.dim=32, this run model.dim=64"):
        train(tiny_cfg(data, tmp_path / "d", *extra, *wider), progress=False)
    assert not (tmp_path / "d" / "checkpoint.pt").exists()
