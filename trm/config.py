"""Run configuration: typed dataclasses as the schema, omegaconf for YAML and ``key=value``.

A recipe YAML may compose parts with a ``defaults`` mapping, e.g.::

    defaults:
      model: trm_mlp          # configs/model/trm_mlp.yaml, merged under `model`
      task: sudoku_extreme    # configs/task/sudoku_extreme.yaml, merged at the top level

Order of precedence (last wins): dataclass defaults, task part, model part, the recipe's own
keys, command-line overrides. Unknown keys and wrong types are errors. Values that come from
the dataset (vocabulary, sequence length, number of puzzle identifiers) are filled in by code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trm.errors import TrmError
from trm.model import ModelConfig
from trm.recipes import find_recipe
from trm.schedules import check_curriculum, check_depth_schedule


@dataclass
class TrainConfig:
    """Everything a training run needs; saved resolved as ``config.yaml`` in the run directory."""

    data_path: str = ""  # a dataset built by `trm build`
    kind: str = ""  # sudoku | maze | arc; inferred from the dataset when empty
    model: ModelConfig = field(default_factory=ModelConfig)
    global_batch_size: int = 768  # B: examples per optimiser step, all ranks together
    epochs: int = 50000  # an epoch = one puzzle from every group
    eval_interval: int = 5000  # epochs between evaluations (also the sampler's pass length)
    max_steps: int = 0  # stop after this many optimiser steps (0: from epochs, SPEC §7.3)
    lr: float = 1e-4
    lr_min_ratio: float = 1.0
    lr_warmup_steps: int = 2000
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 1.0
    puzzle_emb_lr: float = 1e-4
    puzzle_emb_weight_decay: float = 1.0
    ema: bool = True
    ema_rate: float = 0.999
    halt_exploration_prob: float = 0.1  # a slot must first reach 2..N_sup steps this often
    loss_type: str = "stablemax"  # stablemax | softmax
    # Recipe options beyond the paper, all off by default (README "Faster recipes"):
    grad_clip: float = 0.0  # clip the global gradient norm to this (0: off)
    step_loss_decay: float = 1.0  # answer-loss weight at supervision step t: decay^(t-1)
    final_step_only: bool = False  # answer loss only on a slot's last supervision step
    # [[until_fraction, T, n], ...]: train at depth (T, n) until that fraction of the run, then
    # the next entry; after the last, the model's own (recursions, latent_steps)
    depth_schedule: list[list[float]] = field(default_factory=list)
    reset_optimizer_on_depth_change: bool = False  # fresh Adam moments when the depth grows
    curriculum: str = "none"  # none | easy_first | hard_first (the kind's difficulty measure)
    curriculum_start: float = 0.3  # fraction of the train puzzles in the pool at the start
    curriculum_until: float = 0.5  # fraction of the run after which the pool is all of them
    seed: int = 0
    eval_limit: int = 0  # evaluate on a seeded random subset of this many test examples (0: all)
    eval_batch_size: int = 0  # 0: the training batch size
    eval_every_steps: int = 0  # evaluate every N steps instead of every eval_interval epochs
    checkpoint_every_steps: int = 500  # a resumable checkpoint every N steps (and at each eval)
    log_every_steps: int = 20  # read metrics from the device, update the bar and the JSONL log
    logger: str = "jsonl"  # jsonl | wandb (JSONL is always written)
    project: str = "trm"
    run_name: str = ""  # default: <config file stem>-<time>
    run_dir: str = ""  # default: runs/<run_name>
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # bf16 autocast on CUDA (CPU always runs float32)
    compile: bool = True  # torch.compile on CUDA
    compile_mode: str = "default"  # default | reduce-overhead (CUDA graphs) | max-autotune
    threads: int = 0  # torch CPU threads (0: leave torch's default)


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.load(path)
    except FileNotFoundError:
        raise TrmError(f"{path}: no such config file") from None
    except Exception as e:
        raise TrmError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


# Training-only settings that configs written before issue 9 kept under `model:`. Old run
# directories and shipped checkpoints still load: the key is moved to the top level.
MOVED_FROM_MODEL = ("halt_exploration_prob",)


def migrate(node: Any) -> Any:
    """Move ``model.<key>`` of ``MOVED_FROM_MODEL`` to the top level (a later top-level value
    wins); returns the node."""
    model = node.get("model") if isinstance(node, DictConfig) else None
    if isinstance(model, DictConfig):
        for key in MOVED_FROM_MODEL:
            if key in model:
                value = model.pop(key)
                if key not in node:
                    node[key] = value
    return node


def compose(path: str | Path) -> Any:
    """The recipe at ``path`` with its ``defaults`` parts merged (an omegaconf DictConfig)."""
    path = Path(path)
    recipe = _load_yaml(path)
    parts = recipe.pop("defaults", None) or {}
    root = path.parent
    merged = []
    for group in ("task", "model"):
        if group in parts:
            part = _load_yaml(root / group / f"{parts[group]}.yaml")
            merged.append(OmegaConf.create({"model": part}) if group == "model" else part)
    unknown = set(parts) - {"task", "model"}
    if unknown:
        raise TrmError(f"{path}: unknown defaults group(s) {sorted(unknown)}; use task and model")
    return migrate(OmegaConf.merge(*merged, recipe) if merged else recipe)


def load_config(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Compose ``path`` (a YAML file or a recipe name, see ``trm.recipes``), apply ``key=value``
    overrides and validate against ``TrainConfig``."""
    schema = OmegaConf.structured(TrainConfig)
    try:
        layers = [schema]
        if path is not None:
            layers.append(compose(find_recipe(path)))
        for item in overrides:
            if "=" not in item:
                raise TrmError(f"override {item!r} is not of the form key=value")
        layers.append(migrate(OmegaConf.from_dotlist(list(overrides))))
        cfg = OmegaConf.merge(*layers)
        return check_counts(OmegaConf.to_object(cfg), path)
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None)
        where = f" (key {key})" if key else ""
        raise TrmError(f"{path or 'config'}: {msg}{where}") from None


POSITIVE = ("global_batch_size", "epochs", "eval_interval", "checkpoint_every_steps")
POSITIVE += ("log_every_steps",)  # loop lengths and divisors: 0 would divide by zero
NON_NEGATIVE = ("max_steps", "lr_warmup_steps", "eval_limit", "eval_batch_size")
NON_NEGATIVE += ("eval_every_steps", "threads")  # 0 means "the default"


def check_counts(cfg: TrainConfig, path: str | Path | None = None) -> TrainConfig:
    """Refuse counts that would divide by zero or loop backwards (one line naming the key)."""
    for key in POSITIVE + NON_NEGATIVE:
        value, low = getattr(cfg, key), 1 if key in POSITIVE else 0
        if value < low:
            raise TrmError(f"{path or 'config'}: {key} must be at least {low}, got {value}")
    return cfg


def to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (what the run directory keeps)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def check_recipe_options(cfg: TrainConfig) -> None:
    """One-line errors for recipe options out of range (README "Faster recipes")."""
    check_depth_schedule(cfg.depth_schedule)
    check_curriculum(cfg.curriculum, cfg.curriculum_start, cfg.curriculum_until)
    if cfg.grad_clip < 0 or not cfg.step_loss_decay > 0:
        raise TrmError("grad_clip must be >= 0 and step_loss_decay > 0")


def resolve_config(
    config: str | None, overrides: list[str] | tuple[str, ...] = (), resume: str | None = None
) -> TrainConfig:
    """The run's config: a recipe with overrides, or a run directory's saved one.

    A CONFIG with ``resume`` is an error: the run's own config is the one that resumes exactly.
    """
    config, overrides = split_overrides(config, overrides)
    if resume:
        if config:
            raise TrmError(
                f"--resume {resume} continues with that run's saved config; drop {config} "
                "(key=value overrides still apply on top of the saved config)"
            )
        saved = Path(resume) / "config.yaml"
        if not saved.is_file():
            raise TrmError(f"{resume}: not a run directory (no config.yaml)")
        return load_config(saved, overrides)
    return load_config(config, overrides)


def split_overrides(config: str | None, overrides) -> tuple[str | None, list[str]]:
    """``trm train lr=1e-3`` gives no recipe, only overrides."""
    if config and "=" in config and not Path(config).exists():
        return None, [config, *overrides]
    return config, list(overrides)
