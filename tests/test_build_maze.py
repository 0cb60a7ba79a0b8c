"""Maze dataset builder: generator recipe, reproducibility, splits, augmentation, CSV checks."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from data_builders import maze as builder
from data_builders.maze_generate import generate, wall_count_range
from trm.errors import TrmError
from trm.puzzles import maze
from trm.puzzles.base import PuzzleError, dihedral

SMALL = {"size": 12, "min_path": 20, "progress": False}


def load(out: Path, split: str) -> dict[str, np.ndarray]:
    d = out / split
    return {f: np.load(d / f"all__{f}.npy") for f in ("inputs", "labels", "group_indices")}


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def layouts(tokens: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in tokens == maze.WALL + 1}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("maze") / "data"
    builder.build(out, "generate", count=20, seed=5, **SMALL)
    return out


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory, small_dataset) -> Path:
    """train.csv and test.csv written from the small generated dataset."""
    d = tmp_path_factory.mktemp("csv")
    for split in ("train", "test"):
        arrays = load(small_dataset, split)
        q, a = maze.decode(arrays["inputs"]), maze.decode(arrays["labels"])
        builder.write_csv(d / f"{split}.csv", q, a)
    return d


def check_recipe(inputs: np.ndarray, labels: np.ndarray, size: int, min_path: int) -> None:
    q, a = maze.decode(inputs), maze.decode(labels)
    lo, hi = wall_count_range(size)
    walls = (q == maze.WALL).sum(axis=(1, 2))
    assert ((walls >= 0.3 * size * size) & (walls <= 0.5 * size * size)).all()
    assert ((walls >= lo) & (walls <= hi)).all()
    assert ((q == maze.START).sum(axis=(1, 2)) == 1).all()
    assert ((q == maze.GOAL).sum(axis=(1, 2)) == 1).all()
    assert not (q == maze.PATH).any()
    assert all(maze.shortest_path_length(g) > min_path for g in q)
    assert maze.verify_batch(q, a).all()
    assert all(np.array_equal(maze.solve(g), s) for g, s in zip(q, a))  # the tie-break answer


def test_generated_mazes_meet_the_recipe(small_dataset):
    for split in ("train", "test"):
        arrays = load(small_dataset, split)
        assert arrays["inputs"].shape == (20, 144)
        check_recipe(arrays["inputs"], arrays["labels"], 12, 20)
    info = json.loads((small_dataset / "build_info.json").read_text())
    assert info["train"]["mazes"] == 20 and info["shared_layouts"] == 0
    assert info["train"]["path_length"]["min"] > 20


def test_real_recipe_a_few_mazes(tmp_path):
    out = tmp_path / "maze30"
    summary = builder.build(out, "generate", count=3, test_count=2, progress=False)
    assert summary["train_mazes"] == 3 and summary["test_mazes"] == 2
    assert summary["path_min"] > 110
    assert wall_count_range(30) == (270, 450)
    for split in ("train", "test"):
        arrays = load(out, split)
        assert arrays["inputs"].shape[1] == 900
        check_recipe(arrays["inputs"], arrays["labels"], 30, 110)
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["vocab_size"] == 6 and meta["seq_len"] == 900


def test_same_seed_same_bytes(tmp_path, small_dataset):
    again = tmp_path / "again"
    builder.build(again, "generate", count=20, seed=5, **SMALL)
    assert files(again) == files(small_dataset)
    other = tmp_path / "other"
    builder.build(other, "generate", count=20, seed=6, **SMALL)
    assert files(other)["train/all__inputs.npy"] != files(small_dataset)["train/all__inputs.npy"]


def test_train_and_test_share_no_wall_layout(small_dataset):
    train, test = load(small_dataset, "train"), load(small_dataset, "test")
    assert not layouts(train["inputs"]) & layouts(test["inputs"])
    assert len(layouts(train["inputs"])) == 20
    g = generate(200, size=6, min_path=4, rng=np.random.default_rng(0), progress=False)
    keys = {q.tobytes() for q in g.questions == maze.WALL}
    assert len(keys) == 200  # at 6x6 repeats would be common without the check


def test_aug_makes_groups_of_eight_dihedral_copies(tmp_path, small_dataset):
    out = tmp_path / "aug"
    summary = builder.build(out, "generate", count=20, seed=5, aug=True, **SMALL)
    assert summary["train_puzzles"] == 160
    train, test = load(out, "train"), load(out, "test")
    assert train["inputs"].shape == (160, 144)
    assert np.array_equal(train["group_indices"], np.arange(0, 161, 8))
    assert np.array_equal(test["inputs"], load(small_dataset, "test")["inputs"])  # never augmented
    q = maze.decode(train["inputs"]).reshape(20, 8, 12, 12)
    a = maze.decode(train["labels"]).reshape(20, 8, 12, 12)
    for t in range(8):
        assert np.array_equal(q[:, t], dihedral(q[:, 0], t))
        assert maze.verify_batch(q[:, t], a[:, t]).all()
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["total_groups"] == 20 and meta["total_puzzles"] == 160


def test_csv_sources_round_trip(tmp_path, csv_dir, small_dataset):
    from_dir = tmp_path / "dir"
    summary = builder.build(from_dir, str(csv_dir), size=12, progress=False)
    assert summary["train_mazes"] == 20 and summary["skipped"] == 0
    from_files = tmp_path / "files"
    builder.build(
        from_files, str(csv_dir / "train.csv"), test_source=str(csv_dir / "test.csv"), size=12
    )
    for out in (from_dir, from_files):
        for split in ("train", "test"):
            assert np.array_equal(load(out, split)["labels"], load(small_dataset, split)["labels"])
    with pytest.raises(TrmError, match="--test-source"):
        builder.build(tmp_path / "x", str(csv_dir / "train.csv"), size=12)
    with pytest.raises(TrmError, match="no such file or directory"):
        builder.build(tmp_path / "x", str(tmp_path / "missing.csv"), size=12)


def corrupt(csv_dir: Path, tmp_path: Path, line: int, edit) -> Path:
    """A copy of csv_dir whose train.csv has ``edit(fields)`` applied on 1-based ``line``."""
    d = tmp_path / "bad"
    d.mkdir(exist_ok=True)
    lines = (csv_dir / "train.csv").read_text().splitlines()
    fields = lines[line - 1].split(",")
    lines[line - 1] = ",".join(edit(fields))
    (d / "train.csv").write_text("\n".join(lines) + "\n")
    (d / "test.csv").write_bytes((csv_dir / "test.csv").read_bytes())
    return d


def longer_answer(fields: list[str]) -> list[str]:
    """Mark one more open cell 'o': the path becomes one cell longer than the shortest."""
    answer = list(fields[2])
    spare = next(i for i, ch in enumerate(answer) if ch == " ")
    answer[spare] = "o"
    fields[2] = "".join(answer)
    return fields


@pytest.mark.parametrize(
    "line, edit, message",
    [
        (
            4,
            lambda f: [f[0], f[1][:-1], f[2], f[3]],
            "train.csv:4: question has 143 characters, expected 144",
        ),
        (
            7,
            lambda f: [f[0], f[1], "x" + f[2][1:], f[3]],
            "train.csv:7: answer: bad character 'x' at row 1, column 1",
        ),
        (
            3,
            lambda f: [f[0], f[1].replace("S", " "), f[2], f[3]],
            "train.csv:3: question: no S in maze",
        ),
        (5, longer_answer, "train.csv:5: answer path"),
        (9, lambda f: f[:2], "train.csv:9: expected 4 columns, found 2"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, csv_dir, line, edit, message):
    bad = corrupt(csv_dir, tmp_path, line, edit)
    with pytest.raises(TrmError) as err:
        builder.build(tmp_path / "out", str(bad), size=12, progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_skip_invalid_counts(tmp_path, csv_dir):
    bad = corrupt(csv_dir, tmp_path, 4, lambda f: [f[0], f[1][:-1], f[2], f[3]])
    lines = (bad / "train.csv").read_text().splitlines()
    fields = lines[5].split(",")
    lines[5] = ",".join(longer_answer(fields))
    (bad / "train.csv").write_text("\n".join(lines) + "\n")
    summary = builder.build(tmp_path / "out", str(bad), size=12, skip_invalid=True, progress=False)
    assert summary["skipped"] == 2 and summary["train_mazes"] == 18
    assert load(tmp_path / "out", "train")["inputs"].shape == (18, 144)


def test_build_from_args(tmp_path):
    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    out = tmp_path / "cli"
    args = parser.parse_args(
        ["--source", "generate", "--out", str(out), "--count", "4", "--test-count", "3",
         "--size", "10", "--min-path", "14", "--seed", "2", "--aug"]
    )  # fmt: skip
    summary = builder.build_from_args(args)
    assert summary["train_puzzles"] == 32 and summary["test_mazes"] == 3
    assert json.dumps(summary)  # plain values only
    info = json.loads((out / "build_info.json").read_text())
    assert info["args"]["seed"] == 2 and info["args"]["aug"] is True


def test_verify_error_is_a_puzzle_error(tmp_path, csv_dir):
    bad = corrupt(csv_dir, tmp_path, 2, longer_answer)
    with pytest.raises(PuzzleError, match=r"train\.csv:2: answer path has length \d+ but"):
        builder.load_csv(bad / "train.csv", size=12, progress=False)


def test_path_band_and_exclude_are_checked_before_work(tmp_path):
    with pytest.raises(TrmError, match="--max-path \\(20\\) must be more than --min-path"):
        builder.build(tmp_path / "a", "generate", min_path=20, max_path=20, size=12)
    with pytest.raises(TrmError, match="--exclude nothere.csv: no such file"):
        builder.build(tmp_path / "b", "generate", exclude=["nothere.csv"], size=12)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_max_path_bounds_generated_paths(tmp_path):
    builder.build(tmp_path / "d", "generate", count=30, seed=2, size=12, min_path=4,
                  max_path=8, progress=False)  # fmt: skip
    lengths = maze.solve_batch(
        maze.decode(load(tmp_path / "d", "train")["inputs"]).reshape(-1, 12, 12)
    )[1]
    assert ((4 < lengths) & (lengths <= 8)).all()


def test_goal_by_length_gives_every_length_its_share(tmp_path):
    g = generate(60, size=12, min_path=2, max_path=8, goal="length",
                 rng=np.random.default_rng(4), progress=False)  # fmt: skip
    lengths = maze.solve_batch(g.questions)[1]
    assert np.array_equal(np.bincount(lengths, minlength=9)[3:], [10] * 6)  # 60 over 3..8
    assert np.isnan(g.recipe_weights).all()
    cell = generate(60, size=12, min_path=2, max_path=8, rng=np.random.default_rng(4),
                    progress=False)  # fmt: skip
    assert np.bincount(maze.solve_batch(cell.questions)[1], minlength=9)[3] > 10  # short-heavy
    with pytest.raises(TrmError, match="--goal length needs --max-path"):
        builder.build(tmp_path / "e", "generate", goal="length", size=12)
    with pytest.raises(TrmError, match="--goal must be one of cell, length, got 'far'"):
        generate(5, size=12, goal="far", rng=np.random.default_rng(0), progress=False)
    summary = builder.build(tmp_path / "f", "generate", count=12, test_count=6, seed=1, size=12,
                            min_path=2, max_path=8, goal="length", progress=False)  # fmt: skip
    info = json.loads((tmp_path / "f" / "build_info.json").read_text())
    assert "uniform" in info["generator"]["sampling"] and summary["train_puzzles"] == 12
