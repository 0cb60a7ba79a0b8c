"""Dataset builders: turn real sources or our own generators into trm datasets on disk."""
