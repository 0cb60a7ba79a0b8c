"""`tools/search_curve.py` on the maze ladder: a rung's CSV read as mazes, and one measured point
written as JSON, Markdown and a picture (the shipped maze model, a few generated mazes)."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch
from tool_module import load_tool

from data_builders.maze_generate import generate
from trm.puzzles import maze

torch.set_num_threads(1)


def test_maze_rung_is_measured_and_written(tmp_path, monkeypatch):
    curve = load_tool("search_curve")
    questions = generate(4, min_path=9, max_path=20, rng=np.random.default_rng(2), progress=False)
    answers, _ = maze.solve_batch(questions.questions)
    path = tmp_path / "p10-20.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "question", "answer", "rating"])
        for q, a in zip(questions.questions, answers):
            w.writerow(["gen", maze.to_line(q), maze.to_line(a), 0])
    monkeypatch.setitem(curve.LISTS, "maze-p10-20", ("maze", path))
    q, a = curve.load_list("maze-p10-20", 0, 0)
    assert np.array_equal(q, questions.questions) and np.array_equal(a, answers)
    out = tmp_path / "curve"
    curve.main(["--lists", "maze-p10-20", "--limit", "0", "--views", "2", "--budgets", "64",
                "--max-steps", "8", "--out", str(out)])  # fmt: skip
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["checkpoint"] == "maze" and saved["max_steps"] == 8
    views, searched = saved["rows"]
    assert (views["strategy"], views["views"], searched["strategy"]) == ("views", 2, "search")
    assert views["mean_steps"] <= 2 * 8 and searched["mean_steps"] <= 64
    assert out.with_suffix(".png").is_file() and "maze-p10-20" in out.with_suffix(".md").read_text()
