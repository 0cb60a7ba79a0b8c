"""The run's metrics: an append-only JSONL file (rank 0), mirrored to wandb when asked."""

from __future__ import annotations

import json
from pathlib import Path

from trm.checkpoint import METRICS, WANDB_ID, write_text_atomic
from trm.config import TrainConfig
from trm.errors import TrmError


class MetricsLog:
    """Append-only JSONL metrics (rank 0), mirrored to wandb when ``logger=wandb``."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, resume_step: int | None, enabled: bool):
        self.enabled, self.path, self.wandb = enabled, run_dir / METRICS, None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():  # drop lines newer than the checkpoint
            keep = [ln for ln in self.path.read_text().splitlines() if _step(ln) <= resume_step]
            write_text_atomic(self.path, "".join(ln + "\n" for ln in keep))
        if cfg.logger == "wandb":
            self.wandb = _start_wandb(cfg, run_dir, resume_step is not None)
        elif cfg.logger != "jsonl":
            raise TrmError(f"logger must be jsonl or wandb, got {cfg.logger!r}")

    def log(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.wandb is not None:
            self.wandb.log(values, step=step)


def _step(line: str) -> float:
    """The step of a JSONL line; a line torn by a kill during its append counts as newest."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


def _start_wandb(cfg: TrainConfig, run_dir: Path, resuming: bool):
    """Start (or, when resuming, continue) the run's wandb run; its id is kept in the run dir."""
    import os
    import secrets

    import wandb

    if not (os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE")):
        os.environ["WANDB_MODE"] = "offline"  # never required: without a login, log locally
    from omegaconf import OmegaConf

    id_file = run_dir / WANDB_ID
    run_id = id_file.read_text().strip() if resuming and id_file.is_file() else None
    run_id = run_id or secrets.token_hex(6)
    write_text_atomic(id_file, run_id + "\n")
    wandb.init(
        project=cfg.project,
        name=cfg.run_name,
        id=run_id,
        resume="allow",
        dir=str(run_dir),
        config=OmegaConf.to_container(OmegaConf.structured(cfg)),
    )
    return wandb
