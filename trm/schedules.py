"""What changes over a training run, as functions of its progress: depth and data curriculum.

Progress is ``step / steps_total`` in [0, 1]. Both are pure functions of it, so a resumed run
follows the same schedule and the FLOPs spent up to a step can be computed from the step alone.
The learning-rate schedule is ``trm.optim.learning_rate``.
"""

from __future__ import annotations

import math

from trm.errors import TrmError


def check_depth_schedule(schedule: list[list[float]]) -> None:
    """Raise a one-line error unless entries are [until_fraction, T, n] with rising fractions."""
    last = 0.0
    for k, entry in enumerate(schedule):
        if len(entry) != 3:
            raise TrmError(f"depth_schedule[{k}] must be [until_fraction, T, n], got {entry}")
        until, t, n = entry
        if not last < until <= 1 or t < 1 or n < 1 or t != int(t) or n != int(n):
            raise TrmError(
                f"depth_schedule[{k}] = {entry}: fractions must rise within (0, 1] and "
                "T, n be positive integers"
            )
        last = until


def depth_for_step(
    schedule: list[list[float]], step: int, steps_total: int, final: tuple[int, int]
) -> tuple[int, int]:
    """(T, n) of optimiser step ``step`` (from 1): its piece of ``depth_segments``."""
    for first, last, depth in depth_segments(schedule, steps_total, final):
        if first <= step <= last:
            return depth
    return final


def depth_segments(
    schedule: list[list[float]], steps_total: int, final: tuple[int, int]
) -> list[tuple[int, int, tuple[int, int]]]:
    """The run cut into (first_step, last_step, depth) pieces (steps count from 1)."""
    pieces, first = [], 1
    for until, t, n in schedule:
        last = min(steps_total, math.ceil(until * steps_total - 1e-9))
        if last >= first:
            pieces.append((first, last, (int(t), int(n))))
            first = last + 1
    if first <= steps_total:
        pieces.append((first, steps_total, final))
    return pieces


def pool_fraction(progress: float, start: float, until: float) -> float:
    """The easiest (or hardest) fraction of the train puzzles a curriculum samples from."""
    if until <= 0:
        return 1.0
    return min(1.0, start + (1.0 - start) * progress / until)
