"""When a puzzle stops, built once from the user's options (``--steps``, ``--max-steps``,
``--halt`` or the same keywords of the Python API) into one ``trm.act.Halting``.

Everything below the command line and ``trm.api`` takes that ``Halting``; nothing else reads
the loose options. The mode names, the default and the bounds live in ``trm.options``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trm.act import Halting
from trm.errors import TrmError
from trm.options import DEFAULT_HALT, DEFAULT_STEP_FACTOR, MAX_STEPS, check_halt, check_int
from trm.puzzles import KINDS, verified_tokens


def rules_check(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """The ``Halting.is_done`` test "the answer passes the rules" for ``kind`` (None for ARC,
    which has no rules, or an unknown kind): question and answer tokens (b, L) -> (b,) bool,
    checked on the host."""
    module = KINDS.get(kind)
    if module is None or not module.HAS_RULES:  # ARC, or a dataset of no known kind
        return None

    def is_done(inputs: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        ok = verified_tokens(kind, inputs.cpu().numpy(), answers.cpu().numpy())
        return torch.from_numpy(ok).to(answers.device)

    return is_done


def halting_for(
    kind: str,
    trained_steps: int,
    *,
    steps: int | None = None,
    max_steps: int | None = None,
    halt: str = DEFAULT_HALT,
) -> Halting:
    """The one ``Halting`` of a user's options.

    ``steps`` N runs exactly N supervision steps. Otherwise a puzzle runs up to ``max_steps``
    and stops earlier by ``halt``: ``head`` (the halting head says so), ``rules`` (its answer
    passes the rules) or ``both`` (whichever comes first). The default limit is
    ``DEFAULT_STEP_FACTOR`` x ``trained_steps`` (the model's trained maximum) for kinds with
    rules; kinds without rules (ARC) use the head up to the trained maximum.
    """
    check_halt(halt)
    check_int("steps", steps, 1, MAX_STEPS, optional=True)
    check_int("max_steps", max_steps, 1, MAX_STEPS, optional=True)
    if steps is not None:
        if max_steps is not None:
            raise TrmError("give either --steps (exactly N) or --max-steps (up to N), not both")
        return Halting(max_steps=steps, adaptive=False)
    rules = rules_check(kind)
    limit = max_steps or min(MAX_STEPS, (DEFAULT_STEP_FACTOR if rules else 1) * trained_steps)
    check = rules if halt != "head" else None
    adaptive = halt != "rules" or check is None
    return Halting(max_steps=limit, adaptive=adaptive, is_done=check)
