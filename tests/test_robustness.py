"""Issue 11: nothing lost (run dirs, temporaries), nothing executed, nothing silent."""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
from tiny_data import reverse_task

from trm import cli
from trm.act import ADAPTIVE
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
    "compile=false",  # tiny runs: compiling would cost more than it saves
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
    from trm.training import train

    tmp = tmp_path_factory.mktemp("run")
    data = reverse_task(tmp / "data", n_train=32, n_test=8, length=81)  # Sudoku-shaped
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


# --- item 2: a run directory that holds a run is not overwritten ---------------------------


def test_existing_run_is_refused_unless_overwrite(tmp_path, tiny_run, capsys):
    data, _ = tiny_run
    run = tmp_path / "A"
    argv = ["train", f"data_path={data}", f"run_dir={run}", *TINY, "--no-progress"]
    assert run_cli(argv, capsys)[0] == 0
    before = (run / "metrics.jsonl").read_text()
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "--overwrite" in one_line(err) and "--resume" in err
    assert (run / "metrics.jsonl").read_text() == before
    assert run_cli([*argv, "--overwrite"], capsys)[0] == 0
    steps = [int(ln.split('"step": ')[1].split(",")[0]) for ln in before.splitlines()]
    after = (run / "metrics.jsonl").read_text()
    assert [int(ln.split('"step": ')[1].split(",")[0]) for ln in after.splitlines()] == steps


# --- item 9: resume says where, config with --resume, progress bar, DDP flag, wandb -------


def test_resume_reports_where_and_refuses_a_config_file(tmp_path, tiny_run, capsys):
    data, _ = tiny_run
    run = tmp_path / "R"
    base = ["train", f"data_path={data}", f"run_dir={run}", *TINY, "--no-progress"]
    assert run_cli(base, capsys)[0] == 0
    code, _, err = run_cli(["train", "--resume", run, "max_steps=3", "--no-progress"], capsys)
    assert code == 0, err
    assert f"resumed {run} at step 2 of 3" in err and "max_steps=3" in err
    code, _, err = run_cli(["train", "configs/sudoku_mlp.yaml", "--resume", run], capsys)
    assert code == 2 and "saved config" in one_line(err)


def test_progress_bar_never_shows_nan(tmp_path, tiny_run, capsys):
    from trm.training import train

    data, _ = tiny_run
    extra = ["log_every_steps=1", "model.max_supervision_steps=8", "max_steps=3"]
    cfg = load_config(None, [f"data_path={data}", f"run_dir={tmp_path / 'p'}", *TINY, *extra])
    train(cfg, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "nan" not in err


def _flag_worker(rank: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    from trm.runtime import Runtime
    from trm.runtime import any_rank as _any_rank

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    rt = Runtime(torch.device("cpu"), rank, 2)
    flag = torch.tensor(rank == 1)  # only rank 1 saw a NaN
    Path(out, str(rank)).write_text(str(_any_rank(flag, rt)))
    dist.destroy_process_group()


def test_nan_flag_is_agreed_by_all_ranks(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_flag_worker, args=(port, str(tmp_path)), nprocs=2)
    assert (tmp_path / "0").read_text() == (tmp_path / "1").read_text() == "True"


def test_wandb_resume_continues_the_same_run(tmp_path, monkeypatch):
    import sys
    import types

    from trm.config import TrainConfig
    from trm.metrics_log import MetricsLog

    calls = []
    fake = types.SimpleNamespace(init=lambda **kw: calls.append(kw), log=lambda *a, **k: None)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = TrainConfig(logger="wandb")
    MetricsLog(tmp_path, cfg, None, True)
    MetricsLog(tmp_path, cfg, 5, True)  # --resume
    (tmp_path / "other").mkdir()
    MetricsLog(tmp_path / "other", cfg, None, True)  # another run: another id
    assert calls[0]["id"] and calls[1]["id"] == calls[0]["id"]
    assert calls[1]["resume"] == "allow" and calls[2]["id"] != calls[0]["id"]


# --- item 3: stale temporaries of a killed build are removed, nothing else -----------------


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_build_temporaries_are_removed_safely(tmp_path):
    import subprocess
    import sys

    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".ds.tmp-{dead}-abcd1234"
        kept = [
            tmp_path / f".ds.tmp-{live.pid}-abcd1234",  # a build still running
            tmp_path / f".other.tmp-{dead}-abcd1234",  # another target
            tmp_path / ".ds.tmp-notapid",  # not our pattern
        ]
        for d in [stale, *kept]:
            d.mkdir()
            (d / "x.npy").write_bytes(b"123")
        reverse_task(tmp_path / "ds", n_train=8, n_test=2)
        assert not stale.exists()
        assert all(d.exists() for d in kept)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")) == sorted(
            d.name for d in kept if d.name.startswith(".ds")
        )
    finally:
        live.kill()
        live.wait()


def test_checkpoint_temporaries_are_removed_too(tmp_path):
    from trm.safe_io import write_text_atomic

    stale = tmp_path / f".config.yaml.tmp-{_dead_pid()}-k2j3h4"
    stale.write_text("half")
    write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


# --- item 10: built datasets get normal permissions ----------------------------------------


def test_dataset_directories_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = reverse_task(tmp_path / "ds", n_train=8, n_test=2)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "train").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "identifiers.json").stat().st_mode) == 0o644


# --- item 4: bytes that are not UTF-8 are one line, exit 2 ---------------------------------

BINARY = b"\xff\xfe\x00\x81garbage\n"


@pytest.mark.parametrize("kind", ["sudoku", "maze", "arc"])
def test_non_utf8_file_is_one_line(kind, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_bytes(BINARY)
    code, _, err = run_cli(["solve", kind, "--file", path], capsys)
    assert code == 2 and "not UTF-8" in one_line(err)


def test_non_utf8_csv_and_corrupt_metadata_are_one_line(tmp_path, tiny_run, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_bytes(b"source,question,answer,rating\n" + BINARY)
    argv = ["build", "sudoku", "--source", csv, "--test-source", csv, "--out", tmp_path / "o"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "not UTF-8" in one_line(err)
    data, run = tiny_run
    broken = tmp_path / "data"
    (broken / "test").mkdir(parents=True)
    (broken / "test" / "dataset.json").write_text('{"vocab_size": 11,')
    code, _, err = run_cli(["eval", run, broken], capsys)
    assert code == 2 and "not valid JSON" in one_line(err)


def test_resume_survives_a_torn_metrics_line(tmp_path):
    from trm.config import TrainConfig
    from trm.metrics_log import MetricsLog

    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "tr')
    MetricsLog(tmp_path, TrainConfig(), 2, True)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'


# --- item 5: unwritable destinations fail before the work ----------------------------------


def _never(*args, **kwargs):
    raise AssertionError("the work started before the destination was checked")


def test_unwritable_destinations_fail_first(tmp_path, tiny_run, capsys, monkeypatch):
    import data_builders.sudoku
    import trm.inference.eval_report
    import trm.loading
    import trm.training

    data, run = tiny_run
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    under = blocker / "sub" / "x"
    monkeypatch.setattr(data_builders.sudoku, "build", _never)
    monkeypatch.setattr(trm.loading, "load_for_kind", _never)
    monkeypatch.setattr(trm.inference.eval_report, "eval_report", _never)
    monkeypatch.setattr(trm.training, "load_data", _never)
    cases = [
        ["build", "sudoku", "--source", "generate", "--count", "2", "--out", under],
        ["train", f"data_path={data}", f"run_dir={under}", *TINY],
        ["solve", "sudoku", "--trace", "--trace-png", f"{under}.png", "." * 81],
        ["eval", run, data, "--views", "2", "--plot", f"{under}.png"],
        ["eval", run, data, "--views", "2", "--plot", tmp_path],  # a directory
    ]
    for argv in cases:
        code, _, err = run_cli(argv, capsys)
        assert code == 2, (argv, err)
        assert "cannot" in one_line(err)


def test_eval_prints_its_results_before_a_failing_plot(tmp_path, tiny_run, capsys, monkeypatch):
    import trm.inference.eval_report

    def fail(report, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(trm.inference.eval_report, "write_plot", fail)
    data, run = tiny_run
    argv = ["eval", run, data, "--views", "2", "--plot", tmp_path / "p.png", "--limit", "4"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and "Permission denied" in one_line(err)
    assert "exact_accuracy" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_is_refused(tmp_path, tiny_run, capsys):
    data, _ = tiny_run
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_cli(["train", f"data_path={data}", f"run_dir={ro / 'r'}", *TINY], capsys)
        assert code == 2 and "not writable" in one_line(err)
    finally:
        ro.chmod(0o755)


# --- item 6: a row of spaces inside a maze is a row of open cells --------------------------


def test_maze_rows_of_spaces_are_cells_and_empty_lines_separate(tmp_path):
    import argparse

    from trm.cli.solve import read_puzzles

    one = "####\n#S #\n    \n##G#"  # row 3: all open
    two = "S  G\n    \n    \n####"
    path = tmp_path / "m.txt"
    path.write_text(f"{one}\n\n{two}\r\n")
    args = argparse.Namespace(kind="maze", puzzles=[], file=str(path))
    grids = [grid for _, grid in read_puzzles(args)]  # (position, grid) pairs
    assert len(grids) == 2 and (grids[0][2] == 1).all() and (grids[1][1:3] == 1).all()


# --- item 7: unsolvable Sudoku: the givens stay, and trm says there is no solution --------

UNSOLVABLE = "12345678." + "........9" + "." * 63  # cell (1, 9) needs a 9, column 9 has one


def test_unsolvable_sudoku_keeps_givens_and_says_so(tmp_path, capsys):
    import torch
    from tiny_data import tiny_config

    from trm.inference.solve import solve_grids
    from trm.model import TinyRecursiveModel
    from trm.puzzles import sudoku

    torch.manual_seed(0)
    model = TinyRecursiveModel(tiny_config()).eval()
    bad, good = sudoku.parse(UNSOLVABLE), sudoku.parse("1" + "." * 80)
    r_bad, r_good = solve_grids(model, "sudoku", [bad, good], halting=ADAPTIVE)
    for q, r in ((bad, r_bad), (good, r_good)):
        assert not r.verified and ((q == 0) | (r.answer == q)).all()
    assert r_bad.solvable is False and r_good.solvable is True
    assert r_bad.to_json(sudoku.to_line)["solvable"] is False
    code, out, _ = run_cli(["solve", "sudoku", UNSOLVABLE], capsys)
    assert code == 0 and "NO SOLUTION" in out and "1 2 3 | 4 5 6 | 7 8" in out


# --- item 8: bounded counts, progress on a terminal ----------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["solve", "sudoku", "--steps", "100000", "." * 81],
        ["solve", "sudoku", "--views", "100000", "." * 81],
        ["solve", "sudoku", "--batch-size", "0", "." * 81],
        ["solve", "arc", "--adapt-steps", "10000000", "{}"],
        ["eval", "ckpt", "data", "--steps", "0"],
        ["eval", "ckpt", "data", "--limit", "-1"],
        ["bench", "solve", "--count", "100000000000"],
    ],
)
def test_counts_that_drive_loops_are_bounded(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "must be between" in capsys.readouterr().err


class _Terminal:
    """A stand-in stderr that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_shows_on_a_terminal_but_not_with_json(monkeypatch, capsys):
    import sys

    puzzle = "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......"
    for extra, shown in (([], True), (["--json"], False)):
        term = _Terminal()
        monkeypatch.setattr(sys, "stderr", term)
        assert cli.main(["solve", "sudoku", "--views", "2", *extra, puzzle]) == 0
        assert ("solve:" in term.text) == shown, term.text


def test_arc_solving_shows_progress(monkeypatch):
    import sys

    import torch
    from tiny_data import tiny_config

    from trm.inference.arc import solve_arc_task
    from trm.model import TinyRecursiveModel
    from trm.puzzles import arc

    torch.manual_seed(0)
    model = TinyRecursiveModel(tiny_config(vocab_size=12, seq_len=900)).eval()
    grid = [[1, 2], [3, 4]]
    pair = {"input": grid, "output": grid}
    task = arc.parse(json.dumps({"train": [pair], "test": [{"input": grid}] * 2}))
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    results = solve_arc_task(model, task, halting=ADAPTIVE, views=2, progress=True)
    assert len(results) == 2 and "solve task" in term.text


# --- item 10: friction ---------------------------------------------------------------------


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return capsys.readouterr().out


def test_help_is_per_kind_and_every_verb_has_a_description(capsys):
    solve = _help(["solve"], capsys)
    sudoku, maze = _help(["solve", "sudoku"], capsys), _help(["solve", "maze"], capsys)
    assert len({solve, sudoku, maze}) == 3
    assert "81 cells" in sudoku and "empty lines" in maze and "--adapt-steps" not in sudoku
    assert "Measure speed" in _help(["bench"], capsys)
    for verb in ("build", "train", "eval"):
        text = _help([verb], capsys)
        assert text.split("\n\n")[1].strip()[0].isupper(), text  # a description paragraph


def test_print_config_ends_with_one_newline(capsys):
    assert cli.main(["train", "configs/sudoku_cpu.yaml", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and not out.endswith("\n\n")


def test_readme_install_commands_agree():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    opening, install = readme.split("```")[1], readme.split("## Install")[1].split("```")[1]
    assert '".[dev,fast]"' in opening and '".[dev,fast]"' in install


# --- the same faults elsewhere ---------------------------------------------------------------


@pytest.mark.parametrize("override", ["log_every_steps=0", "checkpoint_every_steps=0", "epochs=0"])
def test_config_counts_that_divide_or_loop_are_checked(override, capsys):
    code, _, err = run_cli(["train", override, "--print-config"], capsys)
    assert code == 2 and override.split("=")[0] in one_line(err)


def test_dataset_arrays_never_unpickle(tmp_path, capsys):
    from trm.data import PuzzleDataset
    from trm.errors import TrmError

    data = reverse_task(tmp_path / "ds", n_train=8, n_test=2)
    np.save(data / "train" / "all__group_indices.npy", np.array([object()]), allow_pickle=True)
    with pytest.raises(TrmError, match="all__group_indices.npy"):
        PuzzleDataset(data, "train")
