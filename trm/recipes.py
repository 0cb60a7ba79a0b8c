"""Training recipes by name: the YAML files of ``configs/``, installed as ``trm_configs``.

``trm train sudoku_mlp`` finds ``sudoku_mlp.yaml`` in a clone's ``configs/`` or, after a
``pip install``, in the data package ``trm_configs``; a path to a YAML file works as well.
No torch here: ``trm train --list`` and ``trm --help`` stay fast.
"""

from __future__ import annotations

from pathlib import Path

from trm.errors import TrmError
from trm.resources import resource_dirs


def recipe_dirs() -> list[Path]:
    """A clone's ``configs/`` (next to the ``trm`` package), then the installed ``trm_configs``."""
    return resource_dirs("configs")


def list_recipes() -> list[str]:
    """Names of the recipes (``configs/*.yaml`` stems), sorted."""
    return sorted({p.stem for d in recipe_dirs() for p in d.glob("*.yaml")})


def find_recipe(name_or_path: str | Path) -> Path:
    """The YAML file for a recipe name (``sudoku_mlp``) or a path (returned as is when it
    exists or looks like a path, so that a missing file gets the usual error)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path
    for d in recipe_dirs():
        if (d / f"{path.name}.yaml").is_file():
            return d / f"{path.name}.yaml"
    known = ", ".join(list_recipes()) or "none installed"
    raise TrmError(f"{name_or_path}: no such recipe or config file (recipes: {known})")
