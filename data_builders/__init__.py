"""Dataset builders: turn real sources or our own generators into trm datasets on disk.

``BUILDERS`` maps a puzzle kind to its builder module (``build``, ``add_arguments``,
``build_from_args``).
"""

from data_builders import arc, maze, sudoku

BUILDERS = {"sudoku": sudoku, "maze": maze, "arc": arc}
