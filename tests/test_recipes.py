"""Recipe options beyond the paper: depth schedule, step-loss weights, clipping, curriculum."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from test_train import TINY, metrics, tiny_cfg
from tiny_data import reverse_task
from tool_module import load_tool

from trm.config import check_recipe_options
from trm.data import Curriculum, PuzzleDataset, TrainSampler
from trm.errors import TrmError
from trm.flops import run_training_flops, training_flops
from trm.losses import answer_loss_weights
from trm.model import ModelConfig
from trm.schedules import depth_for_step, depth_segments
from trm.training import Interrupted, train

SCHEDULE = [[0.25, 1, 1], [0.5, 1, 2]]


def test_depth_segments_cover_the_run_and_flops_follow_them():
    pieces = depth_segments(SCHEDULE, 8, (2, 2))
    assert pieces == [(1, 2, (1, 1)), (3, 4, (1, 2)), (5, 8, (2, 2))]
    assert [depth_for_step(SCHEDULE, s, 8, (2, 2)) for s in (1, 2, 3, 5, 8)] == [
        (1, 1), (1, 1), (1, 2), (2, 2), (2, 2)
    ]  # fmt: skip
    cfg = ModelConfig(dim=32, seq_len=6, vocab_size=11, recursions=2, latent_steps=2)
    shallow = 2 * training_flops(cfg, (1, 1)) + 2 * training_flops(cfg, (1, 2))
    whole = shallow + 4 * training_flops(cfg)
    assert run_training_flops(cfg, 4, 8, 8, SCHEDULE) == pytest.approx(4 * whole)
    assert run_training_flops(cfg, 4, 4, 8, SCHEDULE) == pytest.approx(4 * shallow)
    assert run_training_flops(cfg, 4, 8, 8) == pytest.approx(32 * training_flops(cfg))


def test_answer_loss_weights():
    steps = torch.tensor([1, 2, 3, 3])
    halted = torch.tensor([False, True, False, True])
    assert answer_loss_weights(steps, halted) is None  # the paper: uniform
    w = answer_loss_weights(steps, halted, decay=0.5)
    assert torch.allclose(w, torch.tensor([1.0, 0.5, 0.25, 0.25]))
    w = answer_loss_weights(steps, halted, final_only=True)
    assert w.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_run_with_every_option_trains_resumes_and_logs_flops(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=64, n_test=16)
    extra = [
        "global_batch_size=8",
        "max_steps=8",
        "log_every_steps=1",
        "checkpoint_every_steps=2",
        "eval_every_steps=8",
        "eval_limit=8",
        f"depth_schedule={json.dumps(SCHEDULE)}",
        "reset_optimizer_on_depth_change=true",
        "step_loss_decay=0.7",
        "grad_clip=1.0",
        "curriculum=easy_first",
    ]
    whole = train(tiny_cfg(data, tmp_path / "whole", *extra), progress=False)
    with pytest.raises(Interrupted):
        train(tiny_cfg(data, tmp_path / "parts", *extra), progress=False, stop_at_step=3)
    resumed = train(
        tiny_cfg(data, tmp_path / "parts", *extra), resume_dir=str(tmp_path / "parts"),
        progress=False,
    )  # fmt: skip
    a, b = metrics(whole), metrics(resumed)
    assert all(a[s]["train/lm_loss"] == b[s]["train/lm_loss"] for s in a)
    flops = [a[s]["train/flops"] for s in sorted(a)]
    steps = np.diff([0.0, *flops])
    assert steps[:2].max() < steps[2:4].min() and steps[2:4].max() < steps[4:].min()  # depth
    assert metrics(whole, "eval/")[8]["eval/flops"] == flops[-1]


def test_curriculum_grows_from_the_easy_end(tmp_path):
    data = PuzzleDataset(reverse_task(tmp_path / "data", n_train=100, n_test=4), "train")

    def score(inputs, labels):
        return np.asarray(inputs)[:, 0]  # the first token: "difficulty" 2..10

    sampler = TrainSampler(data, 10, 1, seed=0)
    sampler.curriculum = Curriculum.by_difficulty(data, score, False, 0.2, 0.5, 10)
    first = sampler.next_batch().inputs[:, 0]
    cut = np.sort(np.asarray(data.inputs[:, 0]))[19]
    assert (first.numpy() <= cut).all()  # drawn from the easiest 20%
    hard = Curriculum.by_difficulty(data, score, True, 0.2, 0.5, 10)
    assert score(data.inputs[hard.order[:1]], None)[0] == 10


@pytest.mark.parametrize(
    "override, message",
    [
        ("depth_schedule=[[0.5,1]]", "until_fraction, T, n"),
        ("depth_schedule=[[0.6,1,1],[0.5,2,2]]", "fractions must rise"),
        ("curriculum=sideways", r"expected one of \[none, easy_first, hard_first\]"),
        ("grad_clip=-1", "grad_clip"),
        ("curriculum_start=0", r"curriculum_start must be in \(0, 1\]"),
    ],
)
def test_bad_recipe_options_are_one_line_errors(tmp_path, override, message):
    with pytest.raises(TrmError, match=message):  # when the config is loaded
        tiny_cfg(tmp_path, tmp_path / "run", override)
    cfg = tiny_cfg(tmp_path, tmp_path / "run")
    cfg.grad_clip = -1  # changed in Python after loading (tools/time_to_accuracy.py)
    with pytest.raises(TrmError, match="grad_clip must be at least 0"):
        check_recipe_options(cfg)


def test_time_to_accuracy_and_steps_tools_write_tables_and_plots(tmp_path):
    data = reverse_task(tmp_path / "data", n_train=64, n_test=16)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("log_every_steps: 1\n")
    tta = load_tool("time_to_accuracy")
    args = [
        "--data", str(data), "--budget", "1e9", "--seeds", "0", "1", "--points", "2",
        "--eval-limit", "8", "--recipe", f"plain={recipe}",
        "--recipe", f"fast={recipe} grad_clip=1.0 depth_schedule=[[0.5,1,1]]",
        "--set", *TINY, "global_batch_size=8", "--runs", str(tmp_path / "runs"),
        "--out", str(tmp_path / "docs"), "--name", "tta",
    ]  # fmt: skip
    tta.main([*args, "--jobs", "2"])  # two runs at a time, each in a process of its own
    report = json.loads((tmp_path / "docs" / "tta.json").read_text())
    assert [(r["recipe"], r["seed"]) for r in report["runs"]] == [
        ("plain", 0), ("plain", 1), ("fast", 0), ("fast", 1)
    ]  # fmt: skip
    assert all(len(r["evals"]) == 2 for r in report["runs"])
    fast = report["runs"][2]
    assert fast["steps"] > report["runs"][0]["steps"]  # shallow early steps: more per budget
    assert (tmp_path / "docs" / "tta.png").stat().st_size > 0
    tta.main(args)  # finished runs are read back, not trained again
    again = json.loads((tmp_path / "docs" / "tta.json").read_text())
    assert again["runs"][0]["evals"] == report["runs"][0]["evals"]
    seeds = args.index("--seeds")
    tta.main([*args[:seeds], "--seeds", "0", "2", *args[seeds + 3 :], "--report-only"])
    only = json.loads((tmp_path / "docs" / "tta.json").read_text())
    assert [(r["recipe"], r["seed"]) for r in only["runs"]] == [("plain", 0), ("fast", 0)]
    assert not (tmp_path / "runs" / "plain-s2").exists()  # seed 2 was never trained
    with pytest.raises(SystemExit, match="plain seed 0 has no verified accuracy"):
        tta.main([*args, "--report-only", "--metric", "verified"])  # no rules for this task
    # a recipe's own overrides win over --set (and over --data: data_path=)
    ns = argparse.Namespace(set=["global_batch_size=8", *TINY], budget=1e9, points=2, eval_limit=8)
    cfg = tta.run_config(str(recipe), ["global_batch_size=4"], str(data), 0, tmp_path / "r", ns)
    assert cfg.global_batch_size == 4 and cfg.data_path == str(data)
    steps = load_tool("steps_vs_accuracy")
    run = tmp_path / "runs" / "plain-s0" / "inference"
    steps.main([str(run), str(data), "--max-steps", "1", "3", "--halt", "fixed", "head",
                "--out", str(tmp_path / "docs"), "--name", "steps"])  # fmt: skip
    rows = json.loads((tmp_path / "docs" / "steps.json").read_text())
    assert [(r["halt"], r["max_steps"]) for r in rows] == [
        ("fixed", 1), ("fixed", 3), ("head", 1), ("head", 3)
    ]  # fmt: skip
    assert rows[1]["mean_steps"] == 3.0 and rows[3]["mean_steps"] <= 3.0
