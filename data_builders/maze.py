"""Build Maze datasets (to be written)."""
