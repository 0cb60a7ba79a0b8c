"""The Python API under the ``trm`` command: load a model and solve, build a dataset, train.

    import trm

    solver = trm.load("sudoku")  # a shipped model (or a run dir, an HF repo id)
    puzzle = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    [result] = solver.solve([puzzle])
    print(result.verified, result.steps)
    print(solver.render(result.answer))

The same options as ``trm solve`` (``views``, ``steps``, or a ``Halting`` for more control),
structured results (``SolveResult``). ``trm.build`` and ``trm.train`` are what ``trm build``
and ``trm train`` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_builders import BUILDERS
from trm.act import Halting
from trm.config import TrainConfig
from trm.errors import TrmError
from trm.inference.arc import solve_arc_task
from trm.inference.loading import load as load_model
from trm.inference.report import evaluate_checkpoint
from trm.inference.solve import DEFAULT_HALT, SolveResult, halting_for, solve_grids
from trm.inference.trace import Trace, trace_grid
from trm.model import TinyRecursiveModel
from trm.puzzles import KINDS
from trm.train import train_from_config

__all__ = ["Halting", "SolveResult", "Solver", "build", "load", "train"]


@dataclass
class Solver:
    """A loaded model and its puzzle kind; ``solve`` takes puzzle text or grids."""

    model: TinyRecursiveModel
    config: TrainConfig

    @property
    def kind(self) -> str:
        return self.config.kind

    def solve(
        self,
        puzzles: list,
        *,
        views: int = 1,
        steps: int | None = None,
        max_steps: int | None = None,
        halt: str = DEFAULT_HALT,
        halting: Halting | None = None,
        batch_size: int = 256,
        seed: int = 0,
        adapt_steps: int = 100,
    ) -> list[SolveResult]:
        """Answers to ``puzzles`` (text in the kind's format, grids, or ARC tasks), in order.

        As ``trm solve``: ``steps`` N runs exactly N supervision steps; otherwise up to
        ``max_steps`` (default the trained maximum; more recurses longer than training),
        stopping a puzzle early by ``halt``: ``head``, ``rules`` (its answer passes the rules) or
        ``both``. A ``Halting`` overrides all three.
        """
        module = KINDS[self.kind]
        items = [module.parse(p) if isinstance(p, str) else p for p in puzzles]
        if self.kind == "arc":  # ARC items are tasks: several test inputs each, voted
            views = views if views > 1 else 8
            return [
                r
                for task in items
                for r in solve_arc_task(
                    self.model,
                    task,
                    data_path=self.config.data_path,
                    views=views,
                    steps=steps,
                    halting=halting,
                    batch_size=batch_size,
                    seed=seed,
                    adapt_steps=adapt_steps,
                )
            ]
        grids = [np.asarray(g) for g in items]
        return solve_grids(
            self.model,
            self.kind,
            grids,
            views=views,
            halting=halting
            or halting_for(self.kind, steps, max_steps, halt, self.model.cfg.max_supervision_steps),
            batch_size=batch_size,
            seed=seed,
        )

    def trace(self, puzzle, *, steps: int | None = None) -> Trace:
        """The answer after every supervision step of one Sudoku or Maze puzzle."""
        grid = KINDS[self.kind].parse(puzzle) if isinstance(puzzle, str) else puzzle
        return trace_grid(self.model, self.kind, grid, steps=steps)

    def evaluate(self, data_dir: str | os.PathLike, **options) -> dict:
        """The ``trm eval`` report on a built dataset's test split (``views``, ``limit``, ...)."""
        return evaluate_checkpoint(self.model, self.config, str(data_dir), **options)

    def render(self, grid) -> str:
        """A grid as the kind's text."""
        return KINDS[self.kind].render(grid)


def load(
    source: str | os.PathLike,
    *,
    kind: str | None = None,
    arch: str | os.PathLike | None = None,
    device: str = "auto",
) -> Solver:
    """A ``Solver`` from a shipped name (``sudoku``, ``maze-att-cpu``), a run or inference
    directory, an official state dict with its ``arch`` YAML, or a Hugging Face model repo id
    (``owner/name``, downloaded once into the hub cache)."""
    model, cfg = load_model(source, kind=kind, arch=arch, device=device)
    if not cfg.kind:
        raise TrmError(f"{source}: unknown puzzle kind; pass kind=")
    return Solver(model, cfg)


def build(kind: str, out: str | os.PathLike, *args, **options) -> dict:
    """Build a dataset like ``trm build KIND``: ``data_builders.<kind>.build(out, ...)``."""
    if kind not in BUILDERS:
        raise TrmError(f"unknown puzzle kind {kind!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[kind].build(out, *args, **options)


def train(
    config: str | os.PathLike,
    *overrides: str,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Train from a recipe name or YAML path with ``key=value`` overrides; the run directory.

    A run directory that already holds a run is refused unless ``resume`` (continue it) or
    ``overwrite`` (start afresh), as ``trm train``."""
    return train_from_config(
        str(config),
        list(overrides),
        str(resume) if resume else None,
        progress=progress,
        overwrite=overwrite,
    )
