"""Where the data shipped with trm lives: recipes (``configs/``) and weights (``checkpoints/``).

In a clone they sit next to the ``trm`` package; after a ``pip install`` they are the data
packages ``trm_configs`` and ``trm_checkpoints``. No torch here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# the folder of a clone -> the data package it installs as (pyproject.toml)
PACKAGES = {"configs": "trm_configs", "checkpoints": "trm_checkpoints"}


def resource_dirs(name: str) -> list[Path]:
    """A clone's ``<name>/`` (next to the ``trm`` package), then the installed data package's
    folders; only those that exist."""
    dirs = [Path(__file__).resolve().parents[1] / name]
    try:  # the installed data package; absent in a clone that was not installed
        dirs += [Path(p) for p in importlib.import_module(PACKAGES[name]).__path__]
    except ImportError:
        pass
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique
