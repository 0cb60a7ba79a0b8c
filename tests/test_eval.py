"""`trm eval`: accuracy, halting, steps; the views table; ARC pass@k over a tiny built dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import tiny_config

from tests.tiny_data import reverse_task
from trm.act import ADAPTIVE, Halting
from trm.config import TrainConfig
from trm.errors import TrmError
from trm.inference.eval_report import _ks, eval_report, format_report, write_plot
from trm.inference.halting import halting_for
from trm.model import TinyRecursiveModel

torch.set_num_threads(1)


def model_for(vocab: int, seq_len: int, ids: int = 1, emb: int = 0) -> TinyRecursiveModel:
    torch.manual_seed(0)
    cfg = tiny_config(
        dim=16,
        puzzle_emb_dim=emb,
        vocab_size=vocab,
        seq_len=seq_len,
        num_puzzle_identifiers=ids,
        max_supervision_steps=2,
    )
    return TinyRecursiveModel(cfg).eval()


def test_ks():
    assert _ks(1) == [1] and _ks(8) == [1, 2, 4, 8] and _ks(6) == [1, 2, 4, 6]


def test_generic_eval_and_limit(tmp_path):
    data = reverse_task(tmp_path / "rev", n_train=8, n_test=20)
    model = model_for(11, 6)
    longer = halting_for("", 2, max_steps=4)  # no rules for this kind: the head, up to 4 steps
    report = eval_report(model, TrainConfig(), str(data), halting=longer, limit=7, batch_size=4)
    assert report["puzzles"] == 7 and report["steps"] == 2
    assert report["adaptive_max_steps"] == 4 and report["adaptive_halt"] == "head"
    assert 1.0 <= report["adaptive_mean_steps"] <= 4.0
    assert 0 <= report["exact_accuracy"] <= 1 and 0 <= report["halting_accuracy"] <= 1
    again = eval_report(model, TrainConfig(), str(data), halting=longer, limit=7, batch_size=3)
    assert again["exact_accuracy"] == report["exact_accuracy"]
    fixed = eval_report(
        model, TrainConfig(), str(data), halting=Halting(max_steps=1, adaptive=False)
    )
    assert fixed["steps"] == 1 and "adaptive_mean_steps" not in fixed
    assert "exact_accuracy" in format_report(report)
    with pytest.raises(TrmError, match="views table"):
        write_plot(report, str(tmp_path / "x.png"))
    with pytest.raises(TrmError, match="model takes"):
        eval_report(model_for(11, 81), TrainConfig(), str(data), halting=ADAPTIVE)


def test_arc_eval_pass_at_k(tmp_path):
    from data_builders.arc import build

    rng = np.random.default_rng(0)
    for subset in ("training", "evaluation"):
        (tmp_path / "src" / subset).mkdir(parents=True)
        for t in range(2):
            pairs = [rng.integers(0, 10, (3, 4)).tolist() for _ in range(3)]
            task = {
                "train": [{"input": p, "output": p} for p in pairs[:2]],
                "test": [{"input": pairs[2], "output": pairs[2]}],
            }
            (tmp_path / "src" / subset / f"{subset[0]}{t}.json").write_text(json.dumps(task))
    out = tmp_path / "arc"
    build(
        out,
        [str(tmp_path / "src")],
        ["training", "evaluation"],
        "evaluation",
        num_aug=3,
        progress=False,
    )
    ids = len(json.loads((out / "identifiers.json").read_text()))
    model = model_for(12, 900, ids=ids, emb=16)
    report = eval_report(
        model, TrainConfig(kind="arc"), str(out), halting=ADAPTIVE, views=4, batch_size=8
    )
    assert report["tasks"] == 2 and 0 <= report["pass@1"] <= report["pass@2"] <= 1
    assert [row["views"] for row in report["views"]] == [1, 2, 4]
    limited = eval_report(model, TrainConfig(kind="arc"), str(out), halting=ADAPTIVE, limit=1)
    assert limited["tasks"] == 1


SHARED_17 = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku" / "17_clue_sample2000.csv"
)


@pytest.mark.skipif(not SHARED_17.is_file(), reason="../shared/data/sudoku is not present")
def test_views_table_reads_every_views_own_answer(tmp_path):
    """`trm solve` stops a puzzle's other views once one is verified; the views table must not:
    its K = 1 row is the identity view alone, the same as the one-view figure."""
    import trm

    data = tmp_path / "g17"
    trm.build("sudoku", data, str(SHARED_17), test_source=str(SHARED_17), test_count=24)
    solver = trm.load("sudoku-mlp-cpu-v1", device="cpu", precision="fp32")
    report = solver.evaluate(str(data), views=4, limit=24)
    one, four = report["views"][0], report["views"][-1]
    assert one["verified_accuracy"] == report["adaptive_verified_accuracy"]
    assert four["verified_accuracy"] > one["verified_accuracy"]  # the views help v1 here
