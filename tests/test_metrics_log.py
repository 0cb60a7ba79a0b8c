"""`read_metrics`: the rows `MetricsLog` wrote, a torn last line left out, damage named."""

from __future__ import annotations

import pytest

from trm.config import TrainConfig
from trm.errors import TrmError
from trm.metrics_log import MetricsLog, read_metrics
from trm.run_layout import METRICS


def test_reads_back_what_the_log_wrote(tmp_path):
    log = MetricsLog(tmp_path, TrainConfig(), None, True)
    log.log(1, {"train/loss": 2.5})
    log.log(2, {"eval/exact_accuracy": 0.25})
    assert read_metrics(tmp_path) == [
        {"step": 1, "train/loss": 2.5},
        {"step": 2, "eval/exact_accuracy": 0.25},
    ]
    assert read_metrics(str(tmp_path)) == read_metrics(tmp_path)


def test_a_run_without_a_log_has_no_rows(tmp_path):
    assert read_metrics(tmp_path) == []
    (tmp_path / METRICS).write_text("")
    assert read_metrics(tmp_path) == []


@pytest.mark.parametrize("torn", ['{"step": 3, "tr', '{"st', "[3"])
def test_a_torn_last_line_is_left_out_as_the_resume_repair_does(tmp_path, torn):
    (tmp_path / METRICS).write_text('{"step": 1}\n{"step": 2}\n' + torn)
    assert read_metrics(tmp_path) == [{"step": 1}, {"step": 2}]
    MetricsLog(tmp_path, TrainConfig(), 2, True)  # the repair on resume keeps the same rows
    assert read_metrics(tmp_path) == [{"step": 1}, {"step": 2}]


def test_a_bad_line_before_the_last_is_a_damaged_log(tmp_path):
    (tmp_path / METRICS).write_text('{"step": 1}\n{"step": 2, "x\n{"step": 3}\n')
    with pytest.raises(TrmError, match=rf"{METRICS}:2: not a metrics row"):
        read_metrics(tmp_path)
