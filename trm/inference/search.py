"""Search guided by the network, checked by the rules (``trm solve --search``).

It runs only on puzzles whose first pass (every view) found no answer that passes the rules.
A *node* is the question with some blank cells *committed*: written into the input as if they
were givens. The network solves every node (``trm.act.stream``: it stops when its answer passes
the rules, else after ``node_steps``). A node whose answer, with the question's givens put back,
solves the original question ends the search.

Otherwise the node branches as its kind says (``branches`` in ``trm.puzzles``). Sudoku: on one
open cell picked by the network's confidence there (``rule``), into one child per digit the
network ranks highest in that cell (``branch`` of them); a child whose committed digit repeats
one of the givens or committed cells in a row, column or box is dropped (backing off). Maze: on
the ``branch`` open cells whose place on the path the network is least sure of, one child per
cell with that cell walled off ("off the path"); a child whose walls lengthen the shortest path
is dropped. Children wait in one best-first queue per puzzle, ordered by the summed
-log p of their committed digits; each round takes up to ``width`` nodes of every puzzle and
solves them all in one stream. The roots are the question in ``views`` symmetric views: those of
the first pass, already solved, and further ones, solved first as nodes of depth 0 (a different
view often succeeds where one failed); every node lives in the view of its root.

The rules only check a full answer and conflicts among givens and committed cells: every digit
(every path cell) of an answer comes from the network. ``budget`` bounds the network
supervision steps of a puzzle, first pass included; a node is only started when its whole step
limit still fits.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np

from trm.act import Halting, stream
from trm.errors import TrmError
from trm.inference.halting import rules_check
from trm.model import TinyRecursiveModel
from trm.options import (
    DEFAULT_BRANCH,
    DEFAULT_BUDGET,
    DEFAULT_NODE_STEPS,
    DEFAULT_SEARCH_RULE,
    DEFAULT_SEARCH_VIEWS,
    DEFAULT_WIDTH,
    MAX_BUDGET,
    MAX_STEPS,
    MAX_VIEWS,
    MAX_WIDTH,
    SEARCH_RULES,
    check_int,
)
from trm.puzzles import KINDS, Symmetry
from trm.runtime import Runtime


@dataclass(frozen=True)
class Search:
    """How to search a puzzle the first pass did not solve (see the module docstring).

    ``budget``: network supervision steps per puzzle, all views and nodes summed. ``views``:
    the symmetric views the search branches in, the first pass's among them (each further view's
    question is the first node evaluated in that view). ``rule`` (Sudoku):
    ``least`` branches on the open cell whose top digit is least probable, ``two-way`` on the
    one whose second digit is most probable (the network is torn between two). A kind's own
    defaults (``SEARCH_DEFAULTS``: a maze has 8 views and needs longer nodes) come with
    ``search_for``.
    """

    budget: int = DEFAULT_BUDGET
    views: int = DEFAULT_SEARCH_VIEWS
    node_steps: int = DEFAULT_NODE_STEPS
    width: int = DEFAULT_WIDTH
    branch: int = DEFAULT_BRANCH
    rule: str = DEFAULT_SEARCH_RULE

    def __post_init__(self) -> None:
        check_int("budget", self.budget, 1, MAX_BUDGET)
        check_int("views", self.views, 1, MAX_VIEWS)
        check_int("node_steps", self.node_steps, 1, MAX_STEPS)
        check_int("width", self.width, 1, MAX_WIDTH)
        check_int("branch", self.branch, 1, 9)
        if self.rule not in SEARCH_RULES:
            raise TrmError(f"rule must be one of {', '.join(SEARCH_RULES)}, got {self.rule!r}")


def search_for(kind: str, search: bool | Search | None, budget: int | None = None) -> Search | None:
    """The one ``Search`` of a user's options (None: no search): ``search`` True with an optional
    ``budget``, or a ``Search``. A kind without rules or without cells to commit is refused."""
    if budget is not None and not search:
        raise TrmError("--budget bounds the search: add --search")
    if not search:
        return None
    module = KINDS[kind]
    if not module.HAS_RULES:
        raise TrmError(f"--search needs rules that check an answer, and {kind} has none")
    if not module.CAN_SEARCH:
        raise TrmError(
            f"--search is not available for {kind}: its answers cannot be committed cell by "
            "cell into the question (use --views)"
        )
    if isinstance(search, Search):
        if budget is not None:
            raise TrmError("give the budget inside Search(budget=...), not both")
        return search
    if search is not True:
        raise TrmError(f"search must be True or a Search (trm.api.Search), got {search!r}")
    given = {} if budget is None else {"budget": check_int("budget", budget, 1, MAX_BUDGET)}
    return Search(**{**module.SEARCH_DEFAULTS, **given})


def check_budget(search: Search, views: int, max_steps: int) -> None:
    """Refuse a budget that the first pass alone may overrun (``views`` x ``max_steps``)."""
    first = views * max_steps
    if search.budget < first:
        raise TrmError(
            f"--budget {search.budget} is less than the first pass may take ({views} view(s) x "
            f"{max_steps} steps): give at least {first}"
        )


@dataclass(frozen=True)
class Commit:
    """One committed cell: its flat index, the value written there (Sudoku: a digit; maze: a
    wall), the network's probability of that choice at the parent node, and its rank among the
    parent's children (0: the network's first choice)."""

    cell: int
    value: int
    probability: float
    rank: int


@dataclass
class Found:
    """One puzzle's search: the answer (None: none found), the steps of the node that gave it,
    the network steps and nodes the search spent, and the winning node's committed cells."""

    answer: np.ndarray | None
    steps: int
    network_steps: int
    nodes: int
    commits: tuple[Commit, ...] = ()


@dataclass(order=True)
class _Node:
    cost: float  # summed -log p of the committed digits: the best-first order
    serial: int  # ties: first made, first taken
    view: int = field(compare=False)  # the symmetric view the node lives in (0: the identity)
    grid: np.ndarray = field(compare=False)  # the viewed question with the committed cells
    commits: tuple[Commit, ...] = field(compare=False)  # in the question's frame


class _Tree:
    """The search of one puzzle, one subtree per view: its best-first queue (shared by the
    views), the spent steps, what it found."""

    def __init__(
        self, kind: str, question: np.ndarray, syms: list[Symmetry], spent: int, search: Search
    ):
        self.module, self.question, self.syms, self.search = KINDS[kind], question, syms, search
        self.roots = [sym.forward(np.asarray(question, np.uint8)) for sym in syms]  # per view
        self.queue: list[_Node] = []
        self.seen: set[tuple[int, bytes]] = set()  # (view, grid) queued: commits in two orders
        self.serial = itertools.count()
        self.first_pass, self.spent, self.nodes = spent, spent, 0
        self.found: Found | None = None

    def take(self) -> list[_Node]:
        """Up to ``width`` nodes, cheapest first, whose step limits fit the budget left."""
        s = self.search
        room = (s.budget - self.spent) // s.node_steps
        k = 0 if self.found else max(0, min(s.width, room, len(self.queue)))
        return [heapq.heappop(self.queue) for _ in range(k)]

    def record(self, node: _Node, answer: np.ndarray, steps: int, probs: np.ndarray) -> None:
        """A node's result: the answer if it solves the question, else the node's children."""
        self.spent += steps
        self.nodes += 1
        if self.found:
            return
        sym = self.syms[node.view]
        full = self.module.answer_of(self.question, sym.inverse(answer))
        if self.module.verify(self.question, full):
            self.found = Found(full.astype(np.uint8), steps, 0, 0, node.commits)
        else:
            self.branch(node, probs)

    def branch(self, node: _Node, token_probs: np.ndarray) -> None:
        """Queue the children of ``node`` that its kind proposes (``branches``) and allows."""
        s, sym, root = self.search, self.syms[node.view], self.roots[node.view]
        for rank, (cell, value, p) in enumerate(
            self.module.branches(node.grid, token_probs, s.rule, s.branch)
        ):
            child = node.grid.copy()
            child.flat[cell] = value
            if self.module.dead_end(child, root):
                continue
            key = (node.view, child.tobytes())
            if key in self.seen:
                continue
            self.seen.add(key)
            commit = _unview(sym, Commit(cell, int(value), p, rank), child.shape)
            serial = next(self.serial)
            cost = node.cost - float(np.log(max(p, 1e-30)))
            heapq.heappush(
                self.queue, _Node(cost, serial, node.view, child, (*node.commits, commit))
            )

    def result(self) -> Found:
        """What the search found, with the steps and nodes it spent."""
        f = self.found or Found(None, 0, 0, 0)
        return Found(f.answer, f.steps, self.spent - self.first_pass, self.nodes, f.commits)


def _unview(sym: Symmetry, commit: Commit, shape: tuple[int, ...]) -> Commit:
    """A commit made in a view, as the cell and value of the question itself (a view may move
    cells and, for Sudoku, relabel digits: the commit is marked on a background that differs)."""
    background = np.full(shape, 1 if commit.value == 0 else 0, np.uint8)
    grid = background.copy()
    grid.flat[commit.cell] = commit.value
    back = sym.inverse(grid)
    cell = int(np.flatnonzero(back != sym.inverse(background))[0])
    return Commit(cell, int(back.flat[cell]), commit.probability, commit.rank)


def search_grids(
    model: TinyRecursiveModel,
    kind: str,
    questions: np.ndarray,
    syms: list[Symmetry],
    root_probs: np.ndarray,
    spent: np.ndarray,
    search: Search,
    *,
    runtime: Runtime | None = None,
    batch_size: int = 256,
) -> list[Found]:
    """Search every puzzle of ``questions`` (N, n, n) in the views ``syms``: the first K were
    the first pass, ``root_probs`` (N, K, L, V) the token probabilities of their last steps,
    ``spent`` (N,) the steps it used; every further view's root is a node to evaluate first."""
    module = KINDS[kind]
    trees = [_Tree(kind, q, syms, int(s), search) for q, s in zip(questions, spent)]
    for tree, probs in zip(trees, root_probs):
        for v, grid in enumerate(tree.roots):
            root = _Node(0.0, v - len(syms), v, grid, ())
            if v < len(probs):
                tree.branch(root, probs[v])
            else:
                heapq.heappush(tree.queue, root)
    halting = Halting(max_steps=search.node_steps, adaptive=False, is_done=rules_check(kind))
    while True:
        taken = [(tree, node) for tree in trees for node in tree.take()]
        if not taken:
            break
        tokens = module.encode(np.stack([node.grid for _, node in taken]))
        run = stream(
            model, tokens, halting=halting, batch_size=batch_size, runtime=runtime, probs=True
        )
        answers, _ = module.decode_answers(run.preds)
        for j, (tree, node) in enumerate(taken):
            tree.record(node, answers[j], int(run.steps[j]), run.probs[j])
    return [tree.result() for tree in trees]
