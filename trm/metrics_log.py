"""The run's metrics: an append-only JSONL file (rank 0), mirrored to wandb when asked, and the
device-side sums (with the NaN flag of the loss) kept between log steps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from trm.config import TrainConfig
from trm.errors import TrmError
from trm.run_layout import CHECKPOINT, METRICS, WANDB_ID
from trm.runtime import Runtime, any_rank
from trm.safe_io import read_text, write_text_atomic


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


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of a run's JSONL metrics log, oldest first; ``[]`` when it has none yet.

    A last line torn by a kill during its append (the one ``MetricsLog`` drops on resume) is
    left out; a bad line anywhere else is a damaged log, a ``TrmError`` naming it.
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    lines = read_text(path).splitlines()
    if lines and _step(lines[-1]) == float("inf"):
        lines.pop()
    rows = []
    for number, line in enumerate(lines, 1):
        if _step(line) == float("inf"):
            raise TrmError(f"{path}:{number}: not a metrics row (a JSON object with a step)")
        rows.append(json.loads(line))
    return rows


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


class StepMeter:
    """Metric sums kept on the device between log steps, and the NaN flag of the loss."""

    def __init__(self, step: int, device: torch.device):
        self.sums: dict[str, torch.Tensor] = {}
        self.shown: dict[str, float] = {}  # the progress bar's last known loss and accuracies
        self.bad_loss = torch.zeros((), dtype=torch.bool, device=device)
        self.last_good = self.step_last = step
        self.t_last = time.perf_counter()

    def add(self, loss: torch.Tensor, metrics: dict[str, torch.Tensor]) -> None:
        self.bad_loss |= ~torch.isfinite(loss.detach())
        for k, v in metrics.items():  # stays on the device: no host sync inside a step
            self.sums[k] = self.sums.get(k, 0) + v

    def check_finite(self, step: int, run_dir: Path, rt: Runtime) -> None:
        # the only host read of the loss flag (at log and checkpoint steps), agreed by all ranks
        if any_rank(self.bad_loss, rt):
            raise TrmError(
                f"the loss became NaN or infinite before step {step}; stopped. The last good "
                f"checkpoint (step {self.last_good}) is kept in {run_dir / CHECKPOINT}"
            )
