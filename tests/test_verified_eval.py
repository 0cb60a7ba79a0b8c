"""Verified accuracy: an answer that passes the rules counts, whichever shortest path it draws
(``trm.puzzles.verified_tokens``); ``trm eval`` and the training log report it beside exact."""

from __future__ import annotations

import numpy as np
import torch

import trm
from data_builders import maze as maze_builder
from data_builders.maze_generate import generate
from trm.puzzles import maze, sudoku, verified_tokens

torch.set_num_threads(1)

# S top left, G bottom right of an open 3x3: a shortest path goes round either side.
OPEN3 = "S  \n   \n  G"


def test_any_shortest_path_passes_and_nothing_else_does():
    q = maze.parse(OPEN3)
    right, down, long_way = q.copy(), q.copy(), q.copy()
    right.flat[[1, 2, 5]] = maze.PATH  # along the top, then down
    down.flat[[3, 6, 7]] = maze.PATH  # down the side, then along
    long_way.flat[[1, 4, 3, 6, 7]] = maze.PATH  # connected, but 6 moves, not 4
    inputs = maze.encode(np.stack([q, q, q, q]))
    answers = maze.encode(np.stack([right, down, long_way, q]))
    assert verified_tokens("maze", inputs, answers).tolist() == [True, True, False, False]
    answers[0, 0] = 0  # a PAD token is not a maze cell
    assert not verified_tokens("maze", inputs[:1], answers[:1])[0]
    assert verified_tokens("arc", inputs, answers) is None  # no rules
    assert verified_tokens("nonesuch", inputs, answers) is None


def test_a_solved_sudoku_passes():
    grid = sudoku.parse(
        "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
    )
    question = grid.copy()
    question.flat[::3] = 0
    wrong = grid.copy()
    wrong.flat[[0, 1]] = wrong.flat[[1, 0]]
    ok = verified_tokens(
        "sudoku",
        sudoku.encode(np.stack([question, question])),
        sudoku.encode(np.stack([grid, wrong])),
    )
    assert ok.tolist() == [True, False]


def test_eval_counts_every_shortest_path_the_model_draws(tmp_path):
    gen = generate(40, min_path=9, max_path=20, rng=np.random.default_rng(8), progress=False)
    answers, _ = maze.solve_batch(gen.questions)
    csv = tmp_path / "mazes.csv"
    maze_builder.write_csv(csv, gen.questions, answers, source="test")
    maze_builder.build(tmp_path / "data", str(csv), test_source=str(csv), progress=False)
    solver = trm.load("maze", device="cpu")
    report = solver.evaluate(str(tmp_path / "data"), max_steps=32, halt="rules")
    # the same mazes solved one by one: verified answers, however the path runs
    results = solver.solve(list(gen.questions), max_steps=32, halt="rules")
    verified = np.mean([r.verified for r in results])
    assert report["adaptive_verified_accuracy"] == verified
    assert report["adaptive_verified_accuracy"] > report["adaptive_exact_accuracy"]
    assert report["verified_accuracy"] >= report["exact_accuracy"]
