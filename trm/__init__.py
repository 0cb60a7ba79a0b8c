"""trm: the Tiny Recursive Model (Jolicoeur-Martineau, 2025), installable and tested.

`x` is the embedded question, `y` the embedded current answer and `z` the latent reasoning
state, as in the paper. The Python API (``trm.load``, ``trm.Solver``, ``trm.Halting``,
``trm.build``, ``trm.train``) lives in ``trm.api``; see the README for an example. Every bad
argument raises ``trm.TrmError`` with one line.
"""

from trm.errors import TrmError  # what every bad argument raises (torch-free)

__version__ = "0.1.0"

_API = ("Halting", "Search", "SolveResult", "Solver", "build", "load", "train")
__all__ = [*_API, "TrmError", "__version__"]


def __getattr__(name: str):
    # Deferred on purpose: the API imports torch, and `import trm` happens for every `trm`
    # command (`trm --help` included), which must stay instant.
    if name in _API:
        from trm import api

        return getattr(api, name)
    raise AttributeError(f"module 'trm' has no attribute {name!r}")
