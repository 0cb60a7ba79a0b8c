"""Build Arc datasets (to be written)."""
