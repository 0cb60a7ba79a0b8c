"""The Sudoku difficulty ladder (tools/sudoku_ladder.py) built from the real 17-clue list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tool_module import load_tool

from data_builders.sources import read_puzzle_csv
from trm.puzzles import sudoku

ROOT = Path(__file__).resolve().parents[1]
SHARED_SUDOKU = ROOT.parent / "shared" / "data" / "sudoku"


def _grids(rows) -> np.ndarray:
    return np.stack([sudoku.parse(row.question).reshape(81) for row in rows])


@pytest.mark.skipif(not SHARED_SUDOKU.is_dir(), reason="../shared/data/sudoku is not present")
def test_ladder_rungs_nest_and_easy_mix_holds_the_top_three(tmp_path):
    tool = load_tool("sudoku_ladder")
    tool.main(["--data", str(SHARED_SUDOKU), "--out", str(tmp_path)])
    rungs = {g: read_puzzle_csv(tmp_path / "csv" / f"g{g}.csv") for g in tool.RUNGS}
    for low, high in zip(tool.RUNGS, tool.RUNGS[1:]):
        below, above = _grids(rungs[low]), _grids(rungs[high])
        assert ((above > 0).sum(axis=1) == high).all()
        # every clue of the rung below is kept, and the same solutions are used
        assert ((below == 0) | (below == above)).all()
        assert [r.answer for r in rungs[low]] == [r.answer for r in rungs[high]]
    easy = read_puzzle_csv(tmp_path / "csv" / "easy.csv")
    expected = [(r.question, r.answer) for g in tool.EASY for r in rungs[g]]
    assert [(r.question, r.answer) for r in easy] == expected
    # the training copies: each training 17-clue puzzle, then easier copies that keep its clues
    train = read_puzzle_csv(tmp_path / "csv" / "train_17clue.csv")
    copies = read_puzzle_csv(tmp_path / "csv" / "train_17clue_copies.csv")
    assert len(copies) == 4 * len(train) == 4 * 1500
    hard, answers = _grids(train), [r.answer for r in train]
    for k in range(4):
        part = copies[k * len(train) : (k + 1) * len(train)]
        grids, givens = _grids(part), (_grids(part) > 0).sum(axis=1)
        assert [r.answer for r in part] == answers
        assert ((hard == 0) | (hard == grids)).all()
        assert (givens == 17).all() if k == 0 else ((18 <= givens) & (givens <= 40)).all()
    assert not {r.answer for r in train} & {r.answer for r in rungs[17]}  # held out by grid
