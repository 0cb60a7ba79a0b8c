"""CSV reading errors and the Hugging Face download's offline behaviour."""

from __future__ import annotations

import socket

import pytest

from data_builders.sources import download_hf, read_puzzle_csv
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
