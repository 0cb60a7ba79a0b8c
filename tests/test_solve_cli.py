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
from trm.puzzles import sudoku

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
    from trm.train import train

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
        bf16=False,
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
    monkeypatch.setattr("trm.inference.loading._checkpoint_roots", lambda: [tmp_path / "none"])
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
