"""Checkpoints: full resumable state, and pickle-free inference directories.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl``, ``checkpoint.pt`` (the
latest resumable state) and ``inference/`` (``model.safetensors`` with the EMA weights +
``config.yaml``). Every write goes to a temporary file first and is renamed into place, so an
interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save

from trm.config import TrainConfig, to_yaml
from trm.errors import TrmError
from trm.model import TinyRecursiveModel
from trm.run_layout import (
    CHECKPOINT,
    CONFIG,
    INFERENCE,
    KEPT,
    LOCK,
    METRICS,
    RUN_FILES,
    WEIGHTS,
)
from trm.safe_io import atomic_write, check_writable_dir, os_error, write_text_atomic

try:  # POSIX; elsewhere the lock file only records who trains
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def prepare_run_dir(cfg: TrainConfig, config_path: str | None) -> Path:
    """The run directory (default ``runs/<config stem>-<time>``), named into the config and
    checked to be creatable and writable (reads only)."""
    if not cfg.run_name:
        stem = Path(config_path).stem if config_path else "run"
        cfg.run_name = f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
    if not cfg.run_dir:
        cfg.run_dir = str(Path("runs") / cfg.run_name)
    return check_writable_dir(cfg.run_dir, "run directory")


def check_new_run_dir(run_dir: Path, overwrite: bool) -> list[str]:
    """Refuse a directory that holds a run (a checkpoint or a model), unless ``overwrite``;
    returns the run files it holds, which the new run replaces (``clear_run_dir``).

    What a run that never saved a checkpoint left (``config.yaml``, ``metrics.jsonl``) holds
    nothing to continue, so a new run may replace it. Reads only.
    """
    check_writable_dir(run_dir, "run directory")
    held = [name for name in RUN_FILES if (run_dir / name).exists()]
    if any(name in KEPT for name in held) and not overwrite:
        raise TrmError(
            f"{run_dir} already holds a run ({', '.join(held)}): continue it with "
            f"`trm train --resume {run_dir}`, pick another run_dir, or pass --overwrite"
        )
    return held


def clear_run_dir(run_dir: Path) -> None:
    """Delete the files of an earlier run in ``run_dir`` (``--overwrite``); others stay."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


@contextmanager
def locked_run_dir(run_dir: Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the ``with`` block, creating the directory if needed.

    ``train.lock`` holds the owner's pid under an advisory ``flock``, which the kernel drops
    when the owner dies: a lock left by a killed run is stale and simply taken over. A second
    process is refused with one line naming the pid. On leaving, the lock is removed, and
    directories created here are removed again when the run left nothing in them.
    """
    created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, run_dir, "create") from None
    try:
        fd = _acquire(run_dir / LOCK)
        try:
            yield run_dir
        finally:
            _release(run_dir / LOCK, fd)
    finally:
        for d in created:  # deepest first; rmdir refuses a directory that holds anything
            try:
                d.rmdir()
            except OSError:
                break


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive lock, our pid written in it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: BlockingIOError
            pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise TrmError(
                f"{path.parent}: another `trm train` (pid {pid}) is running in this run "
                f"directory; wait for it to finish or stop it (lock {path})"
            ) from None
        if _same_file(path, fd):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the previous owner removed the file as we opened it: lock a new one


def _release(path: Path, fd: int) -> None:
    if _same_file(path, fd):
        path.unlink()
    os.close(fd)  # drops the flock


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def save_training_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Save the full resumable state (weights, EMA, optimisers, step, sampler, carry, RNG)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # through a file, a full disk is an OSError (ENOSPC)
            torch.save(state, f)

    atomic_write(run_dir / CHECKPOINT, write)


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


def resume_state(run_dir: Path) -> dict | None:
    """The checkpoint to resume from; None when the run stopped before saving one (starting
    it from step 0 is exactly what resuming it would be)."""
    if not (run_dir / CHECKPOINT).exists() and not (run_dir / INFERENCE).exists():
        return None
    return load_training_state(run_dir)


@contextmanager
def full_disk_is_one_line(run_dir: Path) -> Iterator[None]:
    """A full disk (metrics, checkpoint, weights) is one line naming the directory."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise os_error(e, e.filename or run_dir / METRICS) from None


# What the trained weights depend on, so a resumed run must keep: the architecture, and the
# shape of the data (filled in from the dataset).
FROM_DATA = ("vocab_size", "seq_len", "num_puzzle_identifiers")
ARCHITECTURE = ("dim", "num_heads", "expansion", "num_layers", "mixer", "pos_encoding")
ARCHITECTURE += ("rope_theta", "puzzle_emb_dim", "puzzle_emb_len", *FROM_DATA)


def check_resumable(state: dict[str, Any], cfg: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume ``state`` with a config (overrides, dataset) whose architecture or data
    shape differs from the one it was trained with; one line naming the key and both values."""
    try:
        saved = OmegaConf.create(state.get("config") or "{}").get("model")
    except Exception:
        saved = None
    if not isinstance(saved, DictConfig):
        return  # a checkpoint without its config: only the weights' shapes are checked
    for key, now, was in architecture_changes(saved, cfg.model):
        if key in FROM_DATA:
            raise TrmError(
                f"{run_dir}: the dataset {cfg.data_path} has {key} {now}, but the run was "
                f"trained on data with {was}; resume with its own data or start a new run"
            )
        raise TrmError(
            f"{run_dir}: cannot resume with model.{key}={now}: the run was trained with "
            f"model.{key}={was} (start a new run to change the architecture)"
        )


def architecture_changes(saved: Mapping[str, Any], model: Any) -> list[tuple[str, Any, Any]]:
    """``(key, now, was)`` for every ``ARCHITECTURE`` key of ``saved`` (a saved ``model:``
    mapping) that differs in ``model`` (a ``ModelConfig``): weights of one do not fit the other."""
    return [
        (k, getattr(model, k), saved[k])
        for k in ARCHITECTURE
        if k in saved and saved[k] != getattr(model, k)
    ]


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
    data = save(state, metadata={"format": "trm"})  # bytes written by Python: ENOSPC is OSError
    atomic_write(out_dir / WEIGHTS, lambda tmp: Path(tmp).write_bytes(data))
    write_text_atomic(out_dir / CONFIG, to_yaml(cfg))
    return out_dir
