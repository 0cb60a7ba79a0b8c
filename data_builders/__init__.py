"""Dataset builders: turn real sources or our own generators into trm datasets on disk.

``BUILDERS`` maps a puzzle kind to its builder module (``build``, ``add_arguments``,
``build_from_args``). Each module declares its options once, as a dataclass
(``data_builders.options``), and writes through ``data_builders.format``, which refuses a
destination that is not new, empty, or a dataset to ``--overwrite``.
"""

from data_builders import arc, maze, sudoku

BUILDERS = {"sudoku": sudoku, "maze": maze, "arc": arc}
