"""Sudoku rules, codec, solver, rating and symmetries (trm.puzzles.sudoku)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trm.puzzles import sudoku, sudoku_solver
from trm.puzzles.base import PuzzleError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku"
QUOTED = (
    "5...27..9..41......1..5.3...92.6.8...5......66..7..29.8...7...2.......8...9..36..",
    "583427169974136528216859374792364851351298746648715293865971432137642985429583617",
)


def _grid(line: str) -> np.ndarray:
    return np.array([0 if ch == "." else int(ch) for ch in line], np.uint8).reshape(9, 9)


def _load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with path.open() as f:
        rows = list(csv.reader(f))[1:]
    q = np.frombuffer("".join(r[1] for r in rows).encode(), np.uint8).reshape(-1, 9, 9)
    a = np.frombuffer("".join(r[2] for r in rows).encode(), np.uint8).reshape(-1, 9, 9)
    q = np.where(q == ord("."), 0, q - ord("0")).astype(np.uint8)
    return q, (a - ord("0")).astype(np.uint8), np.array([int(r[3]) for r in rows])


def test_parse_formats_and_render_round_trip():
    q = _grid(QUOTED[0])
    assert (sudoku.parse(QUOTED[0]) == q).all()
    assert (sudoku.parse(QUOTED[0].replace(".", "0")) == q).all()
    assert (sudoku.parse(sudoku.render(q)) == q).all()
    assert sudoku.to_line(sudoku.parse(sudoku.render(q))) == QUOTED[0]
    spaced = "\n".join(" ".join(QUOTED[0][9 * r : 9 * r + 9]) for r in range(9))
    assert (sudoku.parse(spaced) == q).all()


@pytest.mark.parametrize(
    "text, message",
    [
        (QUOTED[0][:80], "sudoku has 80 cells, expected 81"),
        (QUOTED[0] + "1", "sudoku has 82 cells, expected 81"),
        (QUOTED[0][:11] + "x" + QUOTED[0][12:], "bad character 'x' at cell 12 (row 2, column 3)"),
        ("55" + "." * 79, "digit 5 appears twice in row 1"),
        ("5" + "." * 8 + "5" + "." * 71, "digit 5 appears twice in column 1"),
        ("5" + "." * 9 + "5" + "." * 70, "digit 5 appears twice in box 1"),
    ],
)
def test_parse_rejects(text, message):
    with pytest.raises(PuzzleError, match=re.escape(message)):
        sudoku.parse(text)


def test_encode_decode_round_trip():
    q, a = _grid(QUOTED[0]), _grid(QUOTED[1])
    t = sudoku.encode(q)
    assert t.shape == (81,) and t.dtype == np.uint8
    assert t[0] == 6 and t[1] == 1  # "5" -> 6, "." -> 1
    assert (sudoku.decode(t) == q).all()
    batch = sudoku.encode(np.stack([q, a]))
    assert batch.shape == (2, 81) and (sudoku.decode(batch) == np.stack([q, a])).all()
    assert (sudoku.decode(np.zeros(81, np.uint8)) == 0).all()  # PAD reads as blank


def test_verify_and_corruptions():
    q, a = _grid(QUOTED[0]), _grid(QUOTED[1])
    assert sudoku.verify(q, a) and sudoku.is_valid_solution(a)
    assert not sudoku.verify(q, q)
    rng = np.random.default_rng(0)
    for _ in range(20):
        bad = a.copy()
        r, c = rng.integers(9, size=2)
        bad[r, c] = bad[r, c] % 9 + 1
        assert not sudoku.verify(q, bad) and not sudoku.is_valid_solution(bad)
    other = sudoku.random_symmetry(rng).forward(a)
    assert sudoku.is_valid_solution(other) and not sudoku.verify(q, other)


@pytest.mark.parametrize(
    "name",
    [
        "magictour_top1465.csv",
        "forum_hardest_1905_11plus_10k.csv",
        "17_clue_sample2000.csv",
        "sudoku_extreme_quoted_rows.csv",
    ],
)
def test_verifier_accepts_real_answers_rejects_corruptions(name):
    q, a, _ = _load(name)
    assert sudoku.verify_batch(q, a).all()
    rng = np.random.default_rng(1)
    bad = a.reshape(-1, 81).copy()
    cell = rng.integers(81, size=len(bad))
    rows = np.arange(len(bad))
    bad[rows, cell] = bad[rows, cell] % 9 + 1
    assert not sudoku.verify_batch(q, bad.reshape(-1, 9, 9)).any()
    assert not sudoku.is_valid_solution_batch(bad.reshape(-1, 9, 9)).any()


def test_solver_on_quoted_rows():
    q, a, ratings = _load("sudoku_extreme_quoted_rows.csv")
    assert list(ratings) == [18, 1, 60]
    for i in range(3):
        assert sudoku.count_solutions(q[i]) == 1
        assert (sudoku.solve(q[i]) == a[i]).all()
    # our guess count approximates tdoku's (18, 1, 60); the easy one stays easy
    assert sudoku.rate(q[1]) <= 3 and sudoku.rate(q[0]) > 5 and sudoku.rate(q[2]) > 5


def test_count_solutions_edge_cases():
    a = _grid(QUOTED[1])
    assert sudoku.count_solutions(a) == 1
    assert sudoku.count_solutions(np.zeros((9, 9), np.uint8)) == 2
    assert sudoku.count_solutions(np.zeros((9, 9), np.uint8), limit=5) == 5
    bad = np.zeros((9, 9), np.uint8)
    bad[0, 0] = bad[0, 1] = 5
    assert sudoku.count_solutions(bad) == 0 and sudoku.solve(bad) is None
    # an unavoidable rectangle: blank it and there are two solutions
    g = a.copy()
    g[0, :] = 0
    g[1, :] = 0
    assert sudoku.count_solutions(g) >= 1


def test_symmetries_keep_validity_and_invert():
    q, a = _grid(QUOTED[0]), _grid(QUOTED[1])
    rng = np.random.default_rng(0)
    batch = np.stack([q, a])
    for _ in range(50):
        s = sudoku.random_symmetry(rng)
        fq, fa = s.forward(q), s.forward(a)
        assert sudoku.verify(fq, fa)
        assert (s.inverse(fq) == q).all() and (s.inverse(fa) == a).all()
        fb = s.forward(batch)
        assert (fb[0] == fq).all() and (s.inverse(fb) == batch).all()
        assert ((fq == 0) == (s.forward(q) == 0)).all() and (fq == 0).sum() == (q == 0).sum()


def test_augment_batch_is_valid_varied_and_seeded():
    q, a = _grid(QUOTED[0])[None], _grid(QUOTED[1])[None]
    q3, a3 = np.repeat(q, 3, 0), np.repeat(a, 3, 0)
    oq, oa = sudoku.augment_batch(q3, a3, np.random.default_rng(5), 200)
    assert oq.shape == (3, 201, 9, 9) and (oq[:, 0] == q3).all() and (oa[:, 0] == a3).all()
    assert sudoku.verify_batch(oq.reshape(-1, 9, 9), oa.reshape(-1, 9, 9)).all()
    assert len({x.tobytes() for x in oa.reshape(-1, 81)}) == 3 * 200 + 1
    again, _ = sudoku.augment_batch(q3, a3, np.random.default_rng(5), 200)
    assert (again == oq).all()
    keys = sudoku.solution_invariant(oa.reshape(-1, 9, 9))
    assert len(set(keys)) == 1


def test_solution_invariant_separates_real_grids():
    _, a, _ = _load("magictour_top1465.csv")
    keys = sudoku.solution_invariant(a)
    # an invariant, not a canonical form: rare shared keys only merge grids on one side
    assert len(set(keys)) >= 0.95 * len(a)


def test_random_solution_is_valid_and_seeded():
    g = sudoku.random_solution(np.random.default_rng(3))
    assert sudoku.is_valid_solution(g)
    assert (sudoku.random_solution(np.random.default_rng(3)) == g).all()


def test_rate_pinned_on_real_lists():
    # values of the original pure-Python solver: moving and compiling it changed no rating
    q, _, _ = _load("magictour_top1465.csv")
    expected = [16, 29, 39, 3, 5, 5, 6, 6, 97, 7, 11, 8, 56, 48, 259, 10, 30, 30, 29, 13]
    assert [sudoku.rate(x) for x in q[:20]] == expected
    q, _, _ = _load("sudoku_extreme_quoted_rows.csv")
    assert [sudoku.rate(x) for x in q] == [164, 2, 52]


def test_search_reports_rating_and_whole_search():
    digits = _grid(QUOTED[0]).reshape(81).astype(np.int64)
    if sudoku_solver.BACKEND == "python":
        digits = digits.tolist()
    out = sudoku_solver.zeros1(81)
    found, rating, guesses = sudoku_solver.analyse(
        digits, 2, sudoku_solver.ASCENDING, out, sudoku_solver.TABLES
    )
    assert (found, rating) == (1, sudoku.rate(_grid(QUOTED[0])))
    assert guesses >= rating
    assert (np.asarray(out).reshape(9, 9) == 1 << (_grid(QUOTED[1]) - 1).astype(int)).all()


_BACKEND_PROBE = """
import json, numpy as np
from trm.puzzles import sudoku, sudoku_solver
rng = np.random.default_rng(11)
grids = [sudoku.random_solution(rng) for _ in range(3)]
partial = [np.where(rng.random((9, 9)) < 0.6, 0, g) for g in grids]
print(json.dumps({
    "backend": sudoku_solver.BACKEND,
    "grids": [g.tolist() for g in grids],
    "counts": [sudoku.count_solutions(p, 5) for p in partial],
    "ratings": [sudoku.rate(p) for p in partial],
    "solved": [sudoku.solve(p).tolist() for p in partial],
}))
"""


def test_numba_and_python_backends_agree():
    if sudoku_solver.BACKEND != "numba":
        pytest.skip("numba not installed: only the Python backend exists")

    def probe(no_numba: bool) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "TRM_NO_NUMBA"}
        if no_numba:
            env["TRM_NO_NUMBA"] = "1"
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            [sys.executable, "-c", _BACKEND_PROBE],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    slow, fast = probe(True), probe(False)
    assert (slow.pop("backend"), fast.pop("backend")) == ("python", "numba")
    assert slow == fast


def test_singles_rounds():
    answer = sudoku.parse(
        "583427169974136528216859374792364851351298746648715293865971432137642985429583617"
    )
    one_blank = answer.copy()
    one_blank[4, 4] = 0
    assert sudoku.singles_rounds(answer) == 0
    assert sudoku.singles_rounds(one_blank) == 1
    # the first quoted Sudoku-Extreme row needs guesses: singles get stuck
    hard = "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......"
    assert sudoku.singles_rounds(sudoku.parse(hard)) is None
