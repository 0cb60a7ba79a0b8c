"""Checkpoints: full resumable state, and pickle-free inference directories.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl``, ``checkpoint.pt`` (the
latest resumable state) and ``inference/`` (``model.safetensors`` with the EMA weights +
``config.yaml``). Every write goes to a temporary file first and is renamed into place, so an
interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from trm.config import TrainConfig, load_config, to_yaml
from trm.errors import TrmError
from trm.model import TinyRecursiveModel
from trm.safe_io import check_writable_dir, default_mode, remove_stale_temps, temp_prefix

CHECKPOINT = "checkpoint.pt"
INFERENCE = "inference"
WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
WANDB_ID = "wandb_id.txt"  # the wandb run id, so that --resume continues the same wandb run


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path, "tmp")  # left by a process killed while writing
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path, "tmp"), dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_mode())  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


RUN_FILES = (CONFIG, METRICS, CHECKPOINT, INFERENCE, WANDB_ID)  # what a run writes


def check_new_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse a directory that already holds a run, unless ``overwrite`` (then clear it later).

    Reads only, so every rank can call it before any rank writes (they all agree).
    """
    check_writable_dir(run_dir, "run directory")
    held = [name for name in RUN_FILES if (run_dir / name).exists()]
    if held and not overwrite:
        raise TrmError(
            f"{run_dir} already holds a run ({', '.join(held)}): continue it with "
            f"`trm train --resume {run_dir}`, pick another run_dir, or pass --overwrite"
        )


def clear_run_dir(run_dir: Path) -> None:
    """Delete the files of an earlier run in ``run_dir`` (``--overwrite``); others stay."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def save_training_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Save the full resumable state (weights, EMA, optimisers, step, sampler, carry, RNG)."""
    atomic_write(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_training_state(run_dir: Path) -> dict[str, Any]:
    """The saved state, read with ``weights_only=True``: tensors and plain values only.

    Never unpickles an object, so a crafted checkpoint cannot run code; anything else in the
    file is refused with one line.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise TrmError(f"{run_dir}: no {CHECKPOINT} to resume from")
    try:
        with warnings.catch_warnings():  # a foreign pickle protocol warns before it is refused
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrmError(
            f"{path}: not a trm checkpoint of plain tensors; refused ({reason[:120]})"
        ) from None
    keys = ("step", "model", "adam", "sampler", "generator")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise TrmError(f"{path}: not a trm training checkpoint (expected keys {', '.join(keys)})")
    return state


def save_inference(
    out_dir: Path,
    model: TinyRecursiveModel,
    cfg: TrainConfig,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``config.yaml``; ``weights`` overrides parameters (EMA)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for k, v in (weights or {}).items():
        state[k] = v.detach().cpu().contiguous()
    out_dir = Path(out_dir)
    atomic_write(out_dir / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": "trm"}))
    write_text_atomic(out_dir / CONFIG, to_yaml(cfg))
    return out_dir


def resolve_inference_dir(path: str | os.PathLike) -> Path:
    """An inference directory from a path to one, to a run directory, or to its weights file."""
    p = Path(path)
    if p.is_file() and p.name == WEIGHTS:
        p = p.parent
    if (p / INFERENCE / WEIGHTS).is_file():
        p = p / INFERENCE
    if not p.exists():
        raise TrmError(f"{path}: no such checkpoint")
    if not (p / WEIGHTS).is_file() or not (p / CONFIG).is_file():
        raise TrmError(f"{path}: not a trm checkpoint (expected {WEIGHTS} and {CONFIG})")
    return p


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[TinyRecursiveModel, TrainConfig]:
    """Load an inference directory (or a run directory) without pickle; eval mode."""
    d = resolve_inference_dir(path)
    cfg = load_config(d / CONFIG)
    try:
        state = load_file(str(d / WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise TrmError(
            f"{d / WEIGHTS}: corrupted or unreadable weights ({str(e).splitlines()[0]})"
        ) from None
    model = TinyRecursiveModel(cfg.model)
    missing = set(model.state_dict()) - set(state)
    if missing:
        raise TrmError(f"{d / WEIGHTS}: missing tensors {sorted(missing)[:3]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise TrmError(
            f"{d / WEIGHTS}: weights do not match {d / CONFIG} ({str(e).splitlines()[-1].strip()})"
        ) from None
    return model.to(device).eval(), cfg
