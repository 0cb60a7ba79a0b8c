"""Write a run's inference directory (EMA weights + config) from its latest checkpoint.

python tools/export_inference.py runs/maze-cpu [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from trm.checkpoint import INFERENCE, load_training_state, save_inference
from trm.config import load_config
from trm.model import TinyRecursiveModel


def main(run_dir: str, out: str | None = None) -> None:
    cfg = load_config(Path(run_dir) / "config.yaml")
    state = load_training_state(Path(run_dir))
    model = TinyRecursiveModel(cfg.model)
    model.load_state_dict(state["model"])
    path = save_inference(Path(out or Path(run_dir) / INFERENCE), model, cfg, weights=state["ema"])
    print(f"wrote {path} (step {state['step']})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
