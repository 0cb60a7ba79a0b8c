"""The Python API under the ``trm`` command: load a model and solve, build a dataset, train.

    import trm

    solver = trm.load("sudoku")  # a shipped model (or a run dir, an HF repo id)
    puzzle = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
    [result] = solver.solve([puzzle])
    print(result.verified, result.steps)
    print(solver.render(result.answer))

The same options as ``trm solve`` (``views``, ``steps``, ``max_steps``, ``halt``, or a
``Halting``; ``search`` and ``budget``, or a ``Search``), structured results (``SolveResult``);
``trm solve`` is a client of this API.
``trm.build`` and ``trm.train`` are what ``trm build`` and ``trm train`` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_builders import BUILDERS
from trm.act import Halting
from trm.config import TrainConfig
from trm.errors import TrmError
from trm.inference.arc import solve_arc_task
from trm.inference.eval_report import eval_report
from trm.inference.halting import halting_for
from trm.inference.search import Search, search_for
from trm.inference.solve import SolveResult, solve_grids
from trm.inference.trace import Trace, trace_grid
from trm.loading import load as load_model
from trm.model import TinyRecursiveModel
from trm.options import (
    ARC_DEFAULT_VIEWS,
    DEFAULT_HALT,
    DEFAULT_PRECISION,
    MAX_BATCH,
    MAX_COUNT,
    MAX_OPT_STEPS,
    MAX_VIEWS,
    check_int,
    check_precision,
)
from trm.puzzles import KINDS, PuzzleError
from trm.runtime import Runtime, inference_runtime

__all__ = ["Halting", "Search", "SolveResult", "Solver", "build", "load", "train"]


@dataclass
class Solver:
    """A loaded model and its puzzle kind; ``solve`` takes puzzle text, grids or ARC tasks.

    Stopping options, as ``trm solve``: ``steps`` N runs exactly N supervision steps; otherwise
    up to ``max_steps`` (default twice the trained maximum, for kinds with rules), stopping a
    puzzle early by ``halt``: ``head``, ``rules`` (its answer passes the rules) or ``both``. A
    ``Halting`` passed as ``halting`` replaces all three. ``search=True`` (``budget`` N network
    steps per puzzle) searches the puzzles no view solved (``trm.inference.search``); a
    ``Search`` passed as ``search`` sets every option of it.
    """

    model: TinyRecursiveModel
    config: TrainConfig
    runtime: Runtime | None = None  # device and precision (default: auto on the model's device)

    def __post_init__(self) -> None:
        if self.runtime is None:
            self.runtime = inference_runtime(self.model.token_embedding.device)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def precision(self) -> str:
        """What solving runs in: ``bf16`` (autocast) or ``fp32``."""
        return self.runtime.precision

    def halting(
        self, *, steps: int | None = None, max_steps: int | None = None, halt: str = DEFAULT_HALT
    ) -> Halting:
        """The ``Halting`` of these options for this model (``trm.inference.halting``)."""
        return halting_for(
            self.kind,
            self.model.cfg.max_supervision_steps,
            steps=steps,
            max_steps=max_steps,
            halt=halt,
        )

    def search_for(self, search: bool | Search = False, budget: int | None = None) -> Search | None:
        """The ``Search`` of these options for this model's kind (None: no search); a kind that
        cannot be searched (ARC: no rules; mazes) is refused with one line."""
        return search_for(self.kind, search, budget)

    def _halting(self, halting: Halting | None, steps, max_steps, halt) -> Halting:
        if halting is None:
            return self.halting(steps=steps, max_steps=max_steps, halt=halt)
        if not isinstance(halting, Halting):
            raise TrmError(f"halting must be a trm.Halting, got {type(halting).__name__}")
        if steps is not None or max_steps is not None or halt != DEFAULT_HALT:
            raise TrmError("give halting= or steps/max_steps/halt, not both")
        return halting

    def puzzles(self, puzzles: list | tuple) -> list:
        """``puzzles`` checked and parsed: text in the kind's format, grids, or ARC tasks."""
        if not isinstance(puzzles, (list, tuple)):
            got = type(puzzles).__name__
            raise TrmError(f"puzzles must be a list of puzzles, got a {got} (wrap one in a list)")
        module = KINDS[self.kind]
        out = []
        for i, p in enumerate(puzzles):
            where = f"puzzle {i + 1}"
            try:
                out.append(module.parse(p) if isinstance(p, str) else module.check_grid(p, where))
            except PuzzleError as e:
                msg = str(e)
                raise PuzzleError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        return out

    def solve(
        self,
        puzzles: list | tuple,
        *,
        views: int | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        halt: str = DEFAULT_HALT,
        halting: Halting | None = None,
        batch_size: int = 256,
        seed: int = 0,
        adapt_steps: int = 100,
        progress: bool = False,
        search: bool | Search = False,
        budget: int | None = None,
    ) -> list[SolveResult]:
        """Answers to ``puzzles`` (a list of text in the kind's format, grids, or ARC tasks), in
        order; one per ARC test input. ``views``: symmetric views per puzzle, the answers mapped
        back and checked (default 1; ARC votes over 8). ``search``, ``budget``: search the puzzles
        no view solved, within ``budget`` network steps each. ``progress``: a bar on a terminal."""
        items = self.puzzles(puzzles)
        halting = self._halting(halting, steps, max_steps, halt)
        plan = self.search_for(search, budget)
        default_views = ARC_DEFAULT_VIEWS if self.kind == "arc" else 1
        views = check_int("views", default_views if views is None else views, 1, MAX_VIEWS)
        check_int("batch_size", batch_size, 1, MAX_BATCH)
        check_int("seed", seed, 0, 2**63 - 1)
        check_int("adapt_steps", adapt_steps, 0, MAX_OPT_STEPS)
        if not items:
            return []
        if self.kind == "arc":  # ARC items are tasks: several test inputs each, voted
            return [
                r
                for task in items
                for r in solve_arc_task(
                    self.model,
                    task,
                    halting=halting,
                    runtime=self.runtime,
                    data_path=self.config.data_path,
                    views=views,
                    batch_size=batch_size,
                    seed=seed,
                    adapt_steps=adapt_steps,
                    progress=progress,
                )
            ]
        bar = tqdm(  # on stderr, only on a terminal
            total=len(items) * views,
            desc="solve",
            unit="view",
            disable=None if progress else True,
            leave=False,
        )
        with bar:
            return solve_grids(
                self.model,
                self.kind,
                items,
                halting=halting,
                runtime=self.runtime,
                views=views,
                batch_size=batch_size,
                seed=seed,
                progress=bar,
                search=plan,
            )

    def trace(
        self,
        puzzle,
        *,
        steps: int | None = None,
        max_steps: int | None = None,
        halt: str = DEFAULT_HALT,
        halting: Halting | None = None,
        progress: bool = False,
    ) -> Trace:
        """The answer after every supervision step of one Sudoku or Maze puzzle; it stops
        exactly as ``solve`` with one view would."""
        [grid] = self.puzzles([puzzle])
        halting = self._halting(halting, steps, max_steps, halt)
        return trace_grid(
            self.model, self.kind, grid, halting=halting, runtime=self.runtime, progress=progress
        )

    def evaluate(
        self,
        data_dir: str | os.PathLike,
        *,
        views: int = 1,
        limit: int = 0,
        steps: int | None = None,
        max_steps: int | None = None,
        halt: str = DEFAULT_HALT,
        halting: Halting | None = None,
        batch_size: int = 256,
        seed: int = 0,
        progress: bool = False,
        search: bool | Search = False,
        budget: int | None = None,
    ) -> dict:
        """The ``trm eval`` report on a built dataset's test split (with ``search``: also
        verified accuracy with the search, network steps per puzzle and who found the answers)."""
        halting = self._halting(halting, steps, max_steps, halt)
        plan = self.search_for(search, budget)
        report = eval_report(
            self.model,
            self.config,
            str(data_dir),
            halting=halting,
            runtime=self.runtime,
            views=check_int("views", views, 1, MAX_VIEWS),
            limit=check_int("limit", limit, 0, MAX_COUNT),
            batch_size=check_int("batch_size", batch_size, 1, MAX_BATCH),
            seed=seed,
            progress=progress,
            search=plan,
        )
        return {**report, "precision": self.precision}

    def render(self, grid) -> str:
        """A grid (a question or an answer) as the kind's text."""
        a = np.asarray(grid) if not isinstance(grid, str) else None
        if a is None or a.dtype.kind not in "iu" or a.ndim != 2:
            raise TrmError(f"render takes a 2-D integer grid, got {type(grid).__name__}")
        try:
            return KINDS[self.kind].render(a)
        except (IndexError, ValueError) as e:
            raise TrmError(f"render: not a {self.kind} grid ({e})") from None


def load(
    source: str | os.PathLike,
    *,
    kind: str | None = None,
    arch: str | os.PathLike | None = None,
    device: str = "auto",
    precision: str = DEFAULT_PRECISION,
) -> Solver:
    """A ``Solver`` from a shipped name (``sudoku``, ``maze-conv-cpu``), a run or inference
    directory, an official state dict with its ``arch`` YAML, or a Hugging Face model repo id
    (``owner/name``, downloaded once into the hub cache). ``precision``: ``auto`` (bf16 on CUDA
    and on CPUs with bf16 matrix units, else fp32), ``fp32`` or ``bf16``."""
    _check_path("source", source)
    if kind is not None and kind not in KINDS:
        raise TrmError(f"unknown puzzle kind {kind!r}; choose one of {', '.join(KINDS)}")
    check_precision(precision)
    model, cfg = load_model(source, kind=kind, arch=arch, device=device)
    if not cfg.kind:
        raise TrmError(f"{source}: unknown puzzle kind; pass kind=")
    return Solver(model, cfg, inference_runtime(model.token_embedding.device, precision))


def build(kind: str, out: str | os.PathLike, *args, **options) -> dict:
    """Build a dataset like ``trm build KIND``: ``data_builders.<kind>.build(out, ...)``."""
    if not isinstance(kind, str) or kind not in BUILDERS:
        raise TrmError(f"unknown puzzle kind {kind!r}; choose one of {', '.join(BUILDERS)}")
    _check_path("out", out)
    return BUILDERS[kind].build(out, *args, **options)


def _check_path(name: str, value: object) -> None:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise TrmError(f"{name} must be a non-empty path, got {value!r}")


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
    _check_path("config", config)
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise TrmError(f"overrides are 'key=value' strings, got {item!r}")
    if resume is not None:
        _check_path("resume", resume)
    # Deferred: solving does not need the training loop, so `trm.load` does not import it.
    from trm.training import train_from_config

    return train_from_config(
        str(config),
        list(overrides),
        str(resume) if resume else None,
        progress=progress,
        overwrite=overwrite,
    )
