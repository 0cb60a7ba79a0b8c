"""CSV reading and writing, reading errors, and the Hugging Face download offline."""

from __future__ import annotations

import os
import socket

import pytest

from data_builders.sources import download_hf, read_puzzle_csv, write_puzzle_csv
from trm.errors import TrmError


def test_csv_errors_name_file_and_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("source,question,answer,rating\na,b,c,1\na,b,c\n")
    with pytest.raises(TrmError, match=r"x.csv:3: expected 4 columns, found 3"):
        read_puzzle_csv(p)
    p.write_text("src,q\n")
    with pytest.raises(TrmError, match=r"x.csv:1: header"):
        read_puzzle_csv(p)
    p.write_text("source,question,answer,rating\na,b,c,high\n")
    with pytest.raises(TrmError, match=r"x.csv:2: rating 'high' is not a number"):
        read_puzzle_csv(p)
    with pytest.raises(TrmError, match="no such file"):
        read_puzzle_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_byte_order_mark_is_accepted(tmp_path, newline):
    p = tmp_path / "bom.csv"
    text = newline.join(["source,question,answer,rating", "a,b,c,3", "d,e,f,4", ""])
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    rows = read_puzzle_csv(p)
    assert [(r.source, r.question, r.answer, r.rating, r.line) for r in rows] == [
        ("a", "b", "c", 3, 2),
        ("d", "e", "f", 4, 3),
    ]


def test_write_puzzle_csv_is_what_the_reader_reads(tmp_path):
    rows = [("plain", "1.3", "123", 0), ('with, comma "and" quotes', "# S", "#oS", 7)]
    p = tmp_path / "out.csv"
    write_puzzle_csv(p, rows)
    assert p.read_bytes().startswith(b"source,question,answer,rating\n")
    assert b"\r" not in p.read_bytes()
    assert [(r.source, r.question, r.answer, r.rating) for r in read_puzzle_csv(p)] == rows

    def broken():  # a writer that fails halfway leaves the old file, and no temporary
        yield rows[0]
        raise ValueError("stop")

    before = p.read_bytes()
    with pytest.raises(ValueError):
        write_puzzle_csv(p, broken())
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["out.csv"]


def _online() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_hf_download_fails_at_once_offline():
    if _online():
        pytest.skip("online: the download would really happen")
    with pytest.raises(TrmError, match="cannot reach huggingface.co.*--source PATH.csv"):
        download_hf("sapientinc/sudoku-extreme", "test.csv")
