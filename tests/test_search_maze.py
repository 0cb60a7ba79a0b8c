"""`--search` on mazes: a node walls off a cell the network is unsure of (a path cell cannot be
written into a question, a wall can), and every answer is checked by breadth-first search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import trm
from data_builders.maze_generate import generate
from trm import cli
from trm.inference.search import Search
from trm.puzzles import maze

torch.set_num_threads(1)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "maze.txt"
# S and G side by side over one open cell; walling it makes the way round 6 moves, not 2.
SMALL = "S G\n # \n   "


def on_path_probs(side: int, p: dict[int, float]) -> np.ndarray:
    """Token probabilities (cells, VOCAB_SIZE): cell c on the path with probability p[c]."""
    probs = np.zeros((side * side, maze.VOCAB_SIZE))
    probs[:, maze.OPEN + 1] = 1.0
    for cell, on in p.items():
        probs[cell, maze.PATH + 1], probs[cell, maze.OPEN + 1] = on, 1 - on
    return probs


def test_branches_wall_the_open_cells_the_network_is_least_sure_of():
    q = maze.parse(SMALL)
    probs = on_path_probs(3, {1: 0.9, 3: 0.45, 4: 0.5, 5: 0.2, 8: 0.02})  # 4 is a wall
    assert maze.branches(q, probs, "least", 2) == [(3, maze.WALL, 0.55), (5, maze.WALL, 0.8)]
    assert [c for c, _, _ in maze.branches(q, probs, "least", 9)][:3] == [3, 5, 1]


def test_a_wall_that_lengthens_the_shortest_path_is_a_dead_end():
    q = maze.parse(SMALL)
    walled = q.copy()
    walled.flat[1] = maze.WALL  # the one cell between S and G
    assert maze.dead_end(walled, q)
    aside = q.copy()
    aside.flat[7] = maze.WALL  # bottom middle: no shortest path uses it
    assert not maze.dead_end(aside, q)
    answer = aside.copy()
    answer.flat[1] = maze.PATH
    back = maze.answer_of(q, answer)  # the node's wall is an open cell again
    assert back.flat[7] == maze.OPEN and maze.verify(q, back)


def test_search_finds_paths_one_step_does_not_and_bfs_checks_each():
    questions = generate(6, min_path=9, max_path=20, rng=np.random.default_rng(5), progress=False)
    mazes = list(questions.questions)
    solver = trm.load("maze", device="cpu")
    plain = solver.solve(mazes, max_steps=1)  # one supervision step cannot reach G
    plan = Search(views=1, node_steps=16, budget=600)
    found = solver.solve(mazes, max_steps=1, search=plan)
    assert sum(r.verified for r in found) > sum(r.verified for r in plain)
    for q, r in zip(mazes, found):
        assert r.steps <= r.network_steps <= plan.budget
        if r.method == "search":  # one view: every answer the search found has walls
            assert maze.verify(q, r.answer) and r.search_depth == len(r.commits) >= 1
            assert all(c.value == maze.WALL and q.flat[c.cell] == maze.OPEN for c in r.commits)


def test_cli_maze_search_costs_nothing_when_one_pass_solves(capsys):
    argv = ["solve", "maze", "--file", str(EXAMPLE), "--search", "--json", "--device", "cpu"]
    assert cli.main(argv) == 0
    [out] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out["verified"] and out["method"] == "verified" and out["search_nodes"] == 0
