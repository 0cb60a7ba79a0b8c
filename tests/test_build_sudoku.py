"""Sudoku dataset builder (data_builders.sudoku): validation, splits, augmentation, seeds."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_builders import sudoku as builder
from data_builders import sudoku_generate
from trm.errors import TrmError
from trm.puzzles import sudoku, sudoku_solver

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sudoku"
Q = "5...27..9..41......1..5.3...92.6.8...5......66..7..29.8...7...2.......8...9..36.."
A = "583427169974136528216859374792364851351298746648715293865971432137642985429583617"


def _real(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def _shuffled_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """n valid rows with different random solution grids and 50 blanks each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = sudoku.random_solution(rng)
        q = a.reshape(81).copy()
        q[rng.choice(81, 50, replace=False)] = 0
        out.append((sudoku.to_line(q), sudoku.to_line(a)))
    return out


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["source,question,answer,rating"] + [
        f"test,{q},{a},{i}" for i, (q, a) in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _load(out: Path, split: str, field: str) -> np.ndarray:
    return np.load(out / split / f"all__{field}.npy")


def test_build_dir_with_augmentation(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_csv(src / "train.csv", _shuffled_rows(6, 0))
    _write_csv(src / "test.csv", _shuffled_rows(4, 1))
    out = tmp_path / "ds"
    summary = builder.build(out, str(src), subsample=5, num_aug=3, seed=1, progress=False)
    assert summary["train_groups"] == 5 and summary["train_examples"] == 20
    assert summary["test_examples"] == 4 and summary["skipped"] == 0
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["vocab_size"] == 11 and meta["seq_len"] == 81 and meta["total_groups"] == 5
    assert list(_load(out, "train", "group_indices")) == [0, 4, 8, 12, 16, 20]
    assert list(_load(out, "test", "group_indices")) == [0, 1, 2, 3, 4]
    inputs, labels = _load(out, "train", "inputs"), _load(out, "train", "labels")
    assert labels.min() >= 2 and inputs.max() <= 10
    assert sudoku.verify_batch(sudoku.decode(inputs), sudoku.decode(labels)).all()
    info = json.loads((out / "build_info.json").read_text())
    assert info["arguments"]["num_aug"] == 3 and info["seed"] == 1


def test_same_seed_same_bytes(tmp_path):
    csv = _write_csv(tmp_path / "p.csv", _shuffled_rows(30, 2))
    outs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        builder.build(
            tmp_path / name, str(csv), test_fraction=0.2, num_aug=4, seed=seed, progress=False
        )
        outs.append(tmp_path / name)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert all((outs[0] / f).read_bytes() == (outs[1] / f).read_bytes() for f in files)
    assert (outs[0] / "train" / "all__inputs.npy").read_bytes() != (
        outs[2] / "train" / "all__inputs.npy"
    ).read_bytes()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda q, a: (q[:80], a), "question has 80 characters, expected 81"),
        (lambda q, a: (q, a[:-1]), "answer has 80 characters, expected 81"),
        (lambda q, a: ("x" + q[1:], a), "question has bad character 'x' at cell 1"),
        (lambda q, a: (q, "0" + a[1:]), "answer has bad character '0' at cell 1"),
        (lambda q, a: (q, a[:9] + a[10] + a[9] + a[11:]), "answer is not a valid solution"),
        (lambda q, a: ("1" + q[1:], a), "given 1 at cell 1 differs from the answer (5)"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path, edit, message):
    rows = _shuffled_rows(5, 3)
    rows[2] = edit(Q, A)
    csv = _write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(TrmError, match=re.escape(f"bad.csv:4: {message}")) as err:
        builder.build(tmp_path / "ds", str(csv), test_fraction=0.5, progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ds").exists()
    summary = builder.build(
        tmp_path / "ds", str(csv), test_fraction=0.5, skip_invalid=True, progress=False
    )
    assert summary["skipped"] == 1
    assert summary["train_examples"] + summary["test_examples"] == 4


def test_invalid_solution_reason(tmp_path):
    bad = A[:9] + A[10] + A[9] + A[11:]
    csv = _write_csv(tmp_path / "x.csv", [(Q.replace("5", ".", 1)[:9] + "." * 2 + Q[11:], bad)])
    with pytest.raises(TrmError, match=r"x\.csv:2: answer is not a valid solution \(digit"):
        builder.build(tmp_path / "ds", str(csv), test_fraction=0.5, progress=False)


def test_truncated_csv_row(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(f"source,question,answer,rating\ntest,{Q},{A},3\ntest,{Q[:40]}\n")
    with pytest.raises(TrmError, match=r"t\.csv:3: expected 4 columns, found 2"):
        builder.build(tmp_path / "ds", str(csv), test_fraction=0.5, progress=False)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_with_byte_order_mark_builds(tmp_path, newline):
    plain = _write_csv(tmp_path / "plain.csv", _shuffled_rows(8, 6))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_text().replace("\n", newline).encode())
    for csv in (plain, bom):
        builder.build(tmp_path / csv.stem, str(csv), test_fraction=0.25, progress=False)
    for field in ("inputs", "labels"):
        assert (
            _load(tmp_path / "bom", "train", field) == _load(tmp_path / "plain", "train", field)
        ).all()


def test_single_csv_needs_a_test_split(tmp_path):
    csv = _write_csv(tmp_path / "p.csv", _shuffled_rows(3, 4))
    with pytest.raises(TrmError, match="--test-fraction"):
        builder.build(tmp_path / "ds", str(csv), progress=False)


def test_test_fraction_keeps_equivalent_grids_together():
    path = _real("magictour_top1465.csv")
    puzzles, _ = builder._read(path, skip_invalid=False)
    # add a shuffled twin of every 10th puzzle: each twin must land beside its original
    rng = np.random.default_rng(0)
    idx = np.arange(0, len(puzzles), 10)
    tq, ta = sudoku.augment_batch(puzzles.questions[idx], puzzles.answers[idx], rng, 1)
    both = builder.Puzzles(
        np.concatenate([puzzles.questions, tq[:, 1]]),
        np.concatenate([puzzles.answers, ta[:, 1]]),
        np.concatenate([puzzles.ratings, puzzles.ratings[idx]]),
    )
    train, test = builder.split_by_solution(both, 0.1, np.random.default_rng(1))
    assert len(train) + len(test) == len(both)
    assert 0.08 * len(both) <= len(test) <= 0.1 * len(both)
    k_train = set(sudoku.solution_invariant(train.answers))
    k_test = set(sudoku.solution_invariant(test.answers))
    assert not k_train & k_test


def test_real_lists_build_and_verify(tmp_path):
    out = tmp_path / "ds"
    summary = builder.build(
        out,
        str(_real("forum_hardest_1905_11plus_10k.csv")),
        test_source=str(_real("magictour_top1465.csv")),
        subsample=100,
        num_aug=50,
        min_difficulty=20,
        test_count=30,
        seed=0,
        progress=False,
    )
    assert summary["train_examples"] == 100 * 51 and summary["test_examples"] == 30
    for split in ("train", "test"):
        q = sudoku.decode(_load(out, split, "inputs"))
        a = sudoku.decode(_load(out, split, "labels"))
        assert sudoku.verify_batch(q, a).all()


def test_generator_unique_and_hard_enough(tmp_path):
    out = tmp_path / "gen"
    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    args = parser.parse_args(
        [
            "--source",
            "generate",
            "--count",
            "6",
            "--test-count",
            "2",
            "--min-difficulty",
            "2",
            "--num-aug",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    summary = builder.build_from_args(args)
    assert summary["train_groups"] == 6 and summary["test_examples"] == 2
    inputs = _load(out, "train", "inputs")[::3]  # the originals
    for tokens in np.concatenate([inputs, _load(out, "test", "inputs")]):
        grid = sudoku.decode(tokens)
        assert sudoku.count_solutions(grid) == 1 and sudoku.rate(grid) >= 2


def test_generate_does_not_depend_on_workers():
    # 20 puzzles = two seeded chunks; one process or two give the same puzzles
    one = sudoku_generate.generate(20, np.random.default_rng(1), min_difficulty=2, workers=1)
    two = sudoku_generate.generate(20, np.random.default_rng(1), min_difficulty=2, workers=2)
    for x, y in zip(one, two):
        assert x.shape == y.shape and (x == y).all()
    questions, answers, ratings = one
    assert questions.shape == (20, 9, 9) and (ratings >= 2).all()
    assert sudoku.verify_batch(questions, answers).all()
    assert len({q.tobytes() for q in questions}) == 20
    for q, r in zip(questions, ratings):
        assert sudoku.count_solutions(q) == 1 and sudoku.rate(q) == r
    empty = sudoku_generate.generate(0, np.random.default_rng(1))
    assert [len(x) for x in empty] == [0, 0, 0]


def test_generate_reaches_hard_targets():
    if sudoku_solver.BACKEND != "numba":
        pytest.skip("slow without numba")
    questions, _, ratings = sudoku_generate.generate(
        4, np.random.default_rng(2), min_difficulty=12, workers=1, progress=False
    )
    assert (ratings >= 12).all()
    assert all(
        sudoku.count_solutions(q) == 1 and sudoku.rate(q) == r for q, r in zip(questions, ratings)
    )


_GENERATE_PROBE = """
import hashlib, numpy as np
from data_builders import sudoku_generate
out = sudoku_generate.generate(3, np.random.default_rng(4), min_difficulty=4, workers=1,
                               progress=False)
print(hashlib.sha256(b"".join(x.tobytes() for x in out)).hexdigest())
"""


def test_generator_same_with_and_without_numba():
    if sudoku_solver.BACKEND != "numba":
        pytest.skip("numba not installed: only the Python backend exists")
    env = {k: v for k, v in os.environ.items() if k != "TRM_NO_NUMBA"}
    root = Path(__file__).resolve().parents[1]
    digests = []
    for no_numba in (True, False):
        run_env = dict(env, TRM_NO_NUMBA="1") if no_numba else env
        out = subprocess.run(
            [sys.executable, "-c", _GENERATE_PROBE],
            env=run_env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(TrmError, match="--workers must be between 1 and"):
        builder.build(tmp_path / "x", "generate", count=2, workers=0, progress=False)


def test_add_givens_reaches_targets_keeps_answers_and_nests():
    rows = _shuffled_rows(5, 3)
    q = np.stack([sudoku.parse(r[0]) for r in rows])
    a = np.stack([sudoku.parse(r[1]) for r in rows])
    state = np.random.default_rng(0).bit_generator.state
    previous = q
    for target in (31, 40, 60, 81):
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        out = sudoku.add_givens(q, a, np.full(len(q), target), rng)
        assert ((out != 0).sum(axis=(1, 2)) == target).all()
        assert (out[q != 0] == q[q != 0]).all()  # the old givens stay
        assert (out[out != 0] == a[out != 0]).all()  # new givens come from the answer
        assert (out[previous != 0] == previous[previous != 0]).all()  # nested rungs
        previous = out
    few = sudoku.add_givens(q, a, np.full(len(q), 20), np.random.default_rng(0))
    assert (few == q).all()  # a puzzle with more givens than the target keeps its own


def test_build_givens_option(tmp_path):
    src = _write_csv(tmp_path / "train.csv", _shuffled_rows(8, 4))  # 31 givens each
    test = _write_csv(tmp_path / "test.csv", _shuffled_rows(2, 5))
    out = tmp_path / "out"
    builder.build(out, str(src), test_source=str(test), givens="40:45", progress=False)
    givens = (_load(out, "train", "inputs") > 1).sum(axis=1)  # token 1 = blank
    assert givens.min() >= 40 and givens.max() <= 45
    assert ((_load(out, "test", "inputs") > 1).sum(axis=1) == 31).all()  # test untouched
    for bad in ("10", "40:30", "x"):
        with pytest.raises(TrmError, match="--givens"):
            builder.build(tmp_path / "bad", str(src), test_source=str(test), givens=bad)


def test_generate_with_real_test_source_drops_shared_grids(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(0).spawn(1)[0])  # the build's stream
    train_q, train_a, _ = sudoku_generate.generate(6, rng, workers=1)
    rows = [(sudoku.to_line(q), sudoku.to_line(a)) for q, a in zip(train_q[:2], train_a[:2])]
    test = _write_csv(tmp_path / "test.csv", rows)
    out = tmp_path / "out"
    summary = builder.build(
        out, "generate", count=6, test_source=str(test), seed=0, progress=False, workers=1
    )
    assert summary["test_examples"] == 2 and summary["train_groups"] == 4
    keys = sudoku.solution_invariant(sudoku.decode(_load(out, "train", "labels")))
    assert not np.isin(keys, sudoku.solution_invariant(train_a[:2])).any()
