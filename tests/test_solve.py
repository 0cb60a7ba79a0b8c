"""Inference engine: streaming with adaptive halting, views mapped back, verification, ARC votes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_data import tiny_config

from trm.act import ADAPTIVE, Halting, stream
from trm.errors import TrmError
from trm.inference.solve import choose, solve_grids, view_symmetries
from trm.inference.votes import Votes, pass_at_k
from trm.loading import shipped_checkpoint
from trm.model import TinyRecursiveModel
from trm.puzzles import arc, maze, sudoku

torch.set_num_threads(1)


def tiny_model(seq_len: int = 81, vocab: int = 11, **kw) -> TinyRecursiveModel:
    torch.manual_seed(0)
    cfg = tiny_config(vocab_size=vocab, seq_len=seq_len, **kw)
    return TinyRecursiveModel(cfg).eval()


def sudoku_question(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    answer = sudoku.random_solution(rng)
    q = answer.copy()
    q[rng.random((9, 9)) < 0.5] = 0
    return q, answer


def test_adaptive_with_halting_off_equals_fixed_and_streams():
    model = tiny_model()  # halting head starts at -5: never halts before the maximum
    tokens = np.random.default_rng(0).integers(1, 11, (29, 81))
    adaptive = stream(model, tokens, batch_size=4)  # 29 puzzles through 4 slots
    fixed = stream(model, tokens, batch_size=29, halting=Halting(max_steps=4, adaptive=False))
    assert (adaptive.steps == 4).all()
    np.testing.assert_array_equal(adaptive.preds, fixed.preds)
    one = stream(model, tokens[:1], batch_size=1, halting=Halting(max_steps=4, adaptive=False))
    np.testing.assert_array_equal(one.preds[0], fixed.preds[0])


def test_halting_head_stops_rows_early():
    model = tiny_model()
    with torch.no_grad():
        model.halt_head.bias.fill_(5.0)
    tokens = np.random.default_rng(1).integers(1, 11, (10, 81))
    assert (stream(model, tokens, batch_size=3).steps == 1).all()
    assert (
        stream(model, tokens, batch_size=3, halting=Halting(max_steps=3, adaptive=False)).steps == 3
    ).all()


def test_a_verified_view_stops_its_siblings_only():
    model = tiny_model()  # the halting head never stops a row before the limit
    tokens = np.random.default_rng(2).integers(1, 10, (12, 81))
    tokens[5, 0] = 10  # row 5 (puzzle 1, view 1) passes the check from its first step

    def is_done(inputs: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        return inputs[:, 0] == 10

    halting = Halting(max_steps=4, adaptive=False, is_done=is_done)
    alone = stream(model, tokens, batch_size=12, halting=halting)
    assert alone.steps.tolist() == [4] * 5 + [1] + [4] * 6
    groups = np.repeat(np.arange(3), 4)  # 3 puzzles x 4 views
    run = stream(model, tokens, batch_size=12, halting=halting, groups=groups)
    assert run.steps.tolist() == [4] * 4 + [1] * 4 + [4] * 4
    np.testing.assert_array_equal(run.preds[5], alone.preds[5])
    # through 5 slots: rows 0-4 finish first; of puzzle 1, rows 6 and 7 then stop with row 5
    few = stream(model, tokens, batch_size=5, halting=halting, groups=groups)
    assert few.steps.tolist() == [4] * 5 + [1, 1, 1] + [4] * 4


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_each_view_maps_back_exactly(kind):
    if kind == "sudoku":
        q, a = sudoku_question(3)
        syms = view_symmetries("sudoku", 8, seed=1)
        verify = sudoku.verify
    else:
        q = maze.parse("#####\n#S  #\n# # #\n#  G#\n#####")
        a = maze.solve(q)
        syms = view_symmetries("maze", 8)
        verify = maze.verify
    stack = np.stack([q, a])
    for s in syms:
        np.testing.assert_array_equal(s.inverse(s.forward(stack)), stack)
        assert verify(s.forward(q), s.forward(a))  # a symmetry keeps a right answer right


def test_views_bounds():
    with pytest.raises(TrmError, match="only 8"):
        view_symmetries("maze", 9)
    with pytest.raises(TrmError, match="at least 1"):
        view_symmetries("sudoku", 0)


def test_choose_prefers_verified_then_majority():
    q, a = sudoku_question(4)
    wrong = a.copy()
    wrong[0, 0] = wrong[0, 0] % 9 + 1
    answers = np.stack([wrong, wrong, a])
    r = choose(answers, np.array([False, False, True]), np.array([4, 4, 2]), np.zeros(3))
    assert r.method == "verified" and r.verified and r.steps == 2 and r.views_agreeing == 1
    np.testing.assert_array_equal(r.answer, a)
    r = choose(answers, np.zeros(3, bool), np.array([4, 4, 2]), np.zeros(3))
    assert r.method == "majority" and not r.verified and r.views_agreeing == 2
    np.testing.assert_array_equal(r.answer, wrong)


def test_solve_grids_shapes_and_verified_flag():
    model = tiny_model()
    q, _ = sudoku_question(5)
    results = solve_grids(model, "sudoku", [q, q, q], halting=ADAPTIVE, views=3, batch_size=4)
    assert len(results) == 3
    for r in results:
        assert r.answer.shape == (9, 9) and r.views == 3
        assert r.verified == sudoku.verify(q, r.answer)


def test_maze_decode_flags_bad_tokens():
    tokens = np.ones((2, 900), np.int64)
    tokens[1, 5] = 0
    grids, ok = maze.decode_answers(tokens)
    assert grids.shape == (2, 30, 30) and ok.tolist() == [True, False]


def test_shipped_checkpoint_lookup(tmp_path, monkeypatch):
    monkeypatch.setenv("TRM_CHECKPOINTS", str(tmp_path))
    (tmp_path / "maze").mkdir()
    assert shipped_checkpoint("maze") == tmp_path / "maze"
    root = tmp_path / "pkg" / "checkpoints"
    monkeypatch.setattr("trm.loading._checkpoint_roots", lambda: [root])
    with pytest.raises(TrmError, match="no shipped checkpoint for sudoku is installed"):
        shipped_checkpoint("sudoku")
    (root / "sudoku-mlp-cpu").mkdir(parents=True)
    with pytest.raises(TrmError):  # a directory without weights is not a checkpoint
        shipped_checkpoint("sudoku")
    (root / "sudoku-mlp-cpu" / "model.safetensors").write_bytes(b"")
    assert shipped_checkpoint("sudoku").name == "sudoku-mlp-cpu"


@pytest.mark.parametrize("kind", ["sudoku", "maze"])
def test_the_shipped_checkpoints_load(kind, monkeypatch):
    from trm.loading import load_directory

    monkeypatch.delenv("TRM_CHECKPOINTS", raising=False)
    model, cfg = load_directory(shipped_checkpoint(kind))
    assert cfg.kind == kind
    assert (shipped_checkpoint(kind) / "MODEL_CARD.md").is_file()


def test_arc_votes_count_then_q_and_pass_at_k():
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (1, 2, 3))
    inp = np.zeros((2, 2), np.uint8)
    key = arc.grid_hash(inp)
    votes = Votes()
    for grid, q in ((a, -3.0), (b, 2.0), (a, -3.0), (c, 5.0), (b, 1.0)):
        votes.add("t", key, grid, q)
    ranked = votes.rank("t", key)
    assert [x.count for x in ranked] == [2, 2, 1]
    np.testing.assert_array_equal(ranked[0].grid, b)  # tie on count: higher mean q first
    task = arc.Task("t", [(inp, a)], [(inp, a)])
    scores = pass_at_k(votes, {"t": task}, (1, 2))
    assert scores == {"pass@1": 0.0, "pass@2": 1.0}
    assert pass_at_k(Votes(), {"t": task}, (1,)) == {"pass@1": 0.0}  # fresh votes: nothing carried
    assert len(votes.attempts("t", key)) == 2


def test_arc_new_task_adapts_embedding_with_weights_frozen():
    from trm.inference.arc import solve_arc_task

    torch.manual_seed(0)
    cfg = tiny_config(
        dim=16, puzzle_emb_dim=16, vocab_size=12, seq_len=900, max_supervision_steps=2
    )
    model = TinyRecursiveModel(cfg).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = np.array([[1, 2], [3, 4]], np.uint8)
    task = arc.Task("new", [(g, g.T.copy())], [(g, None)])
    results = solve_arc_task(model, task, halting=ADAPTIVE, views=2, adapt_steps=2)
    assert len(results) == 1 and results[0].embedding == "adapted" and len(results[0].attempts) == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_rules_check_and_halting_modes():
    from trm.inference.halting import halting_for, rules_check
    from trm.puzzles import sudoku

    answer = sudoku.parse(
        "583427169974136528216859374792364851351298746648715293865971432137642985429583617"
    )
    question = answer.copy()
    question[0, :4] = 0
    wrong = answer.copy()
    wrong[[0, 1], 0] = wrong[[1, 0], 0]  # swap two cells: columns still fine, rows break
    moved = answer.copy()
    moved[:, [0, 1]] = moved[:, [1, 0]]  # a valid grid that changes a given
    check = rules_check("sudoku")
    q = torch.as_tensor(sudoku.encode(np.stack([question] * 3)))
    a = torch.as_tensor(sudoku.encode(np.stack([answer, wrong, moved])))
    assert check(q, a).tolist() == [True, False, False]
    assert rules_check("arc") is None and rules_check("") is None
    assert halting_for("sudoku", 16, steps=5) == Halting(max_steps=5, adaptive=False)
    rules = halting_for("sudoku", 16, max_steps=32, halt="rules")
    assert rules.max_steps == 32 and not rules.adaptive and rules.is_done is not None
    assert halting_for("sudoku", 16, halt="head").is_done is None
    assert halting_for("sudoku", 16).max_steps == 32  # twice the trained maximum by default
    arc_halting = halting_for("arc", 16, halt="rules")
    assert arc_halting.adaptive and arc_halting.max_steps == 16  # no rules: the head decides
    with pytest.raises(TrmError, match="not both"):
        halting_for("sudoku", 16, steps=4, max_steps=8)
    with pytest.raises(TrmError, match="--halt"):
        halting_for("sudoku", 16, halt="never")


def test_shipped_sudoku_model_solves_the_readme_puzzle():
    """The README's first example: a held-out real 17-clue puzzle the shipped model solves."""
    import trm

    solver = trm.load("sudoku", device="cpu")
    puzzle = "................12....34...........5..6..37...8.2..........64...2.1.....75....3.."
    [result] = solver.solve([puzzle])
    assert result.verified and result.steps <= 16
    assert sudoku.verify(sudoku.parse(puzzle), result.answer)
