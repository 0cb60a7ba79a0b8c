"""`trm solve --trace`: one entry per step, the last equals `trm solve`, changes, PNG, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import tiny_config

from trm import cli
from trm.act import ADAPTIVE, Halting
from trm.checkpoint import save_inference
from trm.config import TrainConfig
from trm.inference.solve import solve_grids
from trm.inference.trace import (
    Trace,
    TraceStep,
    format_trace,
    trace_grid,
    trace_to_json,
    write_trace_png,
)
from trm.model import TinyRecursiveModel
from trm.puzzles import maze, sudoku

torch.set_num_threads(1)

GOOD = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
MAZE = "\n".join(
    ["#" * 30]
    + ["#S" + " " * 27 + "#"]
    + ["#" + " " * 28 + "#"] * 26
    + ["#" + " " * 27 + "G#"]
    + ["#" * 30]
)
MAX_STEPS = 4


def _fixed(steps: int | None) -> Halting:
    """Exactly ``steps`` supervision steps; None: the halting head, up to the model's maximum."""
    return ADAPTIVE if steps is None else Halting(max_steps=steps, adaptive=False)


def tiny_model(kind: str, seed: int = 0, halt_bias: float | None = None) -> TinyRecursiveModel:
    """An untrained tiny model; a random halting head makes q_halt change from step to step."""
    torch.manual_seed(seed)
    seq, vocab = (81, 11) if kind == "sudoku" else (900, 6)
    cfg = tiny_config(dim=16, max_supervision_steps=MAX_STEPS, vocab_size=vocab, seq_len=seq)
    model = TinyRecursiveModel(cfg).eval()
    with torch.no_grad():
        model.halt_head.weight.normal_(0, 1.0)
        model.halt_head.bias.fill_(0.0 if halt_bias is None else halt_bias)
        if halt_bias is not None:
            model.halt_head.weight.zero_()
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trace") / "sudoku"
    model = tiny_model("sudoku")
    return save_inference(out, model, TrainConfig(kind="sudoku", model=model.cfg, device="cpu"))


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("steps", [None, 1, 3])
def test_last_step_equals_solve(seed, steps):
    model = tiny_model("sudoku", seed)
    q = sudoku.parse(GOOD)
    trace = trace_grid(model, "sudoku", q, halting=_fixed(steps))
    (result,) = solve_grids(model, "sudoku", [q], views=1, halting=_fixed(steps))
    assert len(trace.steps) == result.steps == (steps or len(trace.steps))
    assert [s.step for s in trace.steps] == list(range(1, len(trace.steps) + 1))
    np.testing.assert_array_equal(trace.answer, result.answer)
    assert trace.steps[-1].verified == result.verified


def test_halting_stops_the_trace():
    q = sudoku.parse(GOOD)
    now = trace_grid(tiny_model("sudoku", halt_bias=5.0), "sudoku", q, halting=ADAPTIVE)
    assert len(now.steps) == 1 and now.halted and now.steps[0].halting > 0.99
    never = trace_grid(tiny_model("sudoku", halt_bias=-5.0), "sudoku", q, halting=ADAPTIVE)
    assert len(never.steps) == MAX_STEPS and not never.halted
    assert all(abs(s.halting - 1 / (1 + np.exp(5))) < 1e-6 for s in never.steps)
    fixed = trace_grid(tiny_model("sudoku", halt_bias=5.0), "sudoku", q, halting=_fixed(3))
    assert len(fixed.steps) == 3 and not fixed.halted


def test_changed_counts_and_verified():
    q = sudoku.parse(GOOD)
    trace = trace_grid(tiny_model("sudoku", 3), "sudoku", q, halting=_fixed(MAX_STEPS))
    before = q
    for s in trace.steps:
        assert s.changed == int((s.answer != before).sum())
        assert s.verified == sudoku.verify(q, s.answer)
        before = s.answer
    m = maze.parse(MAZE)
    mt = trace_grid(tiny_model("maze"), "maze", m, halting=_fixed(2))
    assert mt.steps[0].changed == int((mt.steps[0].answer != m).sum())
    assert mt.steps[1].changed == int((mt.steps[1].answer != mt.steps[0].answer).sum())
    assert trace_to_json(mt)["answer"] == maze.to_line(mt.answer)


def hand_trace() -> Trace:
    """Two steps on a Sudoku: step 1 fills two cells (one wrong), step 2 fixes the wrong one."""
    q = sudoku.parse(GOOD)
    a1, a2 = q.copy(), q.copy()
    a1[0, 0], a1[0, 1] = 4, 5
    a2[0, 0], a2[0, 1] = 4, 7
    steps = [TraceStep(1, a1, 0.1, False, 2), TraceStep(2, a2, 0.93, False, 1)]
    return Trace("sudoku", q, steps, stopped="head")


def test_terminal_view_marks_changed_and_wrong_cells():
    text = format_trace(hand_trace(), color=False)
    assert "step 1: halting p=0.10, 2 cells changed, verified: no, 1 differs from" in text
    assert "step 2: halting p=0.93, 1 cell changed, verified: no\n" in text
    step1, step2 = text.split("\n\n")[1:3]
    assert step1.splitlines()[1].startswith("*4?5 3 |")  # 4 changed, 5 changed and not final
    assert step2.splitlines()[1].startswith(" 4*7 3 |")
    assert "halting head said halt" in text
    colored = format_trace(hand_trace(), color=True)
    assert "\x1b[1;7m\x1b[31m5\x1b[0m" in colored and "\x1b[1;7m7\x1b[0m" in colored
    plain_grid = re.sub(r"\x1b\[[0-9;]*m", "", colored.split("\n\n")[2]).splitlines()[1:]
    assert plain_grid[0].startswith(" 4 7 3 | . 2 . |")


def is_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_png(tmp_path):
    write_trace_png(hand_trace(), tmp_path / "s.png")
    is_png(tmp_path / "s.png")
    m = maze.parse(MAZE)
    write_trace_png(
        trace_grid(tiny_model("maze"), "maze", m, halting=_fixed(2)), tmp_path / "m" / "m.png"
    )
    is_png(tmp_path / "m" / "m.png")


def test_cli_trace(checkpoint, capsys, tmp_path):
    code, out, err = run_cli(
        ["solve", "sudoku", GOOD, "--checkpoint", str(checkpoint), "--trace", "--steps", "3"],
        capsys,
    )
    assert code == 0, err
    headers = re.findall(r"^step (\d): halting p=[01]\.\d\d, \d+ cells? changed", out, re.M)
    assert headers == ["1", "2", "3"]
    # The last step is what `trm solve` prints for the same puzzle and steps.
    code, solved, _ = run_cli(
        ["solve", "sudoku", GOOD, "--checkpoint", str(checkpoint), "--steps", "3", "--json"],
        capsys,
    )
    code, out, err = run_cli(
        ["solve", "sudoku", GOOD, "--checkpoint", str(checkpoint), "--trace", "--json"]
        + ["--steps", "3", "--trace-png", str(tmp_path / "t.png")],
        capsys,
    )
    assert code == 0, err
    d = json.loads(out)
    assert [s["step"] for s in d["steps"]] == [1, 2, 3]
    assert d["steps"][-1]["answer"] == d["answer"] == json.loads(solved)["answer"]
    is_png(tmp_path / "t.png")


@pytest.mark.parametrize(
    "extra, message",
    [
        ([GOOD, "--views", "2"], "--trace follows one view of each puzzle"),
        ([GOOD, GOOD, "--trace-png", "x.png"], "--trace-png draws one puzzle, got 2"),
    ],
)
def test_cli_bad_combinations(checkpoint, capsys, extra, message):
    argv = ["solve", "sudoku", *extra, "--checkpoint", str(checkpoint), "--trace"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_arc_is_refused(capsys):
    task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}]}
    code, _, err = run_cli(["solve", "arc", json.dumps(task), "--trace"], capsys)
    assert code == 2 and "--trace supports sudoku and maze" in err and err.count("\n") == 1


def test_use_color_follows_tty_and_no_color(monkeypatch):
    from trm.inference.trace import use_color

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty()) and not use_color(object())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())


def test_trace_stops_as_solve_does(checkpoint):
    """The trace takes the same Halting as `trm solve`: --halt, --max-steps and --steps."""
    import trm

    solver = trm.load(str(checkpoint), device="cpu")
    q = sudoku.parse(GOOD)
    for stop in ({}, {"halt": "head"}, {"max_steps": 2}, {"halt": "both", "max_steps": 3}):
        trace = solver.trace(GOOD, **stop)
        [result] = solver.solve([GOOD], **stop)
        assert len(trace.steps) == result.steps, stop
        np.testing.assert_array_equal(trace.answer, result.answer)
    assert (
        len(solver.trace(q, halt="rules", max_steps=3).steps) == 3
    )  # the untrained net never passes
    assert solver.trace(q, halt="rules", max_steps=3).stopped == "limit"
    assert solver.trace(q, steps=2).stopped == "fixed"


def test_cli_trace_honours_halt_and_max_steps(checkpoint, capsys):
    base = ["solve", "sudoku", GOOD, "--checkpoint", str(checkpoint), "--trace", "--json"]
    code, out, err = run_cli(base + ["--halt", "rules", "--max-steps", "3"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["steps"]) == 3 and json.loads(out)["stopped"] == "limit"
    code, out, err = run_cli(base + ["--max-steps", "2"], capsys)
    assert code == 0 and len(json.loads(out)["steps"]) == 2
    code, _, err = run_cli(base + ["--steps", "2", "--max-steps", "3"], capsys)
    assert code == 2 and "not both" in err and err.count("\n") == 1


def test_shipped_model_trace_matches_solve_on_the_readme_puzzle(capsys):
    """The README's trace example: verified at the same step as `trm solve` (the rules stop it)."""
    code, out, err = run_cli(["solve", "sudoku", "--trace", "--json", GOOD], capsys)
    assert code == 0, err
    trace = json.loads(out)
    code, out, _ = run_cli(["solve", "sudoku", "--json", GOOD], capsys)
    solved = json.loads(out)
    assert trace["verified"] and solved["verified"] and trace["stopped"] == "rules"
    assert len(trace["steps"]) == solved["steps"] and trace["answer"] == solved["answer"]
