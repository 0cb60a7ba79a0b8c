"""Sudoku solver: solution counting, solving, difficulty rating and random complete grids.

The solver keeps one 9-bit candidate mask per cell (bit d = digit d + 1) and propagates naked
and hidden singles and locked candidates (pointing/claiming) before each guess, then branches
depth-first on the first cell with the fewest candidates. ``rate`` counts its guesses, an
approximation of the tdoku guess count that Sudoku-Extreme stores in its ``rating`` column.

The kernels are plain Python written in the subset that numba compiles. With numba installed
(``pip install trm[fast]``) they are compiled on first use (cached on disk), about 50-100x
faster; without it, or with the environment variable ``TRM_NO_NUMBA=1``, the same code runs on
Python lists. Both backends give the same results: same counts, ratings and random grids.
"""

from __future__ import annotations

import os

import numpy as np

_ALL = 0x1FF  # candidate mask with all nine digits
_QUEUE = 256  # cells queued in one propagation: at most 81 givens + 81 new singles

try:  # the optional accelerator
    if os.environ.get("TRM_NO_NUMBA"):
        raise ImportError("disabled by TRM_NO_NUMBA")
    import numba
except ImportError:
    numba = None

BACKEND = "numba" if numba is not None else "python"


def jit(fn):
    """Compile ``fn`` with numba when available; otherwise return it unchanged."""
    return numba.njit(cache=True)(fn) if numba is not None else fn


def _units() -> list[list[int]]:
    rows = [[9 * r + c for c in range(9)] for r in range(9)]
    cols = [[9 * r + c for r in range(9)] for c in range(9)]
    boxes = [
        [9 * (3 * (b // 3) + i) + 3 * (b % 3) + j for i in range(3) for j in range(3)]
        for b in range(9)
    ]
    return rows + cols + boxes


def _tables() -> tuple:
    """Peers (81, 20), units (27, 9), triads (54, 3) with the rest of their line (54, 6) and of
    their box (54, 6), popcounts (512,), as lists (Python) or int64 arrays (numba)."""
    units = _units()
    peers = [sorted({p for u in units if i in u for p in u} - {i}) for i in range(81)]
    triads, line_rest, box_rest = [], [], []
    for unit in units[:18]:  # rows and columns, each cut into three (line, box) triads
        for k in range(3):
            cells = unit[3 * k : 3 * k + 3]
            box = next(b for b in units[18:] if cells[0] in b)
            triads.append(cells)
            line_rest.append([i for i in unit if i not in cells])
            box_rest.append([i for i in box if i not in cells])
    pop = [bin(m).count("1") for m in range(512)]
    tables = (peers, units, triads, line_rest, box_rest, pop)
    if numba is not None:
        return tuple(np.array(t, dtype=np.int64) for t in tables)
    return tables


TABLES = _tables()
# the digit order of the deterministic solver (rate, solve, count_solutions): 1..9 in every cell
if numba is not None:
    ASCENDING = np.tile(np.arange(9, dtype=np.int64), (81, 1))
else:
    ASCENDING = [list(range(9)) for _ in range(81)]


# --- buffers: lists for Python, arrays for numba ------------------------------------------


def zeros1(n):
    """A length-``n`` buffer of zeros."""
    return [0] * n


def zeros2(n, m):
    """An ``(n, m)`` buffer of zeros, indexed ``buf[i][j]``."""
    return [[0] * m for _ in range(n)]


if numba is not None:

    @numba.njit(cache=True)
    def zeros1(n):  # noqa: F811 (the compiled twin of the Python version above)
        return np.zeros(n, np.int64)

    @numba.njit(cache=True)
    def zeros2(n, m):  # noqa: F811
        return np.zeros((n, m), np.int64)


# --- kernels ------------------------------------------------------------------------------


@jit
def propagate(c, queue, n, T):
    """Naked and hidden singles, then locked candidates, until nothing changes.

    ``c``: 81 candidate masks, changed in place. ``queue[:n]``: cells that became single and
    whose digit is not yet removed from their peers (taken last-in first-out). Returns False on
    a contradiction.
    """
    peers, units, triads, line_rest, box_rest = T[0], T[1], T[2], T[3], T[4]
    while True:
        while n > 0:
            n -= 1
            i = queue[n]
            m = c[i]
            for p in peers[i]:
                pm = c[p]
                if pm & m:
                    pm ^= m
                    if pm == 0:
                        return False
                    c[p] = pm
                    if pm & (pm - 1) == 0:
                        queue[n] = p
                        n += 1
        for u in range(27):
            once = 0
            twice = 0
            for i in units[u]:
                m = c[i]
                twice |= once & m
                once |= m
            if once != _ALL:
                return False  # some digit has no place left in this unit
            hidden = once & ~twice
            if hidden:
                for i in units[u]:
                    m = c[i] & hidden
                    if m and c[i] != m:
                        if m & (m - 1):
                            return False  # two digits can only go in the same cell
                        c[i] = m
                        queue[n] = i
                        n += 1
        if n > 0:
            continue
        # pointing and claiming: a digit of a line (or box) confined to one triad is removed
        # from the rest of the box (or line)
        changed = False
        for t in range(54):
            inside = c[triads[t][0]] | c[triads[t][1]] | c[triads[t][2]]
            line_out = 0
            box_out = 0
            for i in line_rest[t]:
                line_out |= c[i]
            for i in box_rest[t]:
                box_out |= c[i]
            for side in range(2):
                if side == 0:
                    digits = inside & ~line_out & box_out
                    rest = box_rest[t]
                else:
                    digits = inside & ~box_out & line_out
                    rest = line_rest[t]
                if digits:
                    for i in rest:
                        m = c[i]
                        if m & digits:
                            m &= ~digits
                            if m == 0:
                                return False
                            c[i] = m
                            changed = True
                            if m & (m - 1) == 0:
                                queue[n] = i
                                n += 1
        if not changed:
            return True


@jit
def start(digits, c, queue, T):
    """Fill ``c`` with the candidates of the 81 ``digits`` (0 = blank) after propagation.

    Returns False if the givens contradict each other.
    """
    peers = T[0]
    n = 0
    for i in range(81):
        v = digits[i]
        if v:
            c[i] = 1 << (v - 1)
            for k in range(20):  # two equal givens in one unit would both survive propagation
                if digits[peers[i][k]] == v:
                    return False
            queue[n] = i
            n += 1
        else:
            c[i] = _ALL
    # the original solver popped the givens last-first; keep that order
    return propagate(c, queue, n, T)


@jit
def search(states, limit, order, solution, queue, T):
    """Depth-first search from the propagated masks in ``states[0]``.

    Branches on the first cell with the fewest candidates, trying its digits in the order
    ``order[cell]`` (0-based digits). Stops after ``limit`` solutions. Returns ``(found,
    rating, guesses)``: a guess is any candidate tried except the last of its cell; ``rating``
    counts them up to the first solution (all of them if there is none), ``guesses`` up to the
    end of the search. The first solution's masks go to ``solution``. ``states`` needs 82 rows
    of 81.
    """
    pop = T[5]
    depth = 0
    found = 0
    guesses = 0
    rating = -1
    cells = zeros1(82)
    rest = zeros1(82)
    pos = zeros1(82)
    descend = True
    while True:
        if descend:
            s = states[depth]
            best = -1
            fewest = 10
            for i in range(81):
                k = pop[s[i]]
                if 1 < k < fewest:
                    best = i
                    fewest = k
                    if k == 2:
                        break
            if best < 0:
                found += 1
                if found == 1:
                    rating = guesses
                    for i in range(81):
                        solution[i] = s[i]
                if found >= limit:
                    return found, rating, guesses
                depth -= 1
                if depth < 0:
                    return found, rating, guesses
            else:
                cells[depth] = best
                rest[depth] = s[best]
                pos[depth] = 0
        best = cells[depth]
        descend = False
        while pos[depth] < 9:
            bit = 1 << order[best][pos[depth]]
            pos[depth] += 1
            if rest[depth] & bit:
                rest[depth] ^= bit
                # tdoku-style count: the last remaining candidate is forced, not guessed
                if rest[depth]:
                    guesses += 1
                child = states[depth + 1]
                child[:] = states[depth]
                child[best] = bit
                queue[0] = best
                if propagate(child, queue, 1, T):
                    depth += 1
                    descend = True
                    break
        if not descend:
            depth -= 1
            if depth < 0:
                return found, (rating if found else guesses), guesses


@jit
def analyse(digits, limit, order, solution, T):
    """``(solutions counted up to limit, rating, guesses of the whole search)`` of the 81
    ``digits`` (see ``search``); the first solution's masks go to ``solution``. ``(0, 0, 0)``
    if the givens contradict."""
    states = zeros2(82, 81)
    queue = zeros1(_QUEUE)
    if not start(digits, states[0], queue, T):
        return 0, 0, 0
    return search(states, limit, order, solution, queue, T)


# --- public API ---------------------------------------------------------------------------


def _digits(grid: np.ndarray):
    flat = np.asarray(grid).reshape(81).astype(np.int64)
    return flat if numba is not None else flat.tolist()


def _grid_of(masks) -> np.ndarray:
    """Single-bit masks -> (9, 9) uint8 digits."""
    m = np.asarray(masks, dtype=np.int64)
    return (np.log2(np.maximum(m, 1)).astype(np.uint8) + 1).reshape(9, 9)


def count_solutions(grid: np.ndarray, limit: int = 2) -> int:
    """The number of solutions of ``grid``, counted up to ``limit`` (0 if givens contradict)."""
    return int(analyse(_digits(grid), limit, ASCENDING, zeros1(81), TABLES)[0])


def solve(grid: np.ndarray) -> np.ndarray | None:
    """The first solution found (a (9, 9) uint8 grid), or None if there is none."""
    solution = zeros1(81)
    found = analyse(_digits(grid), 1, ASCENDING, solution, TABLES)[0]
    return _grid_of(solution) if found else None


def rate(grid: np.ndarray) -> int:
    """Difficulty: guesses made by the solver until the first solution (0 = no guess needed).

    The solver propagates naked and hidden singles and locked candidates (pointing/claiming),
    then branches on the first cell with the fewest candidates, digits in increasing order;
    every candidate tried except the last of a cell counts as one guess (the last is forced once
    the others failed). It imitates tdoku's guess count (Sudoku-Extreme's ``rating``) but tdoku
    branches on band configurations, so ours is about 2x higher on hard lists (quoted rows:
    164, 2, 52 against tdoku's 18, 1, 60). Like tdoku's it depends on the puzzle's orientation.
    Without a solution it is the number of guesses needed to prove that.
    """
    return int(analyse(_digits(grid), 1, ASCENDING, zeros1(81), TABLES)[1])


def digit_orders(rng: np.random.Generator):
    """(81, 9) random digit orders, one per cell, in the backend's buffer type."""
    order = np.argsort(rng.random((81, 9)), axis=1).astype(np.int64)
    return order if numba is not None else order.tolist()


def random_solution(rng: np.random.Generator) -> np.ndarray:
    """A random complete grid: the solver on an empty grid, each cell's digits tried in a random
    order (one uniform draw of (81, 9) from ``rng``)."""
    solution = zeros1(81)
    analyse(zeros1(81), 1, digit_orders(rng), solution, TABLES)
    return _grid_of(solution)
