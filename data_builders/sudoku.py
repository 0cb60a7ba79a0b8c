"""Build Sudoku datasets (Sudoku-Extreme CSVs, a local copy, Hugging Face, or the generator).

The paper's dataset is one command::

    trm build sudoku --source hf --subsample 1000 --num-aug 1000 \
        --out data/sudoku-extreme-1k-aug-1000

Train: the chosen puzzles, each followed by ``--num-aug`` random shuffles (SPEC §3.1), one group
per original. Test: never augmented, one group per puzzle. Every row is validated first.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from data_builders import options, sudoku_generate
from data_builders.format import Split, write_dataset
from data_builders.options import MAX_AUG, MAX_SEED, MAX_WORKERS, BuildOptions, option
from data_builders.sources import CsvRow, download_hf, read_puzzle_csv
from trm.errors import TrmError
from trm.options import MAX_COUNT
from trm.puzzles import sudoku
from trm.puzzles.base import PuzzleError

HF_REPO = "sapientinc/sudoku-extreme"
_AUG_CHUNK = 200_000  # augmented examples made per vectorised step (bounds memory)

# byte -> digit; 255 marks a character that is not allowed
_QUESTION_CHARS = np.full(256, 255, np.uint8)
_QUESTION_CHARS[ord(".")] = 0
_QUESTION_CHARS[ord("0") : ord("9") + 1] = np.arange(10)
_ANSWER_CHARS = np.full(256, 255, np.uint8)
_ANSWER_CHARS[ord("1") : ord("9") + 1] = np.arange(1, 10)


class Puzzles:
    """Validated puzzles of one source: (N, 9, 9) questions and answers, ratings, names."""

    def __init__(self, questions: np.ndarray, answers: np.ndarray, ratings: np.ndarray) -> None:
        self.questions, self.answers, self.ratings = questions, answers, ratings

    def __len__(self) -> int:
        return len(self.questions)

    def take(self, index: np.ndarray) -> Puzzles:
        return Puzzles(self.questions[index], self.answers[index], self.ratings[index])


def _row_problem(row: CsvRow) -> str:
    """Why one row is invalid (called only for rows the vectorised checks rejected)."""
    for name, text, allowed in (
        ("question", row.question, ".0123456789"),
        ("answer", row.answer, "123456789"),
    ):
        if len(text) != 81:
            return f"{name} has {len(text)} characters, expected 81"
        bad = next((k for k, ch in enumerate(text) if ch not in allowed), None)
        if bad is not None:
            return f"{name} has bad character {text[bad]!r} at cell {bad + 1}"
    answer = np.array([int(ch) for ch in row.answer], np.uint8).reshape(9, 9)
    conflict = sudoku.first_conflict(answer)
    if conflict:
        return f"answer is not a valid solution ({conflict})"
    for k, (q, a) in enumerate(zip(row.question, row.answer)):
        if q not in ".0" and q != a:
            return f"given {q} at cell {k + 1} differs from the answer ({a})"
    return "invalid row"


def validate_rows(rows: list[CsvRow], *, skip_invalid: bool) -> tuple[Puzzles, int]:
    """Check every row (lengths, characters, givens kept, answer valid), vectorised.

    Raises ``PuzzleError`` ``file:line: reason`` for the first bad row, or with
    ``skip_invalid`` drops bad rows and returns how many were skipped.
    """
    n = len(rows)
    shaped = np.array(
        [
            len(r.question) == 81 and len(r.answer) == 81 and (r.question + r.answer).isascii()
            for r in rows
        ],
        dtype=bool,
    )
    q = np.zeros((n, 81), np.uint8)
    a = np.zeros((n, 81), np.uint8)
    if shaped.any():
        text = "".join(r.question + r.answer for r, ok in zip(rows, shaped) if ok)
        raw = np.frombuffer(text.encode("ascii"), np.uint8).reshape(-1, 2, 81)
        q[shaped] = _QUESTION_CHARS[raw[:, 0]]
        a[shaped] = _ANSWER_CHARS[raw[:, 1]]
    ok = shaped & (q != 255).all(axis=1) & (a != 255).all(axis=1)
    ok &= sudoku.verify_batch(np.where(ok[:, None], q, 0), np.where(ok[:, None], a, 1))
    bad = np.flatnonzero(~ok)
    if len(bad) and not skip_invalid:
        row = rows[bad[0]]
        raise PuzzleError(f"{row.where()}: {_row_problem(row)}")
    ratings = np.array([r.rating for r in rows], np.int64)
    puzzles = Puzzles(q[ok].reshape(-1, 9, 9), a[ok].reshape(-1, 9, 9), ratings[ok])
    return puzzles, len(bad)


def _read(path: str | os.PathLike, skip_invalid: bool) -> tuple[Puzzles, int]:
    return validate_rows(read_puzzle_csv(path), skip_invalid=skip_invalid)


def split_by_solution(
    puzzles: Puzzles, fraction: float, rng: np.random.Generator
) -> tuple[Puzzles, Puzzles]:
    """Hold out about ``fraction`` of the puzzles as test, keeping every set of puzzles whose
    solutions are equal up to Sudoku symmetry on one side (train, test)."""
    if not 0 < fraction < 1:
        raise TrmError(f"--test-fraction must be between 0 and 1, got {fraction}")
    keys = sudoku.solution_invariant(puzzles.answers)
    _, cls = np.unique(keys, return_inverse=True)
    sizes = np.bincount(cls)
    order = rng.permutation(len(sizes))
    taken = np.cumsum(sizes[order]) <= round(fraction * len(puzzles))
    is_test = np.isin(cls, order[taken])
    return puzzles.take(np.flatnonzero(~is_test)), puzzles.take(np.flatnonzero(is_test))


def _drop_shared_grids(train: Puzzles, test: Puzzles) -> Puzzles:
    """``train`` without the puzzles whose solution equals a test solution up to symmetry."""
    shared = np.isin(
        sudoku.solution_invariant(train.answers), sudoku.solution_invariant(test.answers)
    )
    return train.take(np.flatnonzero(~shared))


def _choose(puzzles: Puzzles, n: int | None, rng: np.random.Generator, what: str) -> Puzzles:
    """A uniform sample of ``n`` puzzles without replacement (kept in source order)."""
    if n is None or n >= len(puzzles):
        if n is not None and what == "--subsample" and n > len(puzzles):
            raise TrmError(f"--subsample {n} is larger than the {len(puzzles)} train puzzles")
        return puzzles
    return puzzles.take(np.sort(rng.choice(len(puzzles), n, replace=False)))


def augment(
    puzzles: Puzzles, num_aug: int, rng: np.random.Generator, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Token inputs and labels (N * (num_aug + 1), 81): each original, then its shuffles."""
    n, per = len(puzzles), num_aug + 1
    inputs = np.empty((n * per, 81), np.uint8)
    labels = np.empty((n * per, 81), np.uint8)
    step = max(1, _AUG_CHUNK // per)
    with tqdm(total=n * per, desc="augment", unit="ex", disable=not progress or None) as bar:
        for s in range(0, n, step):
            e = min(n, s + step)
            q, a = sudoku.augment_batch(puzzles.questions[s:e], puzzles.answers[s:e], rng, num_aug)
            inputs[s * per : e * per] = sudoku.encode(q).reshape(-1, 81)
            labels[s * per : e * per] = sudoku.encode(a).reshape(-1, 81)
            bar.update((e - s) * per)
    return inputs, labels


def _load_sources(
    opts: SudokuOptions, rngs: list[np.random.Generator]
) -> tuple[Puzzles, Puzzles, int]:
    """(train, test, skipped rows) for any ``--source``."""
    source, test_source, skip = opts.source, opts.test_source, opts.skip_invalid
    skipped = 0
    test: Puzzles | None = None
    if source == "generate":
        count = opts.count
        n_test = opts.test_count if opts.test_count is not None else max(1, count // 10)
        level = opts.min_difficulty or 0
        gen = {"min_difficulty": level, "workers": opts.workers, "progress": opts.progress}
        train = Puzzles(*sudoku_generate.generate(count, rngs[0], **gen))
        if test_source is not None:  # e.g. real puzzles to measure generated training on
            test, skipped = _read(test_source, skip)
            return _drop_shared_grids(train, test), test, skipped
        test = Puzzles(*sudoku_generate.generate(n_test, rngs[1], desc="test", **gen))
        return train, test, 0
    own_test = test_source is None and opts.test_fraction is None  # the source's test.csv
    if source == "hf":
        train, skipped = _read(download_hf(HF_REPO, "train.csv"), skip)
        if own_test:
            test, s = _read(download_hf(HF_REPO, "test.csv"), skip)
            skipped += s
    elif Path(source).is_dir():
        train, skipped = _read(Path(source) / "train.csv", skip)
        if own_test:
            test, s = _read(Path(source) / "test.csv", skip)
            skipped += s
    else:
        train, skipped = _read(source, skip)
    if test_source is not None:
        test, s = _read(test_source, skip)
        skipped += s
    if opts.min_difficulty is not None:
        train = train.take(np.flatnonzero(train.ratings >= opts.min_difficulty))
        if test is not None:
            test = test.take(np.flatnonzero(test.ratings >= opts.min_difficulty))
    if test is None:
        train, test = split_by_solution(train, opts.test_fraction, rngs[1])
    return train, test, skipped


def _subsample(
    train: Puzzles, test: Puzzles, opts: SudokuOptions, rng: np.random.Generator
) -> tuple[Puzzles, Puzzles]:
    """The ``--subsample`` of train (and ``--test-count`` of a read test split), never empty."""
    train = _choose(train, opts.subsample, rng, "--subsample")
    if opts.source != "generate":
        test = _choose(test, opts.test_count, rng, "--test-count")
    if len(train) == 0 or len(test) == 0:
        raise TrmError(
            f"{opts.source}: no puzzles left for the {'train' if not train else 'test'} split"
        )
    return train, test


def _with_givens(
    train: Puzzles, givens_range: tuple[int, int] | None, rng: np.random.Generator
) -> Puzzles:
    """``train`` with clues copied back up to a target drawn per puzzle from ``givens_range``."""
    if givens_range is None:
        return train
    targets = rng.integers(givens_range[0], givens_range[1] + 1, len(train))
    questions = sudoku.add_givens(train.questions, train.answers, targets, rng)
    return Puzzles(questions, train.answers, train.ratings)


@dataclass
class SudokuOptions(BuildOptions):
    """The options of ``trm build sudoku`` and of ``build`` (one field per flag)."""

    kind: ClassVar[str] = sudoku.NAME

    source: str = option("PATH.csv, a DIR with train.csv and test.csv, hf, or generate")
    _: KW_ONLY
    subsample: int | None = option(
        "train puzzles chosen at random (paper: 1000)", None, bounds=(1, MAX_COUNT)
    )
    num_aug: int = option("augmented copies per train puzzle (paper: 1000)", 0, bounds=(0, MAX_AUG))
    min_difficulty: int | None = option(
        "keep puzzles with rating >= R (generator: target rating)", None, bounds=(0, MAX_COUNT)
    )
    count: int | None = option("generator: number of train puzzles", None, bounds=(1, MAX_COUNT))
    test_count: int | None = option(
        "generator: number of test puzzles; otherwise a cap on the test split",
        None,
        bounds=(1, MAX_COUNT),
    )
    test_source: str | None = option("take the test split from this CSV", None)
    test_fraction: float | None = option(
        "hold out this fraction of a single CSV as test, split by solution grid", None
    )
    seed: int = option("random seed (default 0)", 0, bounds=(0, MAX_SEED))
    skip_invalid: bool = option("skip and count bad rows instead of stopping at the first", False)
    givens: str | None = option(
        "train puzzles: copy clues back from the solution up to N (or LO:HI) givens", None
    )
    workers: int | None = option(
        "generator: processes (default: all CPUs; the output does not depend on it)",
        None,
        bounds=(1, MAX_WORKERS),
        record=False,  # the dataset does not depend on it
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.test_fraction is not None and not 0 < self.test_fraction < 1:
            raise TrmError(f"--test-fraction must be between 0 and 1, got {self.test_fraction}")
        if self.test_source is not None and self.test_fraction is not None:
            raise TrmError("give either --test-source or --test-fraction, not both")
        if self.source == "generate" and self.count is None:
            raise TrmError("--source generate needs --count N (number of train puzzles)")
        for name, path in (("--source", self.source), ("--test-source", self.test_source)):
            if path is not None and path not in ("hf", "generate") and not Path(path).exists():
                raise TrmError(f"{name} {path}: no such file or directory")
        single_csv = Path(self.source).is_file()
        if single_csv and self.test_source is None and self.test_fraction is None:
            raise TrmError(
                f"{self.source}: a single CSV needs --test-source PATH.csv or --test-fraction F"
            )
        parse_givens(self.givens)  # a bad --givens fails now, not after the CSVs are read


def build(out: str | os.PathLike, *args: Any, **keywords: Any) -> dict[str, Any]:
    """Build a Sudoku dataset into ``out`` and return a summary (counts, sizes, skipped rows).

    Called as ``build(out, source, subsample=..., num_aug=..., ...)``: the fields of
    ``SudokuOptions``, checked before any work (a bad value is one ``TrmError``), with
    ``overwrite=True`` to replace a dataset already in ``out``. ``source``: a CSV, a directory
    with ``train.csv`` and ``test.csv``, ``"hf"`` or ``"generate"``. The same options and seed
    give a byte-identical dataset, whatever ``workers`` (generator processes; default all
    CPUs). ``givens`` (``"N"`` or ``"LO:HI"``) copies clues back from the solution into each
    train puzzle until it has N givens, or a number drawn uniformly from LO..HI per puzzle (an
    easier mix of the same grids).
    """
    opts = options.prepare(SudokuOptions, out, args, keywords)
    # independent streams, so e.g. the test split does not change with --num-aug; spawn(k)[i]
    # does not depend on k, so datasets built before a stream was added stay the same
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(opts.seed).spawn(5)]
    train, test, skipped = _load_sources(opts, rngs)
    train, test = _subsample(train, test, opts, rngs[2])
    train = _with_givens(train, parse_givens(opts.givens), rngs[4])
    inputs, labels = augment(train, opts.num_aug, rngs[3], opts.progress)
    splits = {
        "train": Split.one_example_per_puzzle(inputs, labels, opts.num_aug + 1),
        "test": Split.one_example_per_puzzle(
            sudoku.encode(test.questions), sudoku.encode(test.answers), 1
        ),
    }
    summary: dict[str, Any] = {
        "out": opts.out,
        "source": opts.source,
        "train_groups": len(train),
        "train_examples": len(inputs),
        "test_examples": len(test),
        "skipped": skipped,
        "seed": opts.seed,
    }
    info = {
        "kind": sudoku.NAME,
        "arguments": options.recorded(opts),
        **{k: v for k, v in summary.items() if k not in ("out",)},
        "train_rating_mean": float(train.ratings.mean()),
        "test_rating_mean": float(test.ratings.mean()),
    }
    extra = {"build_info.json": info}
    path = write_dataset(
        opts.out, splits, sudoku.VOCAB_SIZE, extra_json=extra, overwrite=opts.overwrite
    )
    summary["megabytes"] = round(sum(f.stat().st_size for f in path.rglob("*")) / 1e6, 1)
    return summary


def parse_givens(text: str | None) -> tuple[int, int] | None:
    """``"N"`` or ``"LO:HI"`` (givens per puzzle, 17..81) as (LO, HI); None stays None."""
    if text is None:
        return None
    try:
        lo, _, hi = str(text).partition(":")
        bounds = int(lo), int(hi or lo)
    except ValueError:
        raise TrmError(f"--givens must be N or LO:HI, got {text!r}") from None
    if not 17 <= bounds[0] <= bounds[1] <= 81:
        raise TrmError(f"--givens must satisfy 17 <= LO <= HI <= 81, got {text!r}")
    return bounds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``trm build sudoku`` (the fields of ``SudokuOptions``)."""
    options.add_arguments(parser, SudokuOptions)


def build_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``build`` with parsed ``trm build sudoku`` arguments."""
    return build(**options.from_args(SudokuOptions, args))
