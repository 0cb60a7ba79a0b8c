"""Maze rules: parsing, tokens, breadth-first search, solver tie-break, verifier, symmetries."""

import numpy as np
import pytest

from data_builders.maze_generate import generate
from trm.puzzles import maze
from trm.puzzles.base import PuzzleError

# Two shortest paths of 4 moves from S to G (right-then-down and down-then-right).
SMALL = "#####\n#S  #\n# # #\n#  G#\n#####"
SOLVED = "#####\n#Soo#\n# #o#\n#  G#\n#####"
OTHER = "#####\n#S  #\n#o# #\n#ooG#\n#####"


@pytest.fixture(scope="module")
def mazes():
    """Small generated questions and their solver answers."""
    questions = generate(12, size=10, min_path=14, rng=np.random.default_rng(3), progress=False)
    answers, _ = maze.solve_batch(questions.questions)
    return questions.questions, answers


def test_parse_render_round_trip():
    grid = maze.parse(SMALL)
    assert grid.shape == (5, 5) and grid.dtype == np.uint8
    assert maze.render(grid) == SMALL
    assert maze.to_line(grid) == SMALL.replace("\n", "")
    assert np.array_equal(maze.parse(maze.to_line(grid)), grid)
    assert np.array_equal(maze.parse("\n" + SMALL.replace("\n", "\r\n") + "\n\n"), grid)


@pytest.mark.parametrize(
    "text, message",
    [
        ("#S#\n#G \n#x#", "bad character 'x' at row 3, column 2"),
        ("#S#\n#G#\n# #\n", None),
        ("#S#\nGG \n# #", "maze has 2 G cells (row 2, column 1 and row 2, column 2)"),
        (
            "S S\n   \nG S",
            "maze has 3 S cells (row 1, column 1, row 1, column 3 and row 3, column 3)",
        ),
        ("#S#\n#  \n# #", "no G in maze"),
        ("#S#\n#G\n# #", "rows have different lengths (row 2 has 2, expected 3)"),
        ("#S##\n#G  \n#  #", "maze is not square (3 rows of 4 columns)"),
        ("SG" + " " * 6, "maze is not square"),
        ("\n\n", "empty maze"),
    ],
)
def test_parse_errors_name_the_position(text, message):
    if message is None:
        maze.parse(text)
        return
    with pytest.raises(PuzzleError) as err:
        maze.parse(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_encode_decode_round_trip(mazes):
    questions, answers = mazes
    grid = maze.parse(SMALL)
    assert maze.encode(grid).tolist()[:7] == [1, 1, 1, 1, 1, 1, 3]  # '#' -> 1, 'S' -> 3
    assert maze.encode(maze.parse("S G\n   \n  o")).tolist() == [3, 2, 4, 2, 2, 2, 2, 2, 5]
    tokens = maze.encode(np.stack([questions, answers]))  # (2, B, 100)
    assert tokens.shape == (2, len(questions), 100) and tokens.dtype == np.uint8
    assert np.array_equal(maze.decode(tokens), np.stack([questions, answers]))
    assert maze.SEQ_LEN == 900 and maze.VOCAB_SIZE == 6


def test_decode_rejects_pad_with_position():
    tokens = maze.encode(maze.parse(SMALL))
    tokens[7] = 0
    with pytest.raises(PuzzleError, match="token 0 at row 2, column 3"):
        maze.decode(tokens)


def test_solver_tie_break_and_length():
    grid = maze.parse(SMALL)
    assert maze.shortest_path_length(grid) == 4
    assert maze.render(maze.solve(grid)) == SOLVED  # 'right' is tried before 'down'
    open_grid = maze.parse("S  \n   \n  G")
    assert maze.render(maze.solve(open_grid)) == "Soo\n  o\n  G"
    blocked = maze.parse("S#G\n## \n   ")
    assert maze.shortest_path_length(blocked) is None and maze.solve(blocked) is None
    adjacent = maze.parse("SG\n  ")
    assert maze.render(maze.solve(adjacent)) == "SG\n  "


def test_verify_accepts_any_shortest_path():
    q = maze.parse(SMALL)
    assert maze.verify(q, maze.parse(SOLVED))
    assert maze.verify(q, maze.parse(OTHER))


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("#####\n#S  #\n#o# #\n#o G#\n#####", "does not connect"),  # broken path
        ("#####\n#Soo#\n#o#o#\n#ooG#\n#####", "length 7 but the shortest is 4"),  # extra cells
        ("#####\n#So #\n# o #\n#  G#\n#####", "goes through a wall at row 3, column 3"),
        ("#####\n#Soo#\n# #o#\n## G#\n#####", "changes row 4, column 2 from ' ' to '#'"),
        ("#####\n#Soo#\n# #o#\n#  G#\n#### ", "changes row 5, column 5 from '#' to ' '"),
        ("#####\n#S  #\n# # #\n#  G#\n#####", "does not connect"),  # no path at all
    ],
)
def test_verify_rejects(answer, reason):
    q = maze.parse(SMALL)
    a = maze.parse(answer)
    assert not maze.verify(q, a)
    assert reason in maze.check_answer(q, a)
    assert not maze.verify_batch(q[None], a[None])[0]


def test_verify_rejects_longer_connected_path():
    q = maze.parse("S  \n   \n  G")
    detour = maze.parse("Soo\nooo\n  G")  # S, down, right, up, right, down, down: 6 moves
    assert maze.check_answer(q, detour) == "answer path has length 6 but the shortest is 4"


def test_verify_batch_matches_verify(mazes):
    questions, answers = mazes
    assert maze.verify_batch(questions, answers).all()
    broken = answers.copy()
    for i in range(len(broken)):
        path = np.argwhere(broken[i] == maze.PATH)
        broken[i][tuple(path[i % len(path)])] = maze.OPEN
    assert not maze.verify_batch(questions, broken).any()
    assert [maze.verify(q, a) for q, a in zip(questions, broken)] == [False] * len(broken)


def test_symmetries_keep_shortest_paths_and_invert(mazes):
    questions, answers = mazes
    symmetries = maze.symmetries()
    assert len(symmetries) == 8
    for sym in symmetries:
        tq, ta = sym.forward(questions), sym.forward(answers)
        assert maze.verify_batch(tq, ta).all()
        assert np.array_equal(sym.inverse(tq), questions)
        assert np.array_equal(sym.inverse(ta), answers)
        assert maze.shortest_path_length(tq[0]) == maze.shortest_path_length(questions[0])
    names = {maze.random_symmetry(np.random.default_rng(s)).name for s in range(64)}
    assert names == {s.name for s in symmetries}
