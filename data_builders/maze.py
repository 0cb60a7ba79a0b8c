"""Build a Maze-Hard dataset from a CSV, from Hugging Face, or from the built-in generator.

Sources (``--source``):

* ``PATH.csv``: the ``source,question,answer,rating`` layout of ``sapientinc/maze-30x30-hard-1k``
  (question and answer are n² characters over ``# SGo``), used as the train split; the test
  split comes from ``--test-source PATH.csv``.
* ``DIR``: a directory holding ``train.csv`` and ``test.csv``.
* ``hf``: both files downloaded from Hugging Face.
* ``generate``: ``--count`` train and ``--test-count`` test mazes from the Maze-Hard recipe
  (``data_builders/maze_generate.py`` says how the sampling departs from it), with the shortest
  path in ``(--min-path, --max-path]`` moves (``--goal length``: as many mazes at each length
  of the band, instead of the recipe's mostly short paths). Train and test never share a wall
  layout, and generated mazes avoid the layouts of ``--test-source`` and ``--exclude`` CSVs.

Every CSV row is checked (length, characters, one S and one G, the answer a shortest path of
its question); the first bad row stops the build with ``file:line: reason`` unless
``--skip-invalid``, which skips and counts bad rows. ``--aug`` turns each train maze into a
group of its 8 dihedral copies; the test split is never augmented. ``build_info.json`` records
the arguments, counts and path-length statistics (lengths in moves).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from data_builders import options
from data_builders.format import Split, write_dataset
from data_builders.maze_generate import GOALS, MAX_SIZE, check_settings, generate, layout_key
from data_builders.options import MAX_SEED, BuildOptions, option
from data_builders.sources import CsvRow, download_hf, read_puzzle_csv, write_puzzle_csv
from trm.errors import TrmError
from trm.options import MAX_COUNT
from trm.puzzles import maze
from trm.puzzles.base import PuzzleError, dihedral

HF_REPO = "sapientinc/maze-30x30-hard-1k"
VERIFY_CHUNK = 256


def _row_grids(row: CsvRow, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse one CSV row's question and answer; raises ``PuzzleError`` with the reason."""
    grids = []
    for name, text in (("question", row.question), ("answer", row.answer)):
        if len(text) != size * size:
            raise PuzzleError(f"{name} has {len(text)} characters, expected {size * size}")
        try:
            grids.append(maze.parse(text))
        except PuzzleError as e:
            raise PuzzleError(f"{name}: {e}") from None
    if (grids[0] == maze.PATH).any():
        raise PuzzleError("question has path cells 'o'")
    return grids[0], grids[1]


def load_csv(
    path: str | Path, *, size: int = 30, skip_invalid: bool = False, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read and check a maze CSV; returns ``(questions, answers, skipped)`` as ``(N, n, n)``.

    Raises ``PuzzleError`` ``file:line: reason`` for the first bad row unless ``skip_invalid``.
    """
    rows = read_puzzle_csv(path)
    bad: dict[int, str] = {}  # row index -> reason
    parsed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, row in enumerate(rows):
        try:
            parsed[i] = _row_grids(row, size)
        except PuzzleError as e:
            bad[i] = str(e)
    keys = sorted(parsed)
    questions = np.array([parsed[i][0] for i in keys], np.uint8).reshape(-1, size, size)
    answers = np.array([parsed[i][1] for i in keys], np.uint8).reshape(-1, size, size)
    ok = np.ones(len(keys), bool)
    chunks = range(0, len(keys), VERIFY_CHUNK)
    for s in tqdm(
        chunks, desc=f"check {Path(path).name}", unit="chunk", disable=None if progress else True
    ):
        ok[s : s + VERIFY_CHUNK] = maze.verify_batch(
            questions[s : s + VERIFY_CHUNK], answers[s : s + VERIFY_CHUNK]
        )
    for j in np.flatnonzero(~ok):
        bad[keys[j]] = maze.check_answer(questions[j], answers[j]) or "answer is not valid"
    if bad and not skip_invalid:
        first = min(bad)
        raise PuzzleError(f"{rows[first].where()}: {bad[first]}")
    questions, answers = questions[ok], answers[ok]
    if len(questions) == 0:
        raise TrmError(f"{path}: no valid mazes")
    return questions, answers, len(bad)


def write_csv(
    path: str | Path, questions: np.ndarray, answers: np.ndarray, source: str = "trm-generate"
) -> None:
    """Write mazes in the ``source,question,answer,rating`` layout (rating = path length)."""
    rows = (
        (source, maze.to_line(q), maze.to_line(a), int((a == maze.PATH).sum()) + 1)
        for q, a in zip(questions, answers)
    )
    write_puzzle_csv(path, rows)


def augment(questions: np.ndarray, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 dihedral copies (SPEC §3.4 order) of each maze, consecutive: ``(8N, n, n)``."""

    def copies(grids: np.ndarray) -> np.ndarray:
        stacked = np.stack([dihedral(grids, t) for t in range(8)], axis=1)  # (N, 8, n, n)
        return stacked.reshape(-1, *grids.shape[1:])

    return copies(questions), copies(answers)


def _layout_keys(questions: np.ndarray) -> set[bytes]:
    return {layout_key(q == maze.WALL) for q in questions}


def _stats(lengths: np.ndarray) -> dict[str, float]:
    if len(lengths) == 0:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {
        "min": int(lengths.min()),
        "mean": round(float(lengths.mean()), 2),
        "max": int(lengths.max()),
    }


def _resolve_csvs(source: str, test_source: str | None) -> tuple[Path, Path]:
    if source == "hf":
        train = download_hf(HF_REPO, "train.csv")
        return train, Path(test_source) if test_source else download_hf(HF_REPO, "test.csv")
    p = Path(source)
    if p.is_dir():
        return p / "train.csv", Path(test_source) if test_source else p / "test.csv"
    if p.is_file():
        if not test_source:
            raise TrmError(
                f"--source {source} gives the train split only; pass --test-source PATH.csv "
                "(or a directory with train.csv and test.csv)"
            )
        return p, Path(test_source)
    raise TrmError(
        f"--source {source}: no such file or directory "
        "(expected PATH.csv, a directory with train.csv and test.csv, hf or generate)"
    )


def _read_sources(opts: MazeOptions) -> tuple:
    """(train questions, answers, test questions, answers, rows skipped, generator info)."""
    source, test_source, count, size = opts.source, opts.test_source, opts.count, opts.size
    skip, progress = opts.skip_invalid, opts.progress
    skipped, info = 0, {}
    if source == "generate":
        rng = np.random.default_rng(opts.seed)
        held_out = []  # mazes whose layouts the generated ones avoid: the test source, --exclude
        if test_source:
            test_q, test_a, skipped = load_csv(
                test_source, size=size, skip_invalid=skip, progress=progress
            )
            held_out.append(test_q)
        for path in opts.exclude or []:
            held_out.append(load_csv(path, size=size, skip_invalid=skip, progress=progress)[0])
        n_test = 0 if test_source else opts.test_count
        gen = generate(
            count + n_test,
            size=size,
            min_path=opts.min_path,
            max_path=opts.max_path,
            rng=rng,
            exclude=set().union(*map(_layout_keys, held_out)),
            goal=opts.goal,
            progress=progress,
        )
        questions = gen.questions
        answers, lengths = maze.solve_batch(questions)
        w = gen.recipe_weights
        info["generator"] = {"layouts_tried": gen.layouts_tried}
        if opts.goal == "cell":
            info["generator"]["recipe_weighted_path_mean"] = round(
                float((lengths * w).sum() / w.sum()), 2
            )
        info["generator"]["sampling"] = (
            "G uniform among cells in the path-length band from S"
            if opts.goal == "cell"
            else "a path length uniform among those in the band from S, then G uniform at it"
        ) + "; see data_builders/maze_generate.py"
        train_q, train_a = questions[:count], answers[:count]
        if not test_source:
            test_q, test_a = questions[count:], answers[count:]
    else:
        train_path, test_path = _resolve_csvs(source, test_source)
        train_q, train_a, s1 = load_csv(train_path, size=size, skip_invalid=skip, progress=progress)
        test_q, test_a, s2 = load_csv(test_path, size=size, skip_invalid=skip, progress=progress)
        skipped = s1 + s2
    return train_q, train_a, test_q, test_a, skipped, info


@dataclass
class MazeOptions(BuildOptions):
    """The options of ``trm build maze`` and of ``build`` (one field per flag)."""

    kind: ClassVar[str] = maze.NAME

    source: str = option("PATH.csv, DIR (train.csv + test.csv), hf or generate")
    _: KW_ONLY
    test_source: str | None = option("CSV for the test split", None)
    count: int = option("generated train mazes (default 1000)", 1000, bounds=(1, MAX_COUNT))
    test_count: int | None = option(
        "generated test mazes (default --count)", None, bounds=(0, MAX_COUNT)
    )
    size: int = option("grid side (default 30)", 30, bounds=(2, MAX_SIZE))
    min_path: int = option(
        "generated mazes have a shortest path longer than this many moves (default 110)",
        110,
        bounds=(0, MAX_SIZE * MAX_SIZE),
    )
    max_path: int | None = option(
        "generated mazes have a shortest path of at most this many moves (default: no limit)",
        None,
        bounds=(1, MAX_SIZE * MAX_SIZE),
    )
    goal: str = option(
        "how G is drawn in the band: cell (uniform among its cells, the recipe) or length "
        "(a uniform path length first: as many long paths as short)",
        "cell",
        choices=GOALS,
    )
    exclude: list[str] | None = option(
        "maze CSVs (a held-out ladder) whose wall layouts generated mazes never use", None
    )
    aug: bool = option("8 dihedral copies of each train maze", False)
    seed: int = option("random seed (default 0)", 0, bounds=(0, MAX_SEED))
    skip_invalid: bool = option("skip and count bad CSV rows", False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.test_count is None:
            self.test_count = self.count
        for path in [self.test_source, *(self.exclude or [])]:
            if path is not None and not Path(path).is_file():
                flag = "--test-source" if path == self.test_source else "--exclude"
                raise TrmError(f"{flag} {path}: no such file")
        check_settings(self.size, self.min_path, self.max_path, self.goal)


def build(out: str | os.PathLike, *args: Any, **keywords: Any) -> dict[str, Any]:
    """Build a Maze dataset into ``out`` and return a summary of plain values.

    Called as ``build(out, source, count=..., aug=..., ...)``: the fields of ``MazeOptions``,
    checked before any work, with ``overwrite=True`` to replace a dataset already in ``out``.
    ``count``, ``test_count`` (default ``count``) and ``min_path`` apply to
    ``source="generate"``; ``size`` is the grid side expected from every source. Same options,
    same bytes.
    """
    opts = options.prepare(MazeOptions, out, args, keywords)
    train_q, train_a, test_q, test_a, skipped, info = _read_sources(opts)
    shared = len(_layout_keys(train_q) & _layout_keys(test_q))
    train_len = (train_a == maze.PATH).sum(axis=(1, 2)) + 1
    test_len = (test_a == maze.PATH).sum(axis=(1, 2)) + 1

    group = 8 if opts.aug else 1
    in_q, in_a = augment(train_q, train_a) if opts.aug else (train_q, train_a)
    splits = {
        "train": Split.one_example_per_puzzle(maze.encode(in_q), maze.encode(in_a), group),
        "test": Split.one_example_per_puzzle(maze.encode(test_q), maze.encode(test_a), 1),
    }
    all_len = np.concatenate([train_len, test_len])
    summary = {
        "out": opts.out,
        "source": opts.source,
        "train_mazes": len(train_q),
        "train_puzzles": len(in_q),
        "test_mazes": len(test_q),
        "skipped": skipped,
        "shared_layouts": shared,
        **{f"path_{k}": v for k, v in _stats(all_len).items()},
    }
    build_info = {
        "kind": "maze",
        "args": options.recorded(opts),
        "path_length_unit": "moves (o cells + 1)",
        "train": {"mazes": len(train_q), "puzzles": len(in_q), "path_length": _stats(train_len)},
        "test": {"mazes": len(test_q), "path_length": _stats(test_len)},
        "skipped": skipped,
        "shared_layouts": shared,
        **info,
    }
    extra = {"build_info.json": build_info}
    write_dataset(opts.out, splits, maze.VOCAB_SIZE, extra_json=extra, overwrite=opts.overwrite)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``trm build maze`` (the fields of ``MazeOptions``)."""
    options.add_arguments(parser, MazeOptions)


def build_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``build`` with the options of ``add_arguments``."""
    return build(**options.from_args(MazeOptions, args))
