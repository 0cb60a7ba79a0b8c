"""Shipped checkpoints: one directory per model (model.safetensors, config.yaml, MODEL_CARD.md)."""
