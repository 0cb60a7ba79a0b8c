"""Answers for users: Sudoku and Maze questions in, checked answers out.

Every question runs through the deep-supervision engine (``trm.act.stream``) with adaptive
halting or a fixed number of steps. Test-time augmentation: ``views`` symmetric copies of
every puzzle are solved in the same stream and each answer is mapped back. Answers are
checked by the rules; a verified answer wins, else the most common one (``method`` says which).
With a ``Search``, puzzles no view solved are searched over the network's own proposals
(``trm.inference.search``). ARC, which votes instead, is in ``trm.inference.arc``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from trm.act import Halting, stream
from trm.errors import TrmError
from trm.inference.search import (
    Commit,
    Found,
    Search,
    check_budget,
    search_for,
    search_grids,
)
from trm.model import TinyRecursiveModel
from trm.puzzles import KINDS, Symmetry
from trm.runtime import Runtime

EMBEDDINGS = {  # SolveResult.embedding of an ARC task -> what it means
    "trained": "its trained puzzle embedding",
    "adapted": "a puzzle embedding fitted now on its demonstration pairs (new task)",
    "none": "no puzzle embedding",
}


@dataclass
class SolveResult:
    """The answer to one puzzle (or one ARC test input) and how it was reached.

    ``verified``: the rules accept ``answer`` (None for ARC, which has no rules). ``method``:
    ``verified`` (some view's answer passed the rules), ``search`` (none did, the search found
    one), ``majority`` (no answer passed: the most common of the views) or ``vote`` (ARC).
    ``steps``: supervision steps of the view (or search node) that gave the answer;
    ``network_steps``: all views' and search nodes' steps summed (a puzzle's other views stop
    once one is verified: ``views_agreeing`` counts those that had its answer then). With a search:
    ``search_nodes`` the nodes it evaluated (0: the first pass solved the puzzle),
    ``search_depth`` the committed cells of the winning node and ``commits`` those cells.
    """

    answer: np.ndarray | None
    verified: bool | None
    steps: int
    views: int
    views_agreeing: int
    method: str
    attempts: list[np.ndarray] = field(default_factory=list)  # ARC: top two
    embedding: str = ""  # ARC: "trained" or "adapted"
    view_answers: list[np.ndarray] = field(default_factory=list, repr=False)
    view_verified: np.ndarray | None = field(default=None, repr=False)
    view_steps: np.ndarray | None = field(default=None, repr=False)
    solvable: bool | None = None  # False: an exact solver proved the puzzle has no solution
    network_steps: int = 0
    search_nodes: int | None = None  # None: no search was asked for
    search_depth: int | None = None  # None: the search found no answer (or did not run)
    commits: tuple[Commit, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        """One line: how the answer was found and checked, views agreeing, steps."""
        steps = f"{self.steps} step" + ("s" if self.steps != 1 else "")
        if self.attempts or self.method == "vote":  # ARC: voted attempts, no rules
            return f"{self.views_agreeing}/{self.views} views agree on attempt 1; {steps}"
        if self.method == "search":
            return (
                f"verified by search (depth {self.search_depth}, {self.search_nodes} nodes, "
                f"{self.network_steps} network steps)"
            )
        how = "verified" if self.verified else "NOT verified"
        if self.solvable is False:
            how = "NO SOLUTION: the puzzle has none (exact solver); the model's attempt"
        elif not self.verified and self.views > 1:
            how += " (majority answer)"
        line = f"{how}; {self.views_agreeing}/{self.views} views agree; {steps}"
        if self.search_nodes and not self.verified:
            line += f"; search found none in {self.search_nodes} nodes"
        if self.search_nodes is not None or self.views > 1:
            line += f", {self.network_steps} network step" + "s" * (self.network_steps != 1)
        return line

    def embedding_said(self) -> str:
        """ARC: which puzzle embedding the task used, in words."""
        return EMBEDDINGS.get(self.embedding, "no puzzle embedding")

    def to_json(self, render) -> dict:
        """A JSON-able dict; ``render`` turns a grid into text."""
        d = {
            "answer": None if self.answer is None or render is None else render(self.answer),
            "verified": self.verified,
            "steps": int(self.steps),
            "views": self.views,
            "views_agreeing": self.views_agreeing,
            "method": self.method,
        }
        if self.network_steps:  # ARC results do not count them
            d["network_steps"] = int(self.network_steps)
        if self.search_nodes is not None:
            d["search_nodes"] = self.search_nodes
            d["search_depth"] = self.search_depth
        if self.solvable is not None:
            d["solvable"] = self.solvable
        if self.attempts:
            d["answer"] = self.answer.tolist()
            d["attempts"] = [a.tolist() for a in self.attempts]
            d["embedding"] = self.embedding
        return d


def view_symmetries(kind: str, views: int, seed: int = 0) -> list[Symmetry]:
    """``views`` symmetries of the kind, the identity first (``PuzzleKind.view_symmetries``)."""
    if views < 1:
        raise TrmError(f"--views must be at least 1, got {views}")
    return KINDS[kind].view_symmetries(views, seed)


def solve_grids(
    model: TinyRecursiveModel,
    kind: str,
    grids: list[np.ndarray] | np.ndarray,
    *,
    halting: Halting,
    runtime: Runtime | None = None,
    views: int = 1,
    batch_size: int = 256,
    seed: int = 0,
    progress=None,
    search: Search | None = None,
    every_view: bool = False,
) -> list[SolveResult]:
    """Solve Sudoku or Maze questions (grids) with ``views`` symmetric views each, each view
    stopping by ``halting`` (``trm.inference.halting.halting_for``; the other views of a puzzle
    stop once one view is verified, unless ``every_view``), in the precision of
    ``runtime`` (default ``auto`` on the model's device). With ``search``, the puzzles that no
    view solved are searched (``trm.inference.search``); the others cost nothing more."""
    module = KINDS[kind]
    if search is not None:
        search_for(kind, search)  # refuses kinds that cannot be searched
        check_budget(search, views, halting.max_steps or model.cfg.max_supervision_steps)
    q = np.stack([np.asarray(g, np.uint8) for g in grids])  # (N, n, n)
    if q[0].size != model.cfg.seq_len:
        raise TrmError(
            f"{kind} is {q.shape[-2]}x{q.shape[-1]} but the model expects {model.cfg.seq_len} cells"
        )
    # The search may branch in more views than the first pass; views are nested, so
    # the first ``views`` of them are the first pass's.
    syms = view_symmetries(kind, max(views, search.views) if search else views, seed)
    k = views
    # Row order is view-major within each puzzle: row = puzzle * k + view.
    viewed = np.stack([s.forward(q) for s in syms[:k]], axis=1)  # (N, K, n, n)
    tokens = module.encode(viewed).reshape(len(q) * k, -1)
    run = stream(
        model,
        tokens,
        halting=halting,
        batch_size=batch_size,
        runtime=runtime,
        progress=progress,
        probs=search is not None,
        groups=None if every_view else np.repeat(np.arange(len(q)), k),
    )
    answers, ok = module.decode_answers(run.preds)
    answers = answers.reshape(len(q), k, *q.shape[1:])
    back = np.stack([s.inverse(answers[:, v]) for v, s in enumerate(syms[:k])], 1)  # (N, K, n, n)
    good = module.verify_batch(np.repeat(q, k, axis=0), back.reshape(len(q) * k, *q.shape[1:]))
    good = (good & ok).reshape(len(q), k)
    results = [
        choose(back[i], good[i], run.steps.reshape(-1, k)[i], run.q_halt.reshape(-1, k)[i])
        for i in range(len(q))
    ]
    if search is not None:
        probs = run.probs.reshape(len(q), k, *run.probs.shape[1:])  # (N, K, L, V)
        _search_unsolved(model, kind, q, syms, probs, results, search, runtime, batch_size)
    for question, r in zip(q, results):
        if not r.verified:
            keep_givens(kind, question, r)
    return results


def _search_unsolved(model, kind, q, syms, probs, results, search, runtime, batch_size) -> None:
    """Search the puzzles of ``q`` whose ``results`` no view verified, from the first pass's
    ``probs`` (N, K, L, V), and add what it found to their results."""
    todo = [i for i, r in enumerate(results) if not r.verified]
    spent = np.array([results[i].network_steps for i in todo], np.int64)
    found = search_grids(
        model,
        kind,
        q[todo],
        syms,
        probs[todo],
        spent,
        search,
        runtime=runtime,
        batch_size=batch_size,
    )
    for r in results:  # the root of a search is the first pass: depth 0
        r.search_nodes, r.search_depth = 0, (0 if r.verified else None)
    for i, f in zip(todo, found):
        take_search(results[i], f)


def take_search(result: SolveResult, found: Found) -> None:
    """Add a puzzle's search to its first-pass result; an answer it found replaces the one of
    the views (``method`` ``search``)."""
    result.network_steps += found.network_steps
    result.search_nodes = found.nodes
    if found.answer is None:
        return
    result.answer, result.verified, result.method = found.answer, True, "search"
    result.steps, result.commits = found.steps, found.commits
    result.search_depth = len(found.commits)
    result.views_agreeing = sum(np.array_equal(a, found.answer) for a in result.view_answers)


def with_givens(kind: str, question: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """``answer`` with the question's givens put back (Sudoku digits; maze walls, S and G)."""
    return np.where(KINDS[kind].given_mask(question), question, answer).astype(np.uint8)


def keep_givens(kind: str, question: np.ndarray, result: SolveResult) -> None:
    """An unverified answer keeps the question's givens, and says whether the puzzle has a
    solution at all (Sudoku: the exact solver; Maze: breadth-first search)."""
    result.answer = with_givens(kind, question, result.answer)
    result.solvable = KINDS[kind].has_solution(question)


def choose(answers: np.ndarray, good: np.ndarray, steps: np.ndarray, q: np.ndarray) -> SolveResult:
    """A verified answer when any view has one, else the most common (mean q_halt breaks ties)."""
    keys = [a.tobytes() for a in answers]
    counts = Counter(keys)
    if good.any():
        pick = int(np.flatnonzero(good)[0])
        method = "verified"
    else:
        mean_q = {
            key: float(np.mean([q[i] for i in range(len(keys)) if keys[i] == key]))
            for key in counts
        }
        best = max(counts, key=lambda key: (counts[key], mean_q[key]))
        pick = keys.index(best)
        method = "majority"
    return SolveResult(
        answers[pick],
        bool(good[pick]),
        int(steps[pick]),
        len(keys),
        counts[keys[pick]],
        method,
        view_answers=list(answers),
        view_verified=good,
        view_steps=steps,
        network_steps=int(np.sum(steps)),
    )
