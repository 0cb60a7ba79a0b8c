"""ARC puzzle kind: parsing errors, rendering, the token canvas, augmentations and hashing."""

import json

import numpy as np
import pytest

from trm.puzzles import arc
from trm.puzzles.base import PuzzleError, dihedral


def random_grid(rng, h=None, w=None):
    h = h or int(rng.integers(1, 31))
    w = w or int(rng.integers(1, 31))
    return rng.integers(0, 10, size=(h, w)).astype(np.uint8)


def test_spec_reference_encoding():
    tokens = arc.encode(np.array([[0, 1, 2], [3, 4, 5]])).reshape(30, 30)
    assert tokens.dtype == np.uint8 and tokens.size == 900
    assert tokens[0].tolist() == [2, 3, 4, 1] + [0] * 26
    assert tokens[1].tolist() == [5, 6, 7, 1] + [0] * 26
    assert tokens[2].tolist() == [1, 1, 1] + [0] * 27
    assert not tokens[3:].any()
    assert arc.decode(tokens.ravel()).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_encode_full_and_translated_grids():
    full = np.full((30, 30), 7, np.uint8)
    assert (arc.encode(full) == 9).all()  # no room for EOS markers
    g = np.array([[1, 2], [3, 4], [5, 6]], np.uint8)
    t = arc.encode(g, offset=(4, 27)).reshape(30, 30)
    assert t[4:7, 27:29].tolist() == (g + 2).tolist()
    assert t[4:7, 29].tolist() == [1, 1, 1] and t[7, 27:29].tolist() == [1, 1]
    assert t[7, 29] == 0 and np.count_nonzero(t) == 6 + 3 + 2
    with pytest.raises(ValueError):
        arc.encode(g, offset=(28, 0))


def test_encode_decode_round_trip_and_batch():
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = random_grid(rng)
        assert np.array_equal(arc.decode(arc.encode(g)), g)
    grids = rng.integers(0, 10, size=(50, 7, 11)).astype(np.uint8)
    offsets = np.stack([rng.integers(0, 24, 50), rng.integers(0, 20, 50)], axis=1)
    batch = arc.encode_batch(grids, offsets)
    for g, off, row in zip(grids, offsets, batch):
        assert np.array_equal(row, arc.encode(g, tuple(off)))
        r, c = off
        canvas = row.reshape(30, 30)
        # shifting the translated canvas back to the corner recovers the grid
        assert np.array_equal(arc.decode(np.pad(canvas[r:, c:], ((0, r), (0, c))).ravel()), g)


def test_decode_of_garbage_is_a_top_left_rectangle():
    tokens = np.zeros(900, np.uint8)
    assert arc.decode(tokens).shape == (0, 0)
    t = tokens.reshape(30, 30).copy()
    t[0, :5] = 3
    t[1, :2] = 4
    assert arc.decode(t.ravel()).tolist() == [[1] * 5]  # area 5 beats 2x2 = 4


def test_augmentations_invert_and_keep_black():
    rng = np.random.default_rng(1)
    g = random_grid(rng, 5, 8)
    for _ in range(100):
        a = arc.random_augmentation(rng)
        assert a.colour_map[0] == 0
        out = a.apply(g)
        assert np.array_equal(a.invert(out), g)
        assert np.array_equal(out == 0, dihedral(g == 0, a.t))  # black stays black, in place
        task, back = arc.parse_augmented_name("abc" + a.name_suffix())
        assert task == "abc" and back == a
    for t in range(8):
        a = arc.Augmentation(t, (0, 5, 2, 7, 8, 1, 9, 3, 4, 6))
        assert np.array_equal(a.invert(a.apply(g)), g)
    sym = arc.random_symmetry(rng)
    assert np.array_equal(sym.inverse(sym.forward(g)), g)


def test_augmented_names():
    a = arc.Augmentation(3, (0, 5, 2, 7, 8, 1, 9, 3, 4, 6))
    assert a.name_suffix() == "|||t3|||0527819346"
    assert arc.Augmentation().name_suffix() == ""
    assert arc.parse_augmented_name("007bbfb7") == ("007bbfb7", arc.Augmentation())
    with pytest.raises(PuzzleError, match="not <task>"):
        arc.parse_augmented_name("x|||t3|||123")
    with pytest.raises(PuzzleError, match="keeping 0"):
        arc.Augmentation(0, (1, 0, 2, 3, 4, 5, 6, 7, 8, 9))


def task_json(grid_out=None, **changes):
    task = {
        "train": [
            {"input": [[0, 1], [2, 3]], "output": [[1, 1], [1, 1]]},
            {"input": [[4]], "output": grid_out if grid_out is not None else [[5]]},
        ],
        "test": [{"input": [[6, 7, 8]]}],
    }
    task.update(changes)
    return json.dumps(task)


def test_parse_task():
    task = arc.parse(task_json(), "t1")
    assert task.name == "t1" and len(task.train) == 2 and task.test[0][1] is None
    assert task.train[0][0].tolist() == [[0, 1], [2, 3]]
    assert arc.task_from_json(task.to_json(), "t1").train[1][1].tolist() == [[5]]


@pytest.mark.parametrize(
    "grid, message",
    [
        ([[0] * 31], "task t1 train pair 1 output: 31 columns, at most 30"),
        ([[0]] * 31, "task t1 train pair 1 output: 31 rows, at most 30"),
        ([[0, 1], [2, 10]], "task t1 train pair 1 output: colour 10 at row 1, column 1"),
        ([[0, 1], [2]], "task t1 train pair 1 output: row 1 has 1 cells, row 0 has 2"),
        ([[0, "a"]], 'task t1 train pair 1 output: colour "a" at row 0, column 1'),
        ([], "task t1 train pair 1 output: expected a non-empty list"),
    ],
)
def test_parse_errors_name_task_pair_and_position(grid, message):
    with pytest.raises(PuzzleError) as e:
        arc.parse(task_json(grid), "t1")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_parse_structure_errors():
    with pytest.raises(PuzzleError, match="task t1: not valid JSON"):
        arc.parse('{"train": [', "t1")
    with pytest.raises(PuzzleError, match="'test' must be a non-empty list"):
        arc.parse(task_json(test=[]), "t1")
    with pytest.raises(PuzzleError, match="train pair 0: missing 'output'"):
        arc.parse(json.dumps({"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}), "t1")


def test_load_kaggle_and_task_file(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"a": json.loads(task_json())}))
    (tmp_path / "s.json").write_text(json.dumps({"a": [[[9, 9, 9]]]}))
    tasks = arc.load_kaggle(tmp_path / "c.json", tmp_path / "s.json")
    assert tasks["a"].test[0][1].tolist() == [[9, 9, 9]]
    (tmp_path / "s.json").write_text(json.dumps({"a": [[[9, 12]]]}))
    with pytest.raises(PuzzleError, match="s.json: task a solution 0: colour 12 at row 0, col"):
        arc.load_kaggle(tmp_path / "c.json", tmp_path / "s.json")
    (tmp_path / "x1.json").write_text(task_json([[3, 3], [3]]))
    with pytest.raises(PuzzleError, match="x1.json: task x1 train pair 1 output: row 1 has"):
        arc.load_task_file(tmp_path / "x1.json")


def test_render():
    g = np.array([[0, 1], [9, 2]])
    assert arc.render(g, color=False) == "01\n92"
    text = arc.render(g)
    assert text.count("\n") == 1 and "\x1b[48;2;0;116;217m" in text and text.endswith("\x1b[0m")


def test_hashes():
    g = np.array([[1, 2, 3]], np.uint8)
    assert arc.grid_hash(g) == arc.grid_hash(g.astype(np.int64))
    assert arc.grid_hash(g) != arc.grid_hash(g.reshape(3, 1))
    p1, p2 = (g, g + 1), (g + 2, g)
    assert arc.task_hash([p1, p2]) == arc.task_hash([p2, p1])
    assert arc.task_hash([p1, p2]) != arc.task_hash([p1, p1])
    assert arc.verify(g, g) is None
