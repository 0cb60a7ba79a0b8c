"""Run configuration: typed dataclasses as the schema, omegaconf for YAML and ``key=value``.

A recipe YAML may compose parts with a ``defaults`` mapping, e.g.::

    defaults:
      model: trm_mlp          # model/trm_mlp.yaml, merged under `model`
      task: sudoku_extreme    # task/sudoku_extreme.yaml, merged at the top level

A part is looked for next to the recipe first, then in the installed recipe folders
(``trm.recipes.recipe_dirs``), so a copied recipe still finds the shipped parts.

Order of precedence (last wins): dataclass defaults, task part, model part, the recipe's own
keys, command-line overrides. Unknown keys, wrong types and values out of range are errors,
all found by ``validate`` when the config is loaded, before any work. Values that come from
the dataset (vocabulary, sequence length, number of puzzle identifiers) are filled in by code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, get_type_hints

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trm.errors import TrmError
from trm.losses import LOSSES
from trm.model import Choice, Mixer, ModelConfig, PosEncoding
from trm.options import PRECISIONS
from trm.puzzles import KINDS
from trm.recipes import find_recipe, recipe_dirs
from trm.runtime import check_device
from trm.schedules import check_depth_schedule

# The allowed strings of the option fields (YAML keeps them as plain strings).
LossType = Choice("LossType", [(name, name) for name in LOSSES])  # trm.losses.LOSSES
CompileMode = Choice(
    "CompileMode", [(m, m) for m in ("default", "reduce-overhead", "max-autotune")]
)


class CurriculumOrder(Choice):
    """Which train puzzles a curriculum starts from (the kind's difficulty measure)."""

    none = "none"  # the paper's uniform sampler
    easy_first = "easy_first"
    hard_first = "hard_first"


Precision = Choice("Precision", [(p, p) for p in PRECISIONS])


class Logger(Choice):
    """Where metrics go besides ``metrics.jsonl`` (always written)."""

    jsonl = "jsonl"
    wandb = "wandb"


@dataclass
class TrainConfig:
    """Everything a training run needs; saved resolved as ``config.yaml`` in the run directory."""

    data_path: str = ""  # a dataset built by `trm build`
    kind: str = ""  # sudoku | maze | arc; inferred from the dataset when empty
    model: ModelConfig = field(default_factory=ModelConfig)
    global_batch_size: int = 768  # B: examples per optimiser step, all ranks together
    epochs: int = 50000  # an epoch = one puzzle from every group
    eval_interval: int = 5000  # epochs between evaluations (also the sampler's pass length)
    max_steps: int | None = None  # stop after this many optimiser steps (None: from epochs)
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
    loss_type: LossType = LossType("stablemax")
    # Recipe options beyond the paper, all off by default (README "Faster recipes"):
    grad_clip: float = 0.0  # clip the global gradient norm to this (0: off)
    step_loss_decay: float = 1.0  # answer-loss weight at supervision step t: decay^(t-1)
    final_step_only: bool = False  # answer loss only on a slot's last supervision step
    # [[until_fraction, T, n], ...]: train at depth (T, n) until that fraction of the run, then
    # the next entry; after the last, the model's own (recursions, latent_steps)
    depth_schedule: list[list[float]] = field(default_factory=list)
    reset_optimizer_on_depth_change: bool = False  # fresh Adam moments when the depth grows
    curriculum: CurriculumOrder = CurriculumOrder.none
    curriculum_start: float = 0.3  # fraction of the train puzzles in the pool at the start
    curriculum_until: float = 0.5  # fraction of the run after which the pool is all of them
    seed: int = 0
    # start from these weights (a run or inference directory, or a shipped checkpoint name) with
    # a fresh optimiser, EMA and schedule; the architecture must match (resume continues instead)
    init_from: str = ""
    eval_limit: int = 0  # evaluate on a seeded random subset of this many test examples (0: all)
    eval_batch_size: int = 0  # 0: the training batch size
    eval_every_steps: int = 0  # evaluate every N steps instead of every eval_interval epochs
    checkpoint_every_steps: int = 500  # a resumable checkpoint every N steps (and at each eval)
    log_every_steps: int = 20  # read metrics from the device, update the bar and the JSONL log
    logger: Logger = Logger.jsonl
    project: str = "trm"
    run_name: str = ""  # default: <config file stem>-<time>
    run_dir: str = ""  # default: runs/<run_name>
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # bf16 autocast with float32 master weights, optimiser, EMA, loss and halting, or fp32;
    # auto: bf16 on CUDA and on CPUs with bf16 matrix units (AMX, AVX-512 BF16)
    precision: Precision = Precision("auto")
    compile: bool = True  # torch.compile on CUDA
    compile_mode: CompileMode = CompileMode("default")  # reduce-overhead: CUDA graphs
    threads: int = 0  # torch CPU threads (0: leave torch's default)


# --- reading YAML ------------------------------------------------------------------------------


def _yaml_problem(e: Exception) -> str:
    """The one line of a YAML error that says what is wrong, and where."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        mark = e.problem_mark
        return (
            f"{e.problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else e.problem
        )
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _load_mapping(path: Path) -> DictConfig:
    """The YAML mapping in ``path`` (a list, a scalar or bad YAML is a one-line error)."""
    try:
        node = OmegaConf.load(path)
    except FileNotFoundError:
        raise TrmError(f"{path}: no such config file") from None
    except Exception as e:
        raise TrmError(f"{path}: not valid YAML ({_yaml_problem(e)})") from None
    if not isinstance(node, DictConfig):
        raise TrmError(f"{path}: a config must be a mapping of key: value, not a list")
    return node


# Training-only settings that configs written before issue 9 kept under `model:`. Old run
# directories and shipped checkpoints still load: the key is moved to the top level.
MOVED_FROM_MODEL = ("halt_exploration_prob",)


def migrate(node: Any) -> Any:
    """Move ``model.<key>`` of ``MOVED_FROM_MODEL`` to the top level (a later top-level value
    wins), and read the old ``bf16: true|false`` as ``precision: auto|fp32``; returns the node."""
    if isinstance(node, DictConfig) and "bf16" in node:  # before precision: bf16 on CUDA only
        bf16 = node.pop("bf16")
        if "precision" not in node:
            node["precision"] = "auto" if bf16 else "fp32"
    model = node.get("model") if isinstance(node, DictConfig) else None
    if isinstance(model, DictConfig):
        for key in MOVED_FROM_MODEL:
            if key in model:
                value = model.pop(key)
                if key not in node:
                    node[key] = value
    return node


def migrate_file(node: DictConfig) -> DictConfig:
    """``migrate``, and ``max_steps: 0`` of older files read as null ("from epochs", what 0
    meant then), so that their runs resume identically; a new ``max_steps=0`` is refused."""
    if node.get("max_steps") == 0:
        node["max_steps"] = None
    return migrate(node)


def find_part(recipe: Path, group: str, name: str) -> Path:
    """``<group>/<name>.yaml`` beside the recipe, else in the installed recipe folders."""
    tried: list[Path] = []
    for root in (recipe.parent, *recipe_dirs()):
        candidate = root / group / f"{name}.yaml"
        if candidate.is_file():
            return candidate
        if candidate.resolve() not in [t.resolve() for t in tried]:
            tried.append(candidate)
    looked = ", ".join(str(t) for t in tried)
    raise TrmError(f"{recipe}: defaults {group}: {name}: no such config file (looked in {looked})")


def compose(path: str | Path) -> DictConfig:
    """The recipe at ``path`` with its ``defaults`` parts merged (an omegaconf DictConfig)."""
    path = Path(path)
    recipe = _load_mapping(path)
    parts = recipe.pop("defaults", None) or {}
    if not isinstance(parts, (DictConfig, dict)):
        raise TrmError(f"{path}: defaults must be a mapping (task: NAME, model: NAME)")
    unknown = set(parts) - {"task", "model"}
    if unknown:
        raise TrmError(f"{path}: unknown defaults group(s) {sorted(unknown)}; use task and model")
    merged = []
    for group in ("task", "model"):
        if group in parts:
            part = _load_mapping(find_part(path, group, str(parts[group])))
            merged.append(OmegaConf.create({"model": part}) if group == "model" else part)
    return migrate_file(OmegaConf.merge(*merged, recipe) if merged else recipe)


def parse_override(item: str) -> DictConfig:
    """One ``key=value`` override as a config node (bad YAML in the value is one line)."""
    if "=" not in item:
        raise TrmError(f"override {item!r} is not of the form key=value")
    try:
        return migrate(OmegaConf.from_dotlist([item]))
    except yaml.YAMLError as e:
        raise TrmError(f"override {item!r}: not a valid value ({_yaml_problem(e)})") from None


def load_config(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Compose ``path`` (a YAML file or a recipe name, see ``trm.recipes``), apply ``key=value``
    overrides and ``validate`` against ``TrainConfig``."""
    try:
        layers = [OmegaConf.structured(TrainConfig)]
        if path is not None:
            layers.append(compose(find_recipe(path)))
        layers += [parse_override(item) for item in overrides]
        cfg = OmegaConf.to_object(OmegaConf.merge(*layers))
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None)
        where = f" (key {key})" if key else ""
        raise TrmError(f"{path}: {msg}{where}" if path else f"{msg}{where}") from None
    return validate(cfg, path)


# --- validation --------------------------------------------------------------------------------

# Allowed values, in interval notation; ``model.`` keys are fields of ``ModelConfig``.
RANGES = {
    # loop lengths and divisors: 0 would divide by zero or loop forever
    "global_batch_size": "[1, inf)",
    "epochs": "[1, inf)",
    "eval_interval": "[1, inf)",
    "checkpoint_every_steps": "[1, inf)",
    "log_every_steps": "[1, inf)",
    "max_steps": "[1, inf)",  # or null: from epochs
    # 0 means "the default"
    "lr_warmup_steps": "[0, inf)",
    "eval_limit": "[0, inf)",
    "eval_batch_size": "[0, inf)",
    "eval_every_steps": "[0, inf)",
    "threads": "[0, inf)",
    # optimiser and recipe options
    "lr": "(0, inf)",
    "lr_min_ratio": "[0, 1]",
    "beta1": "[0, 1)",
    "beta2": "[0, 1)",
    "weight_decay": "[0, inf)",
    "puzzle_emb_lr": "[0, inf)",
    "puzzle_emb_weight_decay": "[0, inf)",
    "ema_rate": "[0, 1)",
    "halt_exploration_prob": "[0, 1]",
    "grad_clip": "[0, inf)",
    "step_loss_decay": "(0, inf)",
    "curriculum_start": "(0, 1]",
    "curriculum_until": "[0, 1]",
    # the architecture
    "model.dim": "[1, inf)",
    "model.num_heads": "[1, inf)",
    "model.expansion": "(0, inf)",
    "model.num_layers": "[1, inf)",
    "model.recursions": "[1, inf)",
    "model.latent_steps": "[1, inf)",
    "model.rope_theta": "(0, inf)",
    "model.norm_eps": "(0, inf)",
    "model.puzzle_emb_dim": "[0, inf)",
    "model.puzzle_emb_len": "[0, inf)",
    "model.max_supervision_steps": "[1, inf)",
    "model.vocab_size": "[0, inf)",  # 0: from data
    "model.seq_len": "[0, inf)",
    "model.num_puzzle_identifiers": "[1, inf)",
}


NULL_MEANS = {"max_steps": "from epochs"}  # what null means for the fields that may be null


def _in_range(value: float, interval: str) -> bool:
    """Whether ``value`` lies in ``interval`` (``"[0, 1)"``, ``"(0, inf)"``); NaN never does."""
    lo, hi = (float(v) for v in interval[1:-1].split(","))
    above = value >= lo if interval[0] == "[" else value > lo
    below = value <= hi if interval[-1] == "]" else value < hi
    return above and below


def _describe(interval: str) -> str:
    """``"[1, inf)"`` -> ``"at least 1"``, ``"(0, inf)"`` -> ``"greater than 0"``."""
    lo = interval[1:-1].split(",")[0]
    if interval.endswith("inf)"):
        return f"at least {lo}" if interval[0] == "[" else f"greater than {lo}"
    return f"in {interval}"


def _value(cfg: TrainConfig, key: str) -> Any:
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def check_choices(obj: Any, prefix: str = "") -> None:
    """Every ``Choice`` field of a dataclass holds one of its strings (configs built in Python
    skip omegaconf's check)."""
    for name, kind in get_type_hints(type(obj)).items():
        value = getattr(obj, name)
        if isinstance(kind, type) and issubclass(kind, Enum):
            allowed = [m.value for m in kind]
            if value not in allowed:
                raise TrmError(f"{prefix}{name} must be one of {', '.join(allowed)}, got {value!r}")
        elif isinstance(value, ModelConfig):
            check_choices(value, f"{prefix}{name}.")


def check_model(m: ModelConfig) -> None:
    """Shapes the network can be built with (ranges are in ``RANGES``)."""
    if m.mixer == Mixer.attention and m.dim % m.num_heads:
        raise TrmError(
            f"model.dim ({m.dim}) must be divisible by model.num_heads ({m.num_heads}) "
            "with mixer=attention"
        )
    if m.mixer == Mixer.attention and m.pos_encoding == PosEncoding.rope:
        if (m.dim // m.num_heads) % 2:
            raise TrmError(
                f"model.dim / model.num_heads ({m.dim // m.num_heads}) must be even with "
                "pos_encoding=rope"
            )
    if m.mixer == Mixer.conv and m.seq_len and math.isqrt(m.seq_len) ** 2 != m.seq_len:
        raise TrmError(
            f"model.mixer=conv needs a square grid, but the sequence has {m.seq_len} cells"
        )
    if m.puzzle_emb_dim > m.prefix_len * m.dim:
        raise TrmError(
            f"model.puzzle_emb_dim ({m.puzzle_emb_dim}) must fit in model.puzzle_emb_len x "
            f"model.dim ({m.prefix_len} x {m.dim})"
        )


def check_recipe_options(cfg: TrainConfig) -> None:
    """One-line errors for recipe options out of range (README "Faster recipes")."""
    check_depth_schedule(cfg.depth_schedule)
    for key in ("grad_clip", "step_loss_decay", "curriculum_start", "curriculum_until"):
        if not _in_range(getattr(cfg, key), RANGES[key]):
            raise TrmError(f"{key} must be {_describe(RANGES[key])}, got {getattr(cfg, key)}")


def validate(cfg: TrainConfig, path: str | Path | None = None) -> TrainConfig:
    """Every check a config can get before the dataset is read; one line naming the key and
    what is allowed (prefixed with ``path``). Returns ``cfg``."""
    try:
        check_choices(cfg)
        for key, interval in RANGES.items():
            value = _value(cfg, key)
            if value is not None and not _in_range(value, interval):
                null = f" (or null: {NULL_MEANS[key]})" if key in NULL_MEANS else ""
                raise TrmError(f"{key} must be {_describe(interval)}{null}, got {value}")
        if cfg.kind and cfg.kind not in KINDS:
            raise TrmError(f"kind must be one of {', '.join(KINDS)} or empty, got {cfg.kind!r}")
        check_device(cfg.device)
        check_model(cfg.model)
        check_recipe_options(cfg)
    except TrmError as e:
        raise TrmError(f"{path}: {e}" if path else str(e)) from None
    return cfg


def to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (what the run directory keeps)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def changes(before: TrainConfig, after: TrainConfig) -> list[str]:
    """``key=value`` for every value of ``after`` that differs from ``before`` (dotted keys)."""
    flat = [_flatten(OmegaConf.to_container(OmegaConf.structured(c))) for c in (before, after)]
    return [f"{k}={v}" for k, v in flat[1].items() if flat[0].get(k) != v]


def _flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


# --- the config of `trm train` -----------------------------------------------------------------


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
