"""ARC voting across augmented views (SPEC §8.3): count first, mean halting score breaks ties.

Every prediction, mapped back to the task's colours and orientation, is one vote for its grid
in the slot (task, test input). Candidates are ranked by (vote count, mean sigmoid(q_halt));
the top two are the attempts, and pass@k asks whether the true output is among the first k.
Make a new ``Votes`` for every evaluation: votes never carry over (unlike official bug B3).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from trm.puzzles import arc

PASS_KS = (1, 2, 5, 10, 100, 1000)


@dataclass
class Candidate:
    """One distinct predicted grid of a slot with its votes and mean halting probability."""

    grid: np.ndarray
    count: int
    mean_q: float


class Votes:
    """Votes per (task, test-input hash); ``rank`` gives candidates best first."""

    def __init__(self) -> None:
        self._grids: dict[str, np.ndarray] = {}
        self._votes: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)

    def add(self, task: str, input_hash: str, prediction: np.ndarray, q_halt_logit: float) -> None:
        """One vote; ``prediction`` is already mapped back (un-augmented)."""
        h = arc.grid_hash(prediction)
        self._grids.setdefault(h, np.asarray(prediction))
        q = 1.0 / (1.0 + math.exp(-float(q_halt_logit))) if q_halt_logit > -700 else 0.0
        self._votes[(task, input_hash)].append((h, q))

    def num_votes(self, task: str, input_hash: str) -> int:
        return len(self._votes.get((task, input_hash), []))

    def rank(self, task: str, input_hash: str) -> list[Candidate]:
        """Distinct predictions of the slot sorted by (count, mean q), best first."""
        stats: dict[str, list[float]] = defaultdict(list)
        for h, q in self._votes.get((task, input_hash), []):
            stats[h].append(q)
        order = sorted(stats, key=lambda h: (len(stats[h]), float(np.mean(stats[h]))), reverse=True)
        return [Candidate(self._grids[h], len(stats[h]), float(np.mean(stats[h]))) for h in order]

    def attempts(self, task: str, input_hash: str, n: int = 2) -> list[np.ndarray]:
        """The top ``n`` grids (the best repeated when fewer exist; empty when no votes)."""
        ranked = [c.grid for c in self.rank(task, input_hash)[:n]]
        return ranked + [ranked[0]] * (n - len(ranked)) if ranked else []


def pass_at_k(
    votes: Votes, tasks: dict[str, arc.Task], ks: tuple[int, ...] = PASS_KS
) -> dict[str, float]:
    """Mean over tasks of the fraction of test pairs whose true output is in the top k.

    ``tasks`` hold the true test outputs; a pair with no vote counts as unsolved.
    """
    scores = {k: [] for k in ks}
    for name, task in tasks.items():
        solved = {k: 0 for k in ks}
        for test_input, test_output in task.test:
            ranked = votes.rank(name, arc.grid_hash(test_input))
            truth = arc.grid_hash(test_output)
            hashes = [arc.grid_hash(c.grid) for c in ranked]
            for k in ks:
                solved[k] += truth in hashes[:k]
        for k in ks:
            scores[k].append(solved[k] / max(len(task.test), 1))
    return {f"pass@{k}": float(np.mean(scores[k])) if scores[k] else 0.0 for k in ks}
