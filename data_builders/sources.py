"""Where puzzles come from: CSV files in the Sudoku-Extreme layout, and Hugging Face downloads.

The CSV layout (``source,question,answer,rating``) is shared by Sudoku-Extreme and Maze-Hard;
``read_puzzle_csv`` reads it (UTF-8, with or without a byte-order mark, LF or CRLF line ends)
and ``write_puzzle_csv`` writes it (UTF-8, LF, atomically).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trm.errors import TrmError
from trm.hub import require_hub
from trm.safe_io import atomic_write

CSV_HEADER = ["source", "question", "answer", "rating"]


@dataclass(frozen=True)
class CsvRow:
    """One data row; ``line`` is its 1-based line number in the file (the header is line 1)."""

    path: str
    line: int
    source: str
    question: str
    answer: str
    rating: int

    def where(self) -> str:
        """``file:line`` for error messages."""
        return f"{self.path}:{self.line}"


def read_puzzle_csv(path: str | os.PathLike) -> list[CsvRow]:
    """Read every row of a ``source,question,answer,rating`` CSV.

    Raises ``TrmError`` naming the file and line for a missing file, a wrong header, a row with
    the wrong number of columns or a rating that is not an integer. Row *contents* (length,
    characters, validity) are checked by the puzzle kind, which knows the rules.
    """
    p = Path(path)
    if not p.is_file():
        raise TrmError(f"{p}: no such file")
    rows: list[CsvRow] = []
    with p.open(newline="", encoding="utf-8-sig") as f:  # -sig: a leading BOM is dropped
        reader = csv.reader(_utf8_lines(f, p))
        header = next(reader, None)
        if header is None:
            raise TrmError(f"{p}: empty file (expected header {','.join(CSV_HEADER)})")
        if [h.strip() for h in header] != CSV_HEADER:
            raise TrmError(
                f"{p}:1: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)}"
            )
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            if len(fields) != 4:
                raise TrmError(f"{p}:{line}: expected 4 columns, found {len(fields)}")
            source, question, answer, rating = fields
            try:
                r = int(float(rating)) if rating.strip() else 0
            except ValueError:
                raise TrmError(f"{p}:{line}: rating {rating!r} is not a number") from None
            rows.append(CsvRow(str(p), line, source, question, answer, r))
    return rows


def write_puzzle_csv(path: str | os.PathLike, rows: Iterable[tuple[str, str, str, int]]) -> None:
    """Write ``(source, question, answer, rating)`` rows under the header ``read_puzzle_csv``
    expects, atomically (a full disk is one ``TrmError`` and leaves an old file intact)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(CSV_HEADER)
            out.writerows(rows)

    atomic_write(path, write)


def _utf8_lines(f, p: Path):
    """The lines of text file ``f``; bytes that are not UTF-8 become a one-line error."""
    try:
        yield from f
    except UnicodeDecodeError as e:
        raise TrmError(f"{p}: not UTF-8 text (byte {e.object[e.start]:#04x})") from None


def download_hf(repo_id: str, filename: str) -> Path:
    """Download ``filename`` of the Hugging Face dataset ``repo_id`` (cached) and return its path.

    Offline, or when ``huggingface_hub`` is missing, fails at once with a one-line ``TrmError``.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise TrmError(
            "--source hf needs the package huggingface_hub (pip install huggingface_hub)"
        ) from None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename, repo_type="dataset")
    if isinstance(cached, str):
        return Path(cached)
    require_hub(f"{filename} of {repo_id}", "pass a local CSV with --source PATH.csv instead")
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset"))
    except Exception as e:  # offline: connection errors, LocalEntryNotFoundError, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrmError(
            f"cannot download {filename} of the Hugging Face dataset {repo_id} "
            f"(offline? {reason}); pass a local CSV with --source PATH.csv instead"
        ) from None
