"""`trm bench build`: how long each dataset kind takes to build at a measurable size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from data_builders import arc, maze, sudoku

# Real sources when the shared data folder of the project sits next to the clone.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_build() -> list[dict]:
    """Build times of each dataset kind at a measurable size, in a temporary directory."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sudoku_csv = SHARED_DATA / "sudoku" / "forum_hardest_1905_11plus_10k.csv"
        cases = []
        if sudoku_csv.is_file():
            cases.append(
                (
                    "sudoku csv 1000 x 1000 aug",
                    lambda: sudoku.build(
                        f"{tmp}/s",
                        str(sudoku_csv),
                        subsample=1000,
                        num_aug=1000,
                        test_fraction=0.1,
                        progress=False,
                    ),
                    1_001_000,
                )
            )
        cases.append(
            (
                "sudoku generate 20 + 5 (min rating 0)",
                lambda: sudoku.build(
                    f"{tmp}/g", "generate", count=20, test_count=5, progress=False
                ),
                25,
            )
        )
        cases.append(
            (
                "maze generate 20 + 20 (30x30, path > 110)",
                lambda: maze.build(f"{tmp}/m", "generate", count=20, test_count=20, progress=False),
                40,
            )
        )
        concept = SHARED_DATA / "arc"
        if concept.is_dir():
            cases.append(
                (
                    "arc conceptarc x 100 aug",
                    lambda: arc.build(
                        f"{tmp}/a",
                        [str(concept)],
                        ["concept"],
                        "concept",
                        num_aug=100,
                        progress=False,
                    ),
                    None,
                )
            )
        for name, fn, n in cases:
            t = time.perf_counter()
            summary = fn()
            seconds = time.perf_counter() - t
            n = n or summary.get("train_examples") or 0
            rows.append(
                {"build": name, "seconds": round(seconds, 2), "rows_per_s": round(n / seconds, 1)}
            )
    return rows
