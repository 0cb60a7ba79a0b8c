"""A look inside: the answer after every supervision step of one puzzle (``trm solve --trace``).

One view, no test-time augmentation: the puzzle runs through the same steps as ``trm solve``
(batch of one, the same ``Halting``: ``--halt``, ``--max-steps`` or exactly ``--steps``), and
after each step the decoded answer, the halting probability ``sigmoid(q_halt)``, whether
the rules accept the answer and how many cells changed are recorded. The terminal view
highlights the cells that changed since the previous step and marks the ones that still
differ from the final answer; ``write_trace_png`` draws one small panel per step.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trm.act import Halting, stream
from trm.errors import TrmError
from trm.figures import pyplot, save_figure
from trm.inference.solve import with_givens
from trm.model import TinyRecursiveModel
from trm.puzzles import maze, sudoku
from trm.runtime import Runtime

TRACE_KINDS = {"sudoku": sudoku, "maze": maze}

# ANSI styles for the terminal view.
_CHANGED = "\x1b[1;7m"  # bold + reverse: changed at this step
_WRONG = "\x1b[31m"  # red: differs from the final answer
_RESET = "\x1b[0m"
LEGEND_COLOR = "reverse: changed at this step; red: differs from the final answer"
LEGEND_PLAIN = "*: changed at this step; ?: differs from the final answer"


@dataclass
class TraceStep:
    """The state after one supervision step (``step`` counts from 1)."""

    step: int
    answer: np.ndarray  # decoded grid (n, n)
    halting: float  # sigmoid(q_halt): the model's probability that the answer is final
    verified: bool  # the rules accept the answer
    changed: int  # cells that differ from the previous step's answer (step 1: the question)


# Why a trace ended, as ``Trace.stopped`` says it.
STOP_REASONS = {
    "rules": "the answer passed the rules",
    "head": "the halting head said halt",
    "limit": "step limit reached",
    "fixed": "the fixed number of steps (--steps) ran",
}


@dataclass
class Trace:
    """Every step of one puzzle; ``stopped``: why it ended (a key of ``STOP_REASONS``)."""

    kind: str
    question: np.ndarray
    steps: list[TraceStep] = field(default_factory=list)
    stopped: str = "limit"

    @property
    def halted(self) -> bool:
        """The halting head stopped it (not the rules, nor the step limit)."""
        return self.stopped == "head"

    @property
    def answer(self) -> np.ndarray:
        """The final answer (what ``trm solve`` prints for this puzzle with one view)."""
        return self.steps[-1].answer

    def previous(self, k: int) -> np.ndarray:
        """The grid before step index ``k`` (0-based): the question for the first step."""
        return self.question if k == 0 else self.steps[k - 1].answer


# --- running -------------------------------------------------------------------------------


def trace_grid(
    model: TinyRecursiveModel,
    kind: str,
    grid: np.ndarray,
    *,
    halting: Halting,
    runtime: Runtime | None = None,
    progress: bool = False,
) -> Trace:
    """Solve one Sudoku or Maze question step by step, recording the answer after each step;
    it stops by ``halting`` (``trm.inference.halting.halting_for``), exactly as ``trm solve``."""
    if kind not in TRACE_KINDS:
        raise TrmError(f"--trace supports {' and '.join(TRACE_KINDS)}, not {kind}")
    module = TRACE_KINDS[kind]
    q = np.asarray(grid, np.uint8)
    if q.size != model.cfg.seq_len:
        raise TrmError(f"{kind} has {q.size} cells but the model expects {model.cfg.seq_len}")
    limit = halting.max_steps or model.cfg.max_supervision_steps
    trace = Trace(kind, q)
    bar = tqdm(total=limit, desc="trace", unit="step", disable=None if progress else True)

    def record(out, _rows) -> None:
        answers, ok = module.decode_answers(out.logits.argmax(-1).cpu().numpy())  # (1, n, n)
        verified = bool(module.verify_batch(q[None], answers)[0] and ok[0])
        answer = answers[0] if verified else with_givens(kind, q, answers[0])  # as solve
        changed = int((answer != trace.previous(len(trace.steps))).sum())
        halting_p = _sigmoid(float(out.q_halt[0]))
        trace.steps.append(TraceStep(len(trace.steps) + 1, answer, halting_p, verified, changed))
        bar.update(1)

    # The same engine and halting as `trm solve`, for a batch of one: the last step matches.
    with bar:
        tokens = module.encode(q[None])
        run = stream(model, tokens, halting=halting, batch_size=1, runtime=runtime, on_step=record)
    trace.stopped = _stop_reason(halting, trace.steps[-1], float(run.q_halt[0]))
    return trace


def _stop_reason(halting: Halting, last: TraceStep, q_halt: float) -> str:
    """Which rule ended the trace (a key of ``STOP_REASONS``)."""
    if halting.mode == "fixed":
        return "fixed"
    if halting.is_done is not None and last.verified:
        return "rules"
    return "head" if halting.adaptive and q_halt > 0 else "limit"


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


# --- text and JSON -------------------------------------------------------------------------


def use_color(stream=None) -> bool:
    """Colour when ``stream`` (default stdout) is a terminal and ``NO_COLOR`` is not set."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def step_header(s: TraceStep, wrong: int) -> str:
    """``step 3: halting p=0.93, 12 cells changed, verified: no`` (+ cells left to change)."""
    cells = "cell" if s.changed == 1 else "cells"
    line = f"step {s.step}: halting p={s.halting:.2f}, {s.changed} {cells} changed, "
    line += f"verified: {'yes' if s.verified else 'no'}"
    if wrong:
        line += f", {wrong} {'differs' if wrong == 1 else 'differ'} from the final answer"
    return line


def format_trace(trace: Trace, color: bool = False) -> str:
    """Every step: its header line and the grid with changed and not-yet-final cells marked."""
    chars = TRACE_KINDS[trace.kind].CHARSET
    final = trace.answer
    blocks = [LEGEND_COLOR if color else LEGEND_PLAIN]
    for k, s in enumerate(trace.steps):
        changed = s.answer != trace.previous(k)
        wrong = s.answer != final
        cells = _cells(s.answer, changed, wrong, chars, color, trace.kind == "sudoku")
        blocks.append(step_header(s, int(wrong.sum())) + "\n" + _layout(trace.kind, cells))
    n = len(trace.steps)
    blocks.append(f"stopped after {n} step{'s' if n != 1 else ''}: {STOP_REASONS[trace.stopped]}")
    return "\n\n".join(blocks)


def _cells(grid, changed, wrong, chars: str, color: bool, sudoku_: bool) -> list[list[str]]:
    """One string per cell: the (styled) character, after a marker when there is no colour.

    Sudoku cells are always two columns wide (a space or the marker, then the digit); maze
    cells are one column in colour and two without.
    """
    out = []
    for r in range(grid.shape[0]):
        row = []
        for c in range(grid.shape[1]):
            v = int(grid[r, c])
            ch = chars[v]
            if color:
                style = (_CHANGED if changed[r, c] else "") + (_WRONG if wrong[r, c] else "")
                cell = f"{style}{ch}{_RESET}" if style else ch
                row.append(" " + cell if sudoku_ else cell)
            else:
                mark = "?" if wrong[r, c] else "*" if changed[r, c] else " "
                row.append(mark + ch)
        out.append(row)
    return out


def _layout(kind: str, cells: list[list[str]]) -> str:
    if kind == "maze":
        return "\n".join("".join(row) for row in cells)
    # Sudoku: boxes of three cells; every cell is two columns wide (marker or space + digit).
    lines = []
    for r, row in enumerate(cells):
        if r in (3, 6):
            lines.append("-------+-------+------")
        lines.append(" |".join("".join(row[3 * b : 3 * b + 3]) for b in range(3)))
    return "\n".join(lines)


def trace_to_json(trace: Trace) -> dict:
    """A JSON-able dict: per step the answer (one line of text), halting, changed, verified."""
    line = TRACE_KINDS[trace.kind].to_line
    return {
        "kind": trace.kind,
        "question": line(trace.question),
        "halted": trace.halted,
        "stopped": trace.stopped,
        "answer": line(trace.answer),
        "verified": trace.steps[-1].verified,
        "steps": [
            {
                "step": s.step,
                "halting": round(s.halting, 6),
                "changed": s.changed,
                "verified": s.verified,
                "answer": line(s.answer),
            }
            for s in trace.steps
        ],
    }


# --- picture -------------------------------------------------------------------------------


def write_trace_png(trace: Trace, path: str | os.PathLike) -> Path:
    """One panel per step, titled with the step and halting p; the path written."""
    n = len(trace.steps)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for k, s in enumerate(trace.steps):
        ax = axes.flat[k]
        wrong = s.answer != trace.answer
        if trace.kind == "sudoku":
            _draw_sudoku(ax, trace.question, s.answer, wrong, s.answer != trace.previous(k))
        else:
            _draw_maze(ax, s.answer, wrong)
        ok = ", verified" if s.verified else ""
        ax.set_title(f"step {s.step}: p={s.halting:.2f}{ok}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def _draw_sudoku(ax, question, answer, wrong, changed) -> None:
    """Givens in black, filled digits in blue, digits that differ from the final in red;
    cells changed at this step on a yellow ground."""
    from matplotlib.patches import Rectangle

    ax.set_xlim(0, 9)
    ax.set_ylim(9, 0)
    ax.set_aspect("equal")
    for r, c in np.argwhere(changed):
        ax.add_patch(Rectangle((c, r), 1, 1, facecolor="#fff3b0", edgecolor="none"))
    for i in range(10):
        width = 1.6 if i % 3 == 0 else 0.4
        ax.plot([i, i], [0, 9], color="black", linewidth=width)
        ax.plot([0, 9], [i, i], color="black", linewidth=width)
    for r in range(9):
        for c in range(9):
            v = int(answer[r, c])
            if v == 0:
                continue
            colour = "black" if question[r, c] else "red" if wrong[r, c] else "tab:blue"
            ax.text(c + 0.5, r + 0.55, str(v), ha="center", va="center", fontsize=8, color=colour)


_MAZE_RGB = np.array(
    [(40, 40, 40), (255, 255, 255), (46, 160, 67), (214, 39, 40), (31, 119, 180)], np.uint8
)  # wall, open, S, G, path


def _draw_maze(ax, answer: np.ndarray, wrong: np.ndarray) -> None:
    """Walls dark, open white, the path blue, S and G lettered; cells not final tinted red."""
    image = _MAZE_RGB[answer].astype(np.float32)
    image[wrong] = 0.5 * image[wrong] + 0.5 * np.array([255, 80, 80], np.float32)
    ax.imshow(image.astype(np.uint8), interpolation="nearest")
    for ch, value in (("S", maze.START), ("G", maze.GOAL)):
        for r, c in np.argwhere(answer == value):
            ax.text(c, r, ch, ha="center", va="center", fontsize=6, color="white")
