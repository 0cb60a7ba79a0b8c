"""Issue 11: nothing lost (run dirs, temporaries), nothing executed (checkpoints), nothing silent."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
from tiny_data import reverse_task

from trm import cli
from trm.config import load_config

TINY = [
    "model.dim=16",
    "model.num_heads=2",
    "model.expansion=2",
    "model.recursions=1",
    "model.latent_steps=1",
    "model.puzzle_emb_dim=0",
    "model.max_supervision_steps=2",
    "device=cpu",
    "threads=1",
    "global_batch_size=8",
    "max_steps=2",
    "eval_limit=8",
]


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset, finished run directory) of a 2-step run."""
    from trm.train import train

    tmp = tmp_path_factory.mktemp("run")
    data = reverse_task(tmp / "data", n_train=32, n_test=8)
    cfg = load_config(None, [f"data_path={data}", f"run_dir={tmp / 'run'}", *TINY])
    return data, train(cfg, progress=False)


# --- item 1: resume never unpickles objects ------------------------------------------------


class _Exploit:
    """Unpickling this calls Path.touch on a marker file: code execution."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path, tiny_run, capsys):
    import torch

    data, run = tiny_run
    run_dir = tmp_path / "evil"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text((run / "config.yaml").read_text())
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "model": _Exploit(marker)}, run_dir / "checkpoint.pt")
    code, _, err = run_cli(["train", "--resume", run_dir, "--no-progress"], capsys)
    assert code == 2
    assert "checkpoint" in one_line(err)
    assert not marker.exists()
    # a plain pickle (not a torch zip) is refused the same way
    with open(run_dir / "checkpoint.pt", "wb") as f:
        pickle.dump(_Exploit(marker), f)
    code, _, err = run_cli(["train", "--resume", run_dir, "--no-progress"], capsys)
    assert code == 2 and not marker.exists()
    one_line(err)


def test_real_checkpoint_loads_without_pickle(tiny_run):
    import torch

    _, run = tiny_run
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 2
