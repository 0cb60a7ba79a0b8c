"""Build Sudoku datasets (to be written)."""
