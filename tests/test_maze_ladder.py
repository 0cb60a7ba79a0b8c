"""The maze ladder (tools/maze_ladder.py): each rung's shortest paths lie in its band, and no
two mazes share a wall layout; training builds avoid the ladder's layouts (--exclude)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tool_module import load_tool

from data_builders import maze as builder
from data_builders.maze_generate import layout_key
from trm.puzzles import maze

ROOT = Path(__file__).resolve().parents[1]


def _mazes(csv: Path, size: int = 30) -> tuple[np.ndarray, np.ndarray]:
    # load_csv checks that every answer is a shortest path
    q, a, skipped = builder.load_csv(csv, size=size, progress=False)
    assert skipped == 0
    return q, a


def test_rungs_hold_their_path_lengths_and_share_no_layout(tmp_path):
    tool = load_tool("maze_ladder")
    count = 12
    tool.build_ladder(tmp_path, count=count, seed=3)
    keys: set[bytes] = set()
    for name, (lo, hi) in tool.RUNGS.items():
        q, a = _mazes(tmp_path / "csv" / f"{name}.csv")
        assert q.shape == (count, 30, 30)
        moves = maze.solve_batch(q)[1]
        assert (moves > lo).all() and (hi is None or (moves <= hi).all()), (name, moves)
        assert (moves == (a == maze.PATH).sum(axis=(1, 2)) + 1).all()
        walls = (q == maze.WALL).sum(axis=(1, 2))
        assert ((270 <= walls) & (walls <= 450)).all()
        keys |= {layout_key(g == maze.WALL) for g in q}
        test = np.load(tmp_path / name / "test" / "all__inputs.npy")
        assert len(test) == count  # the rung is its dataset's test split
    assert len(keys) == count * len(tool.RUNGS)
    all_q, _ = _mazes(tmp_path / "csv" / "all.csv")
    assert {layout_key(g == maze.WALL) for g in all_q} == keys

    # a training build that excludes the ladder: short paths, none of its layouts
    out = tmp_path / "train"
    builder.build(
        out, "generate", count=40, test_count=5, max_path=40, min_path=9,
        exclude=[str(tmp_path / "csv" / "all.csv")], progress=False,
    )  # fmt: skip
    inputs = np.load(out / "train" / "all__inputs.npy")
    train_q = maze.decode(inputs).reshape(-1, 30, 30)
    lengths = maze.solve_batch(train_q)[1]
    assert ((9 < lengths) & (lengths <= 40)).all()
    assert not keys & {layout_key(g == maze.WALL) for g in train_q}


def test_bands_and_goal_by_length_make_a_proxy_ladder(tmp_path):
    tool = load_tool("maze_ladder")
    tool.main(["--out", str(tmp_path), "--size", "9", "--count", "12", "--goal", "length",
               "--band", "p1-12=0:12"])  # fmt: skip
    q, _ = _mazes(tmp_path / "csv" / "p1-12.csv", size=9)
    assert q.shape == (12, 9, 9)
    assert sorted(maze.solve_batch(q)[1].tolist()) == list(range(1, 13))  # one maze per length
    with pytest.raises(SystemExit):
        tool.main(["--out", str(tmp_path), "--band", "p9=9:3"])  # LO must be below HI
