"""Training refuses bad input before any work, locks its run directory, and loses nothing."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_robustness import one_line, run_cli
from test_train import TINY, metrics, start_training, tiny_cfg
from tiny_data import reverse_task

import trm.training
from data_builders.format import Split, write_dataset
from trm.checkpoint import load_training_state, locked_run_dir
from trm.config import TrainConfig, load_config
from trm.errors import TrmError
from trm.training import Interrupted, train

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["global_batch_size=8", "max_steps=2", "log_every_steps=1", "eval_limit=8"]


def _never(*args, **kwargs):
    raise AssertionError("the work started before the input was checked")


def argv(data: Path, run: Path, *extra) -> list:
    return ["train", f"data_path={data}", f"run_dir={run}", *TINY, *SHORT, *extra, "--no-progress"]


@pytest.fixture
def data(tmp_path) -> Path:
    return reverse_task(tmp_path / "data", n_train=32, n_test=8)


@pytest.fixture
def run(tmp_path, data, capsys) -> Path:
    """A finished 2-step run."""
    run = tmp_path / "run"
    assert run_cli(argv(data, run), capsys)[0] == 0
    return run


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


# --- configs are checked when loaded ---------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["lr=-1"], "lr must be greater than 0"),
        (["lr=0"], "lr must be greater than 0"),
        (["ema_rate=2"], r"ema_rate must be in \[0, 1\)"),
        (["kind=chess"], "kind must be one of sudoku, maze, arc"),
        (["model.dim=0"], "model.dim must be at least 1"),
        (["model.dim=10", "model.num_heads=3"], "divisible by model.num_heads"),
        (["model.mixer=foo"], r"expected one of \[attention, mlp, conv\].*model.mixer"),
        (["model.pos_encoding=abs"], r"expected one of \[rope, learned, none\]"),
        (["loss_type=foo"], r"expected one of \[stablemax, softmax\].*loss_type"),
        (["curriculum=hard"], r"expected one of \[none, easy_first, hard_first\]"),
        (["logger=tensorboard"], r"expected one of \[jsonl, wandb\]"),
        (["device=tpu"], "device must be auto, cpu, cuda or cuda:N"),
        (["compile_mode=fast"], r"expected one of \[default, reduce-overhead, max-autotune\]"),
        (["depth_schedule=[[0.3,1"], "depth_schedule.*not a valid value"),
        (["max_steps=0"], r"max_steps must be at least 1 \(or null: from epochs\)"),
        (["epochs=0"], "epochs must be at least 1"),
    ],
)
def test_bad_values_are_one_line_before_the_data_loads(
    tmp_path, data, overrides, expected, capsys, monkeypatch
):
    monkeypatch.setattr(trm.training, "load_data", _never)
    code, _, err = run_cli(argv(data, tmp_path / "run", *overrides), capsys)
    assert code == 2
    assert re.search(expected, one_line(err)), err
    assert not (tmp_path / "run").exists()


def test_a_config_built_in_python_gets_the_same_checks(tmp_path, data):
    with pytest.raises(TrmError, match="loss_type must be one of stablemax, softmax"):
        train(TrainConfig(data_path=str(data), run_dir=str(tmp_path / "r"), loss_type="foo"))
    assert not (tmp_path / "r").exists()


def test_recipe_files_that_are_not_mappings_or_not_yaml_are_one_line(tmp_path, capsys):
    listed, broken = tmp_path / "list.yaml", tmp_path / "broken.yaml"
    listed.write_text("- lr: 1\n- epochs: 2\n")
    broken.write_text("lr: [1, 2\n")
    code, _, err = run_cli(["train", listed, "--print-config"], capsys)
    assert code == 2 and "must be a mapping" in one_line(err) and str(listed) in err
    code, _, err = run_cli(["train", broken, "--print-config"], capsys)
    assert code == 2 and "not valid YAML" in one_line(err) and "line 2" in err


def test_old_max_steps_zero_means_from_epochs_and_resumes_identically(tmp_path, data, capsys):
    extra = ["max_steps=null", "epochs=2", "global_batch_size=8", "log_every_steps=1"]
    extra += ["checkpoint_every_steps=3", "eval_every_steps=4", "eval_limit=8"]
    whole = train(tiny_cfg(data, tmp_path / "whole", *extra), progress=False)
    parts = tmp_path / "parts"
    with pytest.raises(Interrupted):
        train(tiny_cfg(data, parts, *extra), progress=False, stop_at_step=3)
    saved = (parts / "config.yaml").read_text()
    assert "max_steps: null" in saved
    (parts / "config.yaml").write_text(saved.replace("max_steps: null", "max_steps: 0"))  # older
    assert load_config(parts / "config.yaml").max_steps is None
    assert run_cli(["train", "--resume", parts, "--no-progress"], capsys)[0] == 0
    a, b = metrics(whole), metrics(parts)
    assert sorted(a) == sorted(b) == list(range(1, 9))  # 2 epochs x 32 puzzles / 8
    assert all(a[s]["train/lm_loss"] == b[s]["train/lm_loss"] for s in a)


# --- recipes find their parts ----------------------------------------------------------------


def test_a_copied_recipe_finds_the_installed_parts(tmp_path, monkeypatch):
    mine = tmp_path / "my.yaml"
    shutil.copy(ROOT / "configs" / "sudoku_cpu.yaml", mine)
    monkeypatch.chdir(tmp_path)
    assert load_config(mine) == load_config("sudoku_cpu")
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "cpu_small.yaml").write_text("global_batch_size: 16\n")
    assert load_config(mine).global_batch_size == 16  # a part beside the recipe comes first
    mine.write_text("defaults:\n  model: nope\n")
    with pytest.raises(TrmError) as e:
        load_config(mine)
    assert str(tmp_path / "model" / "nope.yaml") in str(e.value)
    assert str(ROOT / "configs" / "model" / "nope.yaml") in str(e.value)


# --- checks against the data -----------------------------------------------------------------


def maze_shaped(out: Path) -> Path:
    """A dataset over Maze's vocabulary (6 tokens)."""
    x = np.random.default_rng(0).integers(1, 6, size=(16, 9)).astype(np.uint8)
    split = Split.one_example_per_puzzle(x, x, 1)
    return write_dataset(out, {"train": split, "test": split}, vocab_size=6)


def test_a_kind_that_does_not_match_the_data_is_refused(tmp_path, capsys):
    data = maze_shaped(tmp_path / "maze")
    code, _, err = run_cli(argv(data, tmp_path / "run", "kind=sudoku"), capsys)
    assert code == 2 and "kind=sudoku needs a vocabulary of 11" in one_line(err)
    assert not (tmp_path / "run").exists()  # nothing written, nothing left
    code, _, err = run_cli(argv(data, tmp_path / "run2"), capsys)
    assert code == 0, err
    assert load_config(tmp_path / "run2" / "config.yaml").kind == "maze"


def test_bad_token_ids_leave_no_run_directory(tmp_path, data, capsys):
    inputs = np.load(data / "train" / "all__inputs.npy")
    inputs[3, 2] = 200
    np.save(data / "train" / "all__inputs.npy", inputs)
    run = tmp_path / "runs" / "new"
    code, _, err = run_cli(argv(data, run), capsys)
    assert code == 2 and "all__inputs.npy: token id 200" in one_line(err)
    assert not (tmp_path / "runs").exists()


# --- resume and overwrite check everything before writing ------------------------------------


def test_resume_refuses_shape_changes_and_keeps_the_run(tmp_path, run, capsys):
    before = snapshot(run)
    code, _, err = run_cli(["train", "--resume", run, "model.dim=64", "--no-progress"], capsys)
    assert code == 2 and "model.dim=64" in one_line(err) and "model.dim=32" in err
    other = reverse_task(tmp_path / "other", n_train=32, n_test=8, length=7)
    code, _, err = run_cli(["train", "--resume", run, f"data_path={other}"], capsys)
    assert code == 2 and "seq_len 7" in one_line(err)
    assert snapshot(run) == before  # config.yaml untouched: a plain resume still works
    code, _, err = run_cli(["train", "--resume", run, "max_steps=3", "--no-progress"], capsys)
    assert code == 0 and "at step 2 of 3" in err


def test_overwrite_checks_config_and_data_before_deleting(tmp_path, data, run, capsys):
    before = snapshot(run)
    code, _, err = run_cli(argv(data, run, "loss_type=foo", "--overwrite"), capsys)
    assert code == 2 and "loss_type" in one_line(err)
    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    meta = json.loads((data / "train" / "dataset.json").read_text())
    (broken / "train" / "dataset.json").write_text(json.dumps({**meta, "seq_len": 7}))
    code, _, err = run_cli(argv(broken, run, "--overwrite"), capsys)
    assert code == 2 and "dataset.json: seq_len is 7" in one_line(err)
    assert snapshot(run) == before


# --- one process per run directory -----------------------------------------------------------


def test_a_locked_run_directory_is_refused_with_the_pid(tmp_path, data, run, capsys):
    before = snapshot(run)
    with locked_run_dir(run):
        for extra in (["--resume", run], [f"data_path={data}", f"run_dir={run}", "--overwrite"]):
            code, _, err = run_cli(["train", *extra, "--no-progress"], capsys)
            assert code == 2 and f"(pid {os.getpid()})" in one_line(err)
    assert snapshot(run) == before
    assert not (run / "train.lock").exists()


def test_a_live_run_is_never_touched_and_a_killed_one_restarts(tmp_path, data, capsys):
    run = tmp_path / "live"
    proc = start_training(data, run, "eval_every_steps=1000000")  # no checkpoint until killed
    try:
        for extra in (["--resume", run], [*argv(data, run)[1:], "--overwrite"]):
            code, _, err = run_cli(["train", *extra], capsys)
            assert code == 2 and f"(pid {proc.pid})" in one_line(err)
        assert (run / "metrics.jsonl").exists()
    finally:
        proc.send_signal(signal.SIGKILL)  # no checkpoint yet, and a stale lock left behind
        proc.communicate(timeout=60)
    assert (run / "train.lock").exists() and not (run / "checkpoint.pt").exists()
    code, _, err = run_cli(["train", "--resume", run, "max_steps=2", "--no-progress"], capsys)
    assert code == 0 and "starting at step 0" in err
    assert sorted(metrics(run)) == [1, 2] and not (run / "train.lock").exists()


def test_a_run_that_saved_no_checkpoint_can_simply_be_rerun(tmp_path, data, run, capsys):
    (run / "checkpoint.pt").unlink()
    shutil.rmtree(run / "inference")  # left: config.yaml, metrics.jsonl
    code, _, err = run_cli(argv(data, run), capsys)
    assert code == 0 and "replacing config.yaml, metrics.jsonl" in err
    assert load_training_state(run)["step"] == 2


# --- destinations and full disks -------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_impossible_run_dir_is_one_line_before_any_work(data, capsys, monkeypatch):
    monkeypatch.setattr(trm.training, "load_data", _never)
    code, _, err = run_cli(argv(data, "/proc/x/y"), capsys)
    assert code == 2 and "cannot create run directory" in one_line(err)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(
    tmp_path, data, capsys, monkeypatch
):
    real_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):
        saves.append(obj.get("step") if isinstance(obj, dict) else None)
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    run = tmp_path / "run"
    code, _, err = run_cli(argv(data, run, "max_steps=4", "checkpoint_every_steps=2"), capsys)
    assert code == 2 and f"no space left on {run}" in one_line(err)
    assert saves == [2, 4] and load_training_state(run)["step"] == 2
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_a_full_disk_while_logging_is_one_line(tmp_path, data, capsys, monkeypatch):
    def log(self, step, values):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(trm.training.MetricsLog, "log", log)
    code, _, err = run_cli(argv(data, tmp_path / "run"), capsys)
    assert code == 2 and f"no space left on {tmp_path / 'run'}" in one_line(err)


# --- progress without a terminal -------------------------------------------------------------


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, data, capsys, monkeypatch):
    monkeypatch.setattr(trm.training, "PROGRESS_SECONDS", 1e9)
    cfg = tiny_cfg(
        data, tmp_path / "run", "global_batch_size=8", "max_steps=3", "log_every_steps=1"
    )
    train(cfg, progress=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("trm: step")]
    assert [ln.split()[2] for ln in lines] == ["1/3", "3/3"]  # the first log step, the last
    assert "loss=" in lines[0] and "steps/s=" in lines[0] and "elapsed=00:00:" in lines[0]
    assert "\r" not in "".join(lines)


# --- public names and submodules ------------------------------------------------------------


def test_public_names_are_not_submodules():
    import pkgutil

    import trm

    submodules = {m.name for m in pkgutil.iter_modules(trm.__path__)}
    assert not submodules & set(trm.__all__)


def test_build_then_train_from_python(tmp_path):
    tiny = [*TINY, "global_batch_size=4", "max_steps=2", "eval_limit=2"]
    code = (
        "import trm\n"
        "trm.build('sudoku', 's', 'generate', count=20, workers=1, progress=False)\n"
        f"print(trm.train('sudoku_cpu', 'data_path=s', *{tiny!r}, progress=False))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    run = tmp_path / out.stdout.strip().splitlines()[-1]
    assert load_training_state(run)["step"] == 2
