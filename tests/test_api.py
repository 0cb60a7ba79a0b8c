"""The package surface: torch-free `trm --help`, recipes by name, old configs, the Python API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from trm.config import load_config
from trm.errors import TrmError
from trm.puzzles import sudoku
from trm.recipes import find_recipe, list_recipes

ROOT = Path(__file__).resolve().parents[1]


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom trm.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_recipes_by_name_and_by_path(tmp_path, monkeypatch):
    names = list_recipes()
    assert {"sudoku_mlp", "sudoku_cpu", "maze_att"} <= set(names)
    monkeypatch.chdir(tmp_path)  # names do not depend on the working directory
    assert find_recipe("sudoku_mlp").name == "sudoku_mlp.yaml"
    by_name = load_config("sudoku_mlp")
    by_path = load_config(ROOT / "configs" / "sudoku_mlp.yaml")
    assert by_name == by_path and by_name.model.mixer == "mlp"
    with pytest.raises(TrmError, match="no such recipe"):
        load_config("sudoku_nope")
    with pytest.raises(TrmError, match="no such config file"):
        load_config("missing/sudoku.yaml")


def test_trm_train_list_and_print_config(capsys):
    from trm.cli import main

    assert main(["train", "--list"]) == 0
    assert "sudoku_mlp" in capsys.readouterr().out.split()
    assert main(["train", "sudoku_mlp", "lr=2e-4", "--print-config"]) == 0
    assert "lr: 0.0002" in capsys.readouterr().out


def test_old_configs_with_training_settings_under_model_still_load(tmp_path):
    old = tmp_path / "config.yaml"
    old.write_text("model:\n  dim: 64\n  halt_exploration_prob: 0.3\n")
    cfg = load_config(old)
    assert cfg.halt_exploration_prob == 0.3 and cfg.model.dim == 64
    assert load_config(None, ["model.halt_exploration_prob=0.2"]).halt_exploration_prob == 0.2
    for shipped in sorted((ROOT / "checkpoints").glob("*/config.yaml")):
        assert load_config(shipped).halt_exploration_prob == 0.1


def test_python_api_solves_like_the_cli(capsys):
    import trm
    from trm.cli import main

    puzzle = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    solver = trm.load("sudoku", device="cpu")
    [result] = solver.solve([puzzle], views=2)
    assert main(["solve", "sudoku", puzzle, "--views", "2", "--json", "--device", "cpu"]) == 0
    line = capsys.readouterr().out
    assert f'"steps": {result.steps}' in line and solver.kind == "sudoku"
    longer = solver.solve([puzzle], halting=trm.Halting(max_steps=12, adaptive=False))
    assert longer[0].steps == 12  # more steps than the model was trained with


def test_stream_stops_a_slot_when_is_done_says_so():
    from tiny_data import tiny_config

    from trm.act import Halting, stream
    from trm.model import TinyRecursiveModel

    torch.manual_seed(0)
    model = TinyRecursiveModel(tiny_config(vocab_size=11, seq_len=9)).eval()
    tokens = np.random.default_rng(0).integers(1, 11, (6, 9))
    first = np.zeros(6, bool)
    first[:3] = True
    done_rows = torch.as_tensor(first)

    def is_done(inputs: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:  # -> (b,)
        return torch.stack([done_rows[i] for i in range(len(answers))])

    run = stream(model, tokens, batch_size=6, halting=Halting(is_done=is_done))
    assert run.steps[:3].tolist() == [1, 1, 1] and (run.steps[3:] == 4).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.solve("..3.2.6.."), "puzzles must be a list of puzzles, got a str"),
        (lambda s: s.solve([5]), "puzzle 1: expected a square grid of integers"),
        (lambda s: s.solve([np.full((9, 9), 10)]), "puzzle 1: value 10 at row 1, column 1"),
        (lambda s: s.solve([np.full((9, 9), 300)]), "value 300"),
        (lambda s: s.solve([np.full((9, 9), -1)]), "value -1"),
        (lambda s: s.solve([np.zeros((9, 9)) + 0.5]), "of float64"),
        (lambda s: s.solve([np.zeros((4, 4), int)]), "grid is 4x4, expected 9x9"),
        (lambda s: s.solve([np.zeros((9, 9), int)], views="4"), "views must be an integer"),
        (lambda s: s.solve([np.zeros((9, 9), int)], views=0), "views must be between 1"),
        (lambda s: s.solve([np.zeros((9, 9), int)], max_steps=10**9), "max_steps must be between"),
        (lambda s: s.solve([np.zeros((9, 9), int)], halt="never"), "--halt must be one of"),
        (lambda s: s.solve([np.zeros((9, 9), int)], batch_size=0), "batch_size must be between"),
        (lambda s: s.solve(["1" * 81]), "puzzle 1: contradictory givens"),
        (lambda s: s.render("abc"), "render takes a 2-D integer grid"),
        (lambda s: s.trace([1, 2]), "puzzle 1: expected a square grid"),
    ],
)
def test_solver_checks_its_arguments(call, message):
    """Every bad argument is one TrmError line, not an IndexError from deep inside."""
    import trm

    solver = trm.load("sudoku", device="cpu")
    with pytest.raises(TrmError, match=re.escape(message)) as e:
        call(solver)
    assert "\n" not in str(e.value)


def test_solver_accepts_grids_and_empty_lists():
    import trm

    solver = trm.load("sudoku", device="cpu")
    assert solver.solve([]) == []
    grid = sudoku.parse(
        "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    )
    [from_grid] = solver.solve([grid.astype(np.int64).tolist()])
    [from_text] = solver.solve([sudoku.to_line(grid)])
    assert from_grid.verified and np.array_equal(from_grid.answer, from_text.answer)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda trm: trm.load(5), "source must be a non-empty path"),
        (lambda trm: trm.load("sudoku", kind="chess"), "unknown puzzle kind 'chess'"),
        (lambda trm: trm.build(["sudoku"], "x"), "unknown puzzle kind"),
        (lambda trm: trm.build("sudoku", ""), "out must be a non-empty path"),
        (lambda trm: trm.train("sudoku_cpu", 5), "overrides are 'key=value' strings, got 5"),
    ],
)
def test_api_functions_check_their_arguments(call, message):
    import trm

    with pytest.raises(TrmError, match=re.escape(message)):
        call(trm)


def test_train_overrides_may_follow_options(capsys):
    from trm.cli import main

    assert main(["train", "sudoku_mlp", "--print-config", "lr=2e-4"]) == 0
    assert "lr: 0.0002" in capsys.readouterr().out
