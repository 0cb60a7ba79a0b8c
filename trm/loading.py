"""Every way to load a model: a shipped name, a run or inference directory (pickle-free
safetensors), an official checkpoint with its architecture YAML, or a Hugging Face model
repository. The one loading module: the CLI, the Python API, benchmarks and tools call it.

Every failure is one ``TrmError`` line (the ``trm`` command exits with status 2).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from omegaconf import OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file

from trm.config import TrainConfig, load_config
from trm.errors import TrmError
from trm.hub import require_hub
from trm.model import TinyRecursiveModel
from trm.official import arch_to_model_config, convert_state_dict
from trm.puzzles import check_shape, kind_of_vocab
from trm.resources import resource_dirs
from trm.run_layout import CONFIG, INFERENCE, WEIGHTS
from trm.runtime import pick_device

# owner/name, as Hugging Face spells repository ids (a path that exists locally wins)
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# official training writes the architecture inside its full config (`arch:`)
_OFFICIAL_CONFIGS = ("all_config.yaml", "config.yaml", "arch.yaml")


def shipped_checkpoint(name: str) -> Path:
    """A shipped checkpoint by kind (``sudoku``) or by full name (``sudoku-mlp-cpu``).

    Looks in ``$TRM_CHECKPOINTS/<name>``, then for the first directory of ``checkpoints/`` (a
    clone's, then the installed ``trm_checkpoints``) whose name starts with ``name``.
    """
    env = os.environ.get("TRM_CHECKPOINTS")
    if env and (Path(env) / name).is_dir():
        return Path(env) / name
    for root in _checkpoint_roots():
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if d.is_dir() and d.name.startswith(name) and (d / "model.safetensors").is_file():
                return d
    raise TrmError(
        f"no shipped checkpoint for {name} is installed; pass --checkpoint RUN_OR_INFERENCE_DIR "
        "(train one with `trm train ...`)"
    )


def shipped_names() -> list[str]:
    """Names of the installed shipped checkpoints."""
    return sorted(
        {
            d.name
            for root in _checkpoint_roots()
            if root.is_dir()
            for d in root.iterdir()
            if (d / "model.safetensors").is_file()
        }
    )


def _checkpoint_roots() -> list[Path]:
    """A clone's ``checkpoints/``, then the installed data package ``trm_checkpoints``."""
    return resource_dirs("checkpoints")


def load(
    source: str | os.PathLike,
    *,
    kind: str | None = None,
    arch: str | os.PathLike | None = None,
    device: str = "auto",
) -> tuple[TinyRecursiveModel, TrainConfig]:
    """(model in eval mode on ``device``, its config) from any of the sources above.

    ``source``: a run or inference directory (or its ``model.safetensors``); an official state
    dict when ``arch`` (its architecture YAML) is given; a shipped checkpoint name; or a
    Hugging Face repository id ``owner/name`` holding an official checkpoint. ``kind``, when
    given, must match the model.
    """
    dev = pick_device(device)
    path = Path(source)
    if arch is not None:
        model, cfg = load_official(path, arch, kind or "")
    elif _looks_like_repo_id(str(source)):
        model, cfg = load_hf(str(source), kind or "")
    elif path.exists() or len(path.parts) > 1:  # a path ("no such checkpoint" when missing)
        model, cfg = load_directory(path, "cpu")
    else:
        model, cfg = load_directory(shipped_checkpoint(str(source)), "cpu")
    _check_kind(model, cfg, kind, str(source))
    return model.to(dev).eval(), cfg


def _looks_like_repo_id(source: str) -> bool:
    """``owner/name`` whose first part is not a local directory (``runs/typo`` stays a path)."""
    return bool(_REPO_ID.match(source)) and not Path(source.split("/")[0]).exists()


def load_for_kind(
    kind: str | None, checkpoint: str | None, arch: str | None, device: str
) -> tuple[TinyRecursiveModel, TrainConfig]:
    """What ``trm solve``/``trm eval`` load: ``checkpoint``, or the shipped one for ``kind``."""
    if checkpoint is None:
        if arch:
            raise TrmError("--config needs --checkpoint (the official state dict it describes)")
        checkpoint = str(shipped_checkpoint(kind))
    return load(checkpoint, kind=kind, arch=arch, device=device)


def _check_kind(model: TinyRecursiveModel, cfg: TrainConfig, kind: str | None, where: str) -> None:
    trained = cfg.kind or kind_of_vocab(cfg.model.vocab_size)
    if not cfg.kind:
        cfg.kind = trained
    if kind is None:
        return
    if trained and trained != kind:
        raise TrmError(f"{where}: checkpoint is for {trained} puzzles, not {kind}")
    check_shape(kind, model.cfg.seq_len, model.cfg.vocab_size, where)


# --- Hugging Face ---------------------------------------------------------------------------


def load_hf(repo_id: str, kind: str = "") -> tuple[TinyRecursiveModel, TrainConfig]:
    """An official checkpoint from a Hugging Face model repository (downloaded once, then read
    from the hub cache). Offline and not cached: one line, at once."""
    root = _hf_snapshot(repo_id)
    config = next((root / n for n in _OFFICIAL_CONFIGS if (root / n).is_file()), None)
    weights = _official_weights(root)
    if config is None or weights is None:
        raise TrmError(
            f"{repo_id}: not an official TRM checkpoint (expected one of "
            f"{', '.join(_OFFICIAL_CONFIGS)} and a weights file such as step_N or *.pt)"
        )
    return load_official(weights, config, kind)


def _official_weights(root: Path) -> Path | None:
    """The weights file of a snapshot: the latest ``step_N``, else a ``*.pt``/``*.bin`` file."""
    steps = [p for p in root.glob("**/step_*") if p.is_file() and p.name[5:].isdigit()]
    if steps:
        return max(steps, key=lambda p: int(p.name[5:]))
    files = sorted(p for ext in ("*.pt", "*.pth", "*.bin") for p in root.glob(f"**/{ext}"))
    return files[0] if files else None


def _hf_snapshot(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise TrmError(
            f"loading {repo_id} needs the package huggingface_hub (pip install huggingface_hub)"
        ) from None
    cache = os.environ.get("HF_HUB_CACHE") or None  # read now: the hub reads it at import only
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True))
    except Exception:
        pass  # not cached yet
    require_hub(f"the model {repo_id} (not in the cache)", "pass a local checkpoint instead")
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache))
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrmError(
            f"cannot download the model {repo_id} from Hugging Face ({reason})"
        ) from None


# --- our own directories ------------------------------------------------------------------


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


def load_directory(
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


# --- official checkpoints ------------------------------------------------------------------


def load_official(
    path: str | os.PathLike, arch_yaml: str | os.PathLike, kind: str = ""
) -> tuple[TinyRecursiveModel, TrainConfig]:
    """A model (eval mode, CPU) from an official state dict and its arch YAML."""
    try:
        arch = OmegaConf.to_container(OmegaConf.load(arch_yaml), resolve=True)
        if isinstance(arch, dict) and isinstance(arch.get("arch"), dict):
            arch = arch["arch"]  # the official full config (all_config.yaml) holds it under arch
    except FileNotFoundError:
        raise TrmError(f"{arch_yaml}: no such config file") from None
    except Exception as e:
        raise TrmError(f"{arch_yaml}: not a valid arch YAML ({str(e).splitlines()[0]})") from None
    if not os.path.isfile(path):
        raise TrmError(f"{path}: no such checkpoint file")
    try:
        theirs = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise TrmError(f"{path}: corrupted or unreadable checkpoint ({type(e).__name__})") from None
    if isinstance(theirs, dict) and "model" in theirs and isinstance(theirs["model"], dict):
        theirs = theirs["model"]
    if not isinstance(theirs, dict):
        raise TrmError(f"{path}: not a state dict")
    cfg = arch_to_model_config(arch)
    state = convert_state_dict(theirs, cfg, kind)
    model = TinyRecursiveModel(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise TrmError(f"{path}: missing tensors for {missing[:3]} (does {arch_yaml} match?)")
    for name, value in state.items():
        if name not in expected:
            raise TrmError(f"{path}: tensor {name!r} does not fit the architecture of {arch_yaml}")
        if tuple(expected[name].shape) != tuple(value.shape):
            raise TrmError(
                f"{path}: {name} has shape {tuple(value.shape)}, {arch_yaml} implies "
                f"{tuple(expected[name].shape)}"
            )
    model.load_state_dict(state)
    return model.eval(), TrainConfig(kind=kind, model=cfg)
