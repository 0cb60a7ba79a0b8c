"""Figures written to files: matplotlib on the Agg backend (no display), saved atomically.

matplotlib is imported on first use, so ``import trm.figures`` stays cheap for commands that
never draw.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from trm.safe_io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend: files only, never a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` and close it; returns ``path``.

    The format follows the suffix (PNG without one). The parent directory is created; the
    figure goes to a temporary file beside ``path``, renamed into place when complete, so a
    reader never sees half an image and a failed save leaves the previous file intact.
    """
    path = Path(path)
    fmt = path.suffix.removeprefix(".").lower() or "png"  # the temporary's name has no suffix
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))
    finally:
        pyplot().close(fig)
    return path
