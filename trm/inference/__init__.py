"""Answers for users and for evaluation, all through the engine ``trm.act.stream``.

``loading`` (checkpoints, shipped names, official and Hugging Face imports), ``solve`` (Sudoku
and Maze with views and verification), ``arc`` (ARC voting and embedding fitting), ``votes``,
``trace`` (every step of one puzzle) and ``report`` (``trm eval``).
"""
