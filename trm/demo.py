"""The demo page (``trm demo``): solve a Sudoku or a maze in a browser and watch it step by step.

The page is a client of the Python API, like ``trm solve``: puzzle text goes through
``Solver.solve`` (views, search), the step-by-step view is ``Solver.trace`` (one view, as
``trm solve --trace``) and every grid is ``Solver.render``. ``solve_text`` and ``examples`` take
and return plain values, so tests call them without a browser; ``build_app`` only lays them
out with Gradio, the optional ``demo`` extra (``pip install -e ".[demo]"``), imported there and
nowhere else. ``app.py`` at the repository root runs the same page as a Hugging Face Space.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from trm.api import Solver, SolveResult, load
from trm.errors import TrmError
from trm.inference.trace import STOP_REASONS, Trace, step_header, write_trace_png
from trm.options import DEFAULT_BUDGET, MAX_BUDGET
from trm.puzzles import KINDS

if TYPE_CHECKING:
    import gradio
    from PIL.Image import Image

DEMO_KINDS = {"sudoku": "Sudoku", "maze": "Maze"}  # one grid per puzzle: what a trace follows
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"  # in a clone (and a Space)
EXAMPLE_FILES = {
    "sudoku": ("sudoku.txt", "sudoku_ladder.txt", "sudoku_hard.txt"),
    "maze": ("maze.txt",),
}
MAX_PAGE_VIEWS = 32  # the views slider's end: enough to show voting, quick on a CPU

# Grids are text: they only line up in a fixed-width font, and a 30x30 maze needs 30 lines.
GRID_LINES = {"lines": 11, "max_lines": 32}
CSS = "#puzzle textarea, #answer textarea, #step-grid textarea { font-family: monospace; }"


class Models:
    """The ``Solver`` of each kind on the page, each loaded on first use, on the CPU.

    ``checkpoint`` (a run directory, a shipped name, a Hugging Face repo id) is loaded at once,
    so a bad one fails before the page is served; it replaces the shipped model of its kind.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str = "cpu") -> None:
        self.device = device
        self._solvers: dict[str, Solver] = {}
        if checkpoint is not None:
            solver = load(checkpoint, device=device)
            if solver.kind not in DEMO_KINDS:
                shown = " and ".join(DEMO_KINDS)
                raise TrmError(f"{checkpoint}: a {solver.kind} model; the demo shows {shown}")
            self._solvers[solver.kind] = solver

    def solver(self, kind: str) -> Solver:
        """The solver of ``kind`` (``sudoku`` or ``maze``)."""
        if kind not in DEMO_KINDS:
            raise TrmError(f"the demo shows {' and '.join(DEMO_KINDS)}, not {kind!r}")
        if kind not in self._solvers:
            self._solvers[kind] = load(kind, device=self.device)
        return self._solvers[kind]


@dataclass
class Step:
    """One supervision step of the trace as the page shows it."""

    header: str  # "step 3: halting p=0.93, 12 cells changed, verified: no"
    grid: str  # that step's answer, rendered


@dataclass
class Outcome:
    """What the page shows after Solve: everything empty but ``status`` after an error."""

    status: str  # one line: how the answer was found and checked, or the error
    answer: str = ""  # the answer grid, rendered
    trace_said: str = ""  # how many steps the traced view took and why it stopped
    steps: list[Step] = field(default_factory=list)
    picture: Image | None = None  # every step in one image (``write_trace_png``)


def examples(kind: str) -> dict[str, str]:
    """Example puzzles of ``kind`` from ``examples/``, label -> puzzle text (rendered grid).

    Empty when ``examples/`` is not there (an installed package): the page works without it.
    """
    module = KINDS[kind]
    found = {}
    for name in EXAMPLE_FILES[kind]:
        path = EXAMPLES_DIR / name
        if not path.is_file():
            continue
        for where, grid in module.read(path.read_text(), f"examples/{name}"):
            label = where if kind != "sudoku" else f"{where} ({int((grid > 0).sum())} givens)"
            found[label] = module.render(grid)
    return found


def found_by(result: SolveResult) -> str:
    """The result's ``method`` in words: one pass, several views, or the search."""
    if result.method == "search":
        return "search"
    return "one pass" if result.views == 1 else f"{result.views} views"


def solve_text(
    models: Models,
    kind: str,
    text: str,
    views: int = 1,
    search: bool = False,
    budget: int | None = None,
    picture: bool = True,
) -> Outcome:
    """Solve one puzzle given as text, as ``trm solve KIND --views V [--search --budget B]``
    does, and trace it (one view); bad input gives the CLI's one-line error as the status.

    ``budget`` counts only with ``search``. ``picture``: draw every step (a second or two).
    """
    try:
        solver = models.solver(kind)
        budget = budget if search else None
        [result] = solver.solve([text], views=views, search=search, budget=budget)
        trace = solver.trace(text)
    except TrmError as e:
        return Outcome(status=f"error: {e}")
    n = len(trace.steps)
    return Outcome(
        status=f"{found_by(result)}: {result.summary()}",
        answer=solver.render(result.answer),
        trace_said=f"{n} step{'s' if n != 1 else ''}; stopped: {STOP_REASONS[trace.stopped]}",
        steps=trace_steps(solver, trace),
        picture=trace_picture(trace) if picture else None,
    )


def trace_steps(solver: Solver, trace: Trace) -> list[Step]:
    """The question (step 0), then every step of ``trace``: its header line (as
    ``trm solve --trace``) and its answer."""
    final = trace.answer
    return [Step("step 0: the question", solver.render(trace.question))] + [
        Step(step_header(s, int((s.answer != final).sum())), solver.render(s.answer))
        for s in trace.steps
    ]


def trace_picture(trace: Trace) -> Image:
    """The trace drawn by ``write_trace_png``, in memory (no file is left behind)."""
    from PIL import Image as PILImage  # pillow comes with matplotlib

    with tempfile.TemporaryDirectory() as tmp:
        path = write_trace_png(trace, Path(tmp) / "trace.png")
        with PILImage.open(path) as image:
            return image.copy()


# --- the page ------------------------------------------------------------------------------


def build_app(models: Models | None = None) -> gradio.Blocks:
    """The Gradio page over ``models`` (default: the shipped ones); ``launch`` serves it."""
    import gradio as gr

    models = models or Models()
    with gr.Blocks(title="trm: Tiny Recursive Model", analytics_enabled=False) as app:
        gr.Markdown(
            "# Tiny Recursive Model\nPick or paste a puzzle and press **Solve**. Every answer "
            "is checked by the rules; below, watch one view's answer change supervision step "
            "by supervision step."
        )
        with gr.Row():
            with gr.Column():
                kind, example, puzzle = _puzzle_inputs(gr)
                views, search, budget = _solve_options(gr)
                solve = gr.Button("Solve", variant="primary", elem_id="solve")
            with gr.Column():
                status = gr.Textbox(label="Status", elem_id="status", interactive=False)
                answer = gr.Textbox(
                    label="Answer", elem_id="answer", interactive=False, **GRID_LINES
                )
        trace = _trace_outputs(gr)

        def on_kind(chosen: str):
            labels = list(examples(chosen))
            can_search = KINDS[chosen].CAN_SEARCH
            return (
                gr.Dropdown(choices=labels, value=labels[0] if labels else None),
                gr.Checkbox(value=False, interactive=can_search),
            )

        def on_solve(chosen: str, text: str, n_views: float, searching: bool, limit: float):
            out = solve_text(models, chosen, text, int(n_views), searching, int(limit or 0))
            n = len(out.steps) - 1  # step 0 is the question
            slider = gr.Slider(minimum=0, maximum=max(n, 1), value=max(n, 0), visible=n > 0)
            last = out.steps[-1] if out.steps else Step("", "")
            shown = (out.trace_said, slider, last.header, last.grid, out.picture, out.steps)
            return out.status, out.answer, *shown

        kind.change(on_kind, kind, [example, search])
        example.change(_example_text, [kind, example], puzzle)
        solve.click(on_solve, [kind, puzzle, views, search, budget], [status, answer, *trace])
        trace.step.change(_show_step, [trace.steps, trace.step], [trace.header, trace.grid])
    return app


def _puzzle_inputs(gr):
    """The kind, the example picker and the puzzle text box, showing the first example."""
    kind = gr.Radio([(label, k) for k, label in DEMO_KINDS.items()], value="sudoku", label="Kind")
    labels = list(examples("sudoku"))
    first = labels[0] if labels else None
    example = gr.Dropdown(labels, value=first, label="Example", elem_id="example")
    puzzle = gr.Textbox(
        _example_text("sudoku", first),
        label="Puzzle (Sudoku: 81 cells, '.' or 0 blank; maze: rows of '# SG')",
        elem_id="puzzle",
        **GRID_LINES,
    )
    return kind, example, puzzle


def _solve_options(gr):
    """Views, the search checkbox and its budget, as ``--views``, ``--search``, ``--budget``."""
    views = gr.Slider(1, MAX_PAGE_VIEWS, value=1, step=1, label="Symmetric views")
    search = gr.Checkbox(label="Search when no view's answer passes the rules")
    budget = gr.Number(
        DEFAULT_BUDGET,
        precision=0,
        minimum=1,
        maximum=MAX_BUDGET,
        label="Search budget (network steps per puzzle)",
    )
    return views, search, budget


class TraceView(NamedTuple):
    """The trace's part of the page, in the order ``on_solve`` fills it."""

    said: Any  # how many steps, why it stopped
    step: Any  # slider over the steps
    header: Any  # the chosen step's header line
    grid: Any  # the chosen step's answer
    picture: Any  # every step in one image
    steps: Any  # the steps themselves (page state)


def _trace_outputs(gr) -> TraceView:
    """The trace's components, laid out under a heading."""
    gr.Markdown("## Step by step (the first view, as `trm solve --trace`)")
    said = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=1):
            step = gr.Slider(0, 1, value=0, step=1, label="Supervision step", visible=False)
            header = gr.Markdown()
            grid = gr.Textbox(
                label="Answer at this step", elem_id="step-grid", interactive=False, **GRID_LINES
            )
        picture = gr.Image(label="Every step", type="pil", interactive=False, scale=2)
    return TraceView(said, step, header, grid, picture, gr.State([]))


def _example_text(kind: str, label: str | None) -> str:
    """The text of the example picked (empty when none is)."""
    return examples(kind).get(label or "", "")


def _show_step(steps: list[Step], number: float) -> tuple[str, str]:
    """The header and grid of step ``number`` of the shown trace (0: the question)."""
    if not steps:
        return "", ""
    chosen = steps[min(max(int(number), 0), len(steps) - 1)]
    return chosen.header, chosen.grid


def launch(
    app: gradio.Blocks, host: str | None = None, port: int | None = None, block: bool = True
) -> None:
    """Serve ``app`` on ``host:port`` (None: Gradio's ``GRADIO_SERVER_NAME`` and
    ``GRADIO_SERVER_PORT``, else 127.0.0.1:7860, as on a Space); ``block``: until Ctrl-C."""
    app.launch(
        server_name=host,
        server_port=port,
        css=CSS,
        quiet=True,
        prevent_thread_lock=not block,
        footer_links=[],
    )
