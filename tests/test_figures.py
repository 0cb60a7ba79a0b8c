"""`save_figure`: the image in place (atomic, parent created), the figure closed, no import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trm.figures import pyplot, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure():
    fig, ax = pyplot().subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_writes_a_png_in_a_new_directory_and_closes_the_figure(tmp_path):
    fig = _figure()
    target = tmp_path / "new" / "dir" / "curve.png"
    path = save_figure(fig, str(target))
    assert path == target and target.read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in target.parent.iterdir()] == ["curve.png"]  # no temporary left
    assert not pyplot().fignum_exists(fig.number)


def test_the_format_follows_the_suffix(tmp_path):
    assert b"<svg" in save_figure(_figure(), tmp_path / "a.svg").read_bytes()
    assert save_figure(_figure(), tmp_path / "noext").read_bytes().startswith(PNG_MAGIC)


def test_a_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "curve.png"
    target.write_bytes(b"previous")
    fig = _figure()

    def half_written(tmp, **kwargs):
        with open(tmp, "wb") as f:
            f.write(PNG_MAGIC)
        raise RuntimeError("killed mid-save")

    fig.savefig = half_written
    with pytest.raises(RuntimeError, match="killed mid-save"):
        save_figure(fig, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
    assert not pyplot().fignum_exists(fig.number)


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, trm.figures; assert 'matplotlib' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
