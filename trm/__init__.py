"""trm: the Tiny Recursive Model (Jolicoeur-Martineau, 2025), installable and tested.

`x` is the embedded question, `y` the embedded current answer and `z` the latent reasoning
state, as in the paper.
"""

__version__ = "0.1.0"
