"""`trm solve` through the CLI: bad input gives one line and exit 2; an end-to-end tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import tiny_config

from data_builders.format import Split, write_dataset
from trm import cli
from trm.config import TrainConfig
from trm.puzzles import KINDS, sudoku
from trm.safe_io import read_text

torch.set_num_threads(1)


def tiny_sudoku_dataset(out: Path, n_train: int = 32, n_test: int = 8) -> Path:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        answers = np.stack([sudoku.random_solution(rng) for _ in range(n)])
        questions = np.where(rng.random(answers.shape) < 0.3, 0, answers)
        return Split.one_example_per_puzzle(sudoku.encode(questions), sudoku.encode(answers), 1)

    return write_dataset(out, {"train": split(n_train), "test": split(n_test)}, vocab_size=11)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    from trm.training import train

    tmp = tmp_path_factory.mktemp("e2e")
    data = tiny_sudoku_dataset(tmp / "data")
    model = tiny_config(max_supervision_steps=3, vocab_size=0, seq_len=0)  # filled from the data
    cfg = TrainConfig(
        data_path=str(data),
        model=model,
        global_batch_size=16,
        max_steps=3,
        lr_warmup_steps=1,
        device="cpu",
        threads=1,
        compile=False,
        precision="fp32",
        ema=False,
        run_dir=str(tmp / "run"),
        eval_limit=8,
    )
    return train(cfg, progress=False), data


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_end_to_end_train_save_solve(trained, capsys, tmp_path):
    run_dir, _ = trained
    q = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    code, out, err = run_cli(
        ["solve", "sudoku", q, q, "--checkpoint", str(run_dir), "--json", "--views", "2"], capsys
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert len(lines) == 2
    for d in lines:
        assert set(d) >= {"answer", "verified", "steps", "views", "views_agreeing", "method"}
        assert len(d["answer"]) == 81 and d["views"] == 2
        assert 1 <= d["steps"] <= 6  # at most twice the 3 trained steps
        answer = np.array([0 if c == "." else int(c) for c in d["answer"]]).reshape(9, 9)
        assert d["verified"] == sudoku.verify(sudoku.parse(q), answer)
    f = tmp_path / "p.txt"
    f.write_text(q + "\n\n" + q + "\n")
    code, out, _ = run_cli(
        [
            "solve",
            "sudoku",
            "--file",
            str(f),
            "--checkpoint",
            str(run_dir / "inference"),
            "--steps",
            "2",
        ],
        capsys,
    )
    assert code == 0 and out.count("puzzle ") == 2 and "2 steps" in out
    assert "NOT verified" in out and "(--search may find one)" in out  # a 3-step model


def test_eval_cli(trained, capsys, tmp_path):
    run_dir, data = trained
    code, out, err = run_cli(
        [
            "eval",
            str(run_dir),
            str(data),
            "--views",
            "2",
            "--json",
            "--plot",
            str(tmp_path / "k.png"),
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    assert (
        report["puzzles"] == 8
        and 0 <= report["exact_accuracy"] <= 1
        and "adaptive_mean_steps" in report
    )
    assert [row["views"] for row in report["views"]] == [1, 2]
    assert (tmp_path / "k.png").stat().st_size > 0


GOOD = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."


@pytest.mark.parametrize(
    "argv, message",
    [
        (["solve", "sudoku", GOOD[:-1]], "puzzle 1: sudoku has 80 cells, expected 81"),
        (["solve", "sudoku", GOOD[:-1] + "x"], "puzzle 1: bad character 'x' at cell 81"),
        (["solve", "sudoku", "11" + GOOD[2:]], "puzzle 1: contradictory givens"),
        (["solve", "maze", "####\n#  #\n# G#\n####"], "puzzle 1: no S in maze"),
        (
            [
                "solve",
                "arc",
                json.dumps(
                    {"train": [{"input": [[0] * 31], "output": [[0]]}], "test": [{"input": [[0]]}]}
                ),
            ],
            "31 columns, at most 30",
        ),
        (
            [
                "solve",
                "arc",
                json.dumps(
                    {"train": [{"input": [[0, 12]], "output": [[0]]}], "test": [{"input": [[0]]}]}
                ),
            ],
            "colour 12 at row 0, column 1",
        ),
        (["solve", "sudoku", GOOD, "--checkpoint", "/nonexistent/ckpt"], "no such checkpoint"),
    ],
)
def test_bad_input_one_line_exit_2(argv, message, capsys):
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_file_positions_and_checkpoints(trained, capsys, tmp_path):
    run_dir, _ = trained
    f = tmp_path / "p.txt"
    f.write_text(GOOD + "\n" + GOOD[:-1] + "\n")
    code, _, err = run_cli(["solve", "sudoku", "--file", str(f)], capsys)
    assert code == 2 and f"{f}:2: sudoku has 80 cells" in err
    code, _, err = run_cli(
        ["solve", "maze", "#####\n#S G#\n#   #\n#   #\n#####", "--checkpoint", str(run_dir)], capsys
    )
    assert (
        code == 2 and "checkpoint is for sudoku puzzles, not maze" in err and err.count("\n") == 1
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text((run_dir / "inference" / "config.yaml").read_text())
    (bad / "model.safetensors").write_bytes(b"garbage")
    code, _, err = run_cli(["solve", "sudoku", GOOD, "--checkpoint", str(bad)], capsys)
    assert code == 2 and "corrupted" in err and "Traceback" not in err


def test_missing_shipped_checkpoint(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("TRM_CHECKPOINTS", raising=False)
    monkeypatch.setattr("trm.loading._checkpoint_roots", lambda: [tmp_path / "none"])
    code, _, err = run_cli(["solve", "sudoku", GOOD], capsys)
    assert code == 2 and "no shipped checkpoint for sudoku is installed" in err


def test_trm_eval_gives_the_training_runs_evaluation_numbers(trained, capsys):
    """Training-time evaluation and `trm eval` are one measurement (trm.evaluate)."""
    run, data = trained
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [row for row in logged if "eval/exact_accuracy" in row][-1]
    code, out, _ = run_cli(["eval", str(run), str(data), "--limit", "8", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["puzzles"] == int(last["eval/count"]) == 8
    assert report["exact_accuracy"] == pytest.approx(last["eval/exact_accuracy"], abs=1e-12)
    assert report["token_accuracy"] == pytest.approx(last["eval/accuracy"], abs=1e-12)
    assert report["halting_accuracy"] == pytest.approx(last["eval/q_halt_accuracy"], abs=1e-12)
    # answers that pass the rules, in both (a Sudoku has one solution: exact and verified agree)
    assert report["verified_accuracy"] == pytest.approx(last["eval/verified_accuracy"], abs=1e-12)
    assert report["verified_accuracy"] == pytest.approx(report["exact_accuracy"], abs=1e-12)


MAZE_TEXT = "\n".join(
    ["#" * 30, "#S" + " " * 27 + "#"]
    + ["#" + " " * 28 + "#"] * 26
    + ["#" + " " * 27 + "G#", "#" * 30]
)


def test_each_kind_reads_files_with_positions():
    """`PuzzleKind.read`: how a file holds several puzzles is the kind's business."""
    from trm.puzzles import KINDS, PuzzleError

    line = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    got = KINDS["sudoku"].read(f"\n{line}\n\n{line}\n", "p.txt")
    assert [where for where, _ in got] == ["p.txt:2", "p.txt:4"]
    mazes = KINDS["maze"].read(f"{MAZE_TEXT}\n\n\n{MAZE_TEXT}\n", "m.txt")
    assert [where for where, _ in mazes] == ["m.txt:1", "m.txt:33"]
    task = json.dumps({"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}]})
    [(where, t)] = KINDS["arc"].read(task, "dir/abc123.json")
    assert where == "dir/abc123.json" and t.name == "abc123"
    with pytest.raises(PuzzleError, match=r"p.txt:3: bad character 'x'"):
        KINDS["sudoku"].read(f"{line}\n\nx{line[1:]}\n", "p.txt")


def test_cli_has_no_branch_on_a_kind_name():
    """Nothing in trm/cli compares a value with a kind's name: the kinds say what differs."""
    import ast

    from trm.puzzles import KINDS

    for path in sorted((Path(cli.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [
                    c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)
                ]
                assert not set(names) & set(KINDS), f"{path.name}:{node.lineno} branches on a kind"
    assert len((Path(cli.__file__).parent / "solve.py").read_text().splitlines()) <= 200


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_solve_file_and_stdin_accept_a_utf8_bom(trained, tmp_path, capsys, monkeypatch, newline):
    import io

    run, _ = trained
    line = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    f = tmp_path / "bom.txt"
    f.write_bytes(("\ufeff" + line + newline + line + newline).encode())
    code, out, err = run_cli(
        ["solve", "sudoku", "--file", str(f), "-c", str(run), "--json"], capsys
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeff" + line + newline))
    code, out, err = run_cli(["solve", "sudoku", "-c", str(run), "--json"], capsys)
    assert code == 0 and len(out.splitlines()) == 1, err
    m = tmp_path / "maze.txt"
    m.write_bytes(("\ufeff" + MAZE_TEXT.replace("\n", newline) + newline).encode())
    assert len(KINDS["maze"].read(read_text(m), str(m))) == 1


def test_solve_file_streams_in_chunks_with_the_same_answers(trained, tmp_path, capsys, monkeypatch):
    """A long --file is solved in chunks printed as they finish; answers equal one big call."""
    import trm
    from trm.api import Solver

    run, _ = trained
    rng = np.random.default_rng(3)
    grids = [np.where(rng.random((9, 9)) < 0.5, 0, sudoku.random_solution(rng)) for _ in range(150)]
    f = tmp_path / "many.txt"
    f.write_text("".join(sudoku.to_line(g) + "\n" for g in grids))
    calls = []
    real = Solver.solve

    def counting(self, puzzles, **kw):
        calls.append(len(puzzles))
        return real(self, puzzles, **kw)

    monkeypatch.setattr(Solver, "solve", counting)
    argv = ["solve", "sudoku", "--file", str(f), "-c", str(run), "--json", "--batch-size", "4"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert calls == [64, 64, 22]  # chunks of max(64, 4 x batch) puzzles
    lines = [json.loads(x) for x in out.splitlines()]
    assert [d["puzzle"] for d in lines] == list(range(1, 151))
    monkeypatch.setattr(Solver, "solve", real)
    whole = trm.load(str(run), device="cpu").solve(grids, batch_size=4)
    assert [d["answer"] for d in lines] == [sudoku.to_line(r.answer) for r in whole]
