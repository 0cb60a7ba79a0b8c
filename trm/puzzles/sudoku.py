"""Sudoku: parsing, rendering, token codec, verifier and symmetries (to be written)."""
