"""Answers for users and for evaluation, all through the engine ``trm.act.stream``.

``halting`` (when a puzzle stops, from the user's options), ``solve`` (Sudoku and Maze with
views and verification), ``arc`` (ARC voting and embedding fitting), ``votes``, ``trace`` (every
step of one puzzle) and ``eval_report`` (the report of ``trm eval``).
"""
