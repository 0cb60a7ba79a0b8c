"""The training loop (SPEC §7.6): deep supervision with carry, optimisers, EMA, eval, checkpoints.

Everything a run changes lives in one ``TrainState`` (model, optimisers, EMA, carry, sampler,
halting generator, step). ``train(cfg)`` reads top to bottom: setup, data, state, resume, then
``_loop``; each piece of a step is a small function over the state. One optimiser step = one
supervision step (``trm.act.supervision_step``) on every slot of the fixed-size batch.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from trm.act import ALL_STEPS, Carry, initial_carry, supervision_step
from trm.checkpoint import (
    INFERENCE,
    check_new_run_dir,
    clear_run_dir,
    load_training_state,
    save_inference,
    save_training_state,
    write_text_atomic,
)
from trm.config import (
    TrainConfig,
    check_recipe_options,
    resolve_config,
    split_overrides,
    to_yaml,
)
from trm.data import Batch, Curriculum, Prefetcher, PuzzleDataset, TrainSampler
from trm.errors import TrmError
from trm.evaluate import evaluate
from trm.flops import run_training_flops
from trm.losses import normalise_metrics
from trm.metrics_log import MetricsLog, StepMeter
from trm.model import TinyRecursiveModel
from trm.optim import EMA, AdamATan2, learning_rate, sign_sgd_rows
from trm.puzzles import KINDS, kind_of_vocab
from trm.runtime import (
    Runtime,
    all_reduce_sums,
    any_rank,
    gather_objects,
    setup_runtime,
    teardown_runtime,
)
from trm.safe_io import check_writable_dir
from trm.schedules import depth_for_step

POSTFIX = (("loss", "lm_loss"), ("acc", "accuracy"), ("exact", "exact_accuracy"))


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved."""


@dataclass
class TrainState:
    """Everything a training run changes, and what it needs to change it."""

    cfg: TrainConfig
    rt: Runtime
    core: TinyRecursiveModel  # the plain model (its weights, the puzzle-embedding table)
    fwd: torch.nn.Module  # what steps call: the model, compiled and/or DDP-wrapped
    adam: AdamATan2
    ema: EMA | None
    sampler: TrainSampler | None
    generator: torch.Generator  # halting exploration; the same on every rank
    steps_total: int
    step: int = 0
    carry: Carry | None = None
    sampler_state: dict = field(default_factory=dict)  # position after the last consumed batch

    @property
    def loss_scale(self) -> float:
        """1 / examples the summed loss is divided by (DDP averages gradients over ranks)."""
        b = self.cfg.global_batch_size
        return 1 / (b // self.rt.world_size if self.rt.world_size > 1 else b)

    def learning_rates(self) -> tuple[float, float]:
        """(network lr, puzzle-embedding lr) of the current step (warm-up, then cosine)."""
        c = self.cfg
        sched = (self.step, c.lr_warmup_steps, self.steps_total, c.lr_min_ratio)
        return (
            learning_rate(self.step, c.lr, *sched[1:]),
            learning_rate(self.step, c.puzzle_emb_lr, *sched[1:]),
        )


# --- setup -----------------------------------------------------------------------------------


def fill_from_data(cfg: TrainConfig, data: PuzzleDataset) -> None:
    """Copy vocabulary, sequence length and identifier count from the dataset into the config."""
    meta = data.metadata
    cfg.model.vocab_size = int(meta["vocab_size"])
    cfg.model.seq_len = int(meta["seq_len"])
    cfg.model.num_puzzle_identifiers = int(meta["num_puzzle_identifiers"])
    if not cfg.kind:
        cfg.kind = kind_of_vocab(cfg.model.vocab_size)


def total_steps(cfg: TrainConfig, data: PuzzleDataset) -> int:
    """Optimiser steps of the run: ``max_steps``, or epochs x examples per epoch / B (SPEC §7.3)."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    meta = data.metadata
    return int(
        cfg.epochs * meta["total_groups"] * meta["mean_puzzle_examples"] / cfg.global_batch_size
    )


def prepare_run_dir(cfg: TrainConfig, config_path: str | None) -> Path:
    """The run directory (default ``runs/<config stem>-<time>``), named into the config."""
    if not cfg.run_name:
        stem = Path(config_path).stem if config_path else "run"
        cfg.run_name = f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
    if not cfg.run_dir:
        cfg.run_dir = str(Path("runs") / cfg.run_name)
    return Path(cfg.run_dir)


def build_model(cfg: TrainConfig, rt: Runtime) -> tuple[TinyRecursiveModel, torch.nn.Module]:
    """The model (same init on every rank) and the callable used for steps (compiled, DDP)."""
    torch.manual_seed(cfg.seed)
    core = TinyRecursiveModel(cfg.model).to(rt.device)
    fwd: torch.nn.Module = core
    if rt.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # The puzzle table is a buffer updated identically on every rank: never broadcast it.
        fwd = DDP(
            core,
            device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
            broadcast_buffers=False,
        )
    if cfg.compile and rt.device.type == "cuda":
        fwd = torch.compile(
            fwd, dynamic=False, mode=None if cfg.compile_mode == "default" else cfg.compile_mode
        )
    return core, fwd


def init_state(
    cfg: TrainConfig, rt: Runtime, sampler: TrainSampler | None, steps_total: int
) -> TrainState:
    """A fresh state: model, optimisers, EMA and the halting generator, seeded by ``cfg``."""
    core, fwd = build_model(cfg, rt)
    adam = AdamATan2(
        core.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    ema = EMA(core, cfg.ema_rate) if cfg.ema else None
    generator = torch.Generator(device=rt.device)
    generator.manual_seed(cfg.seed + 1)  # the same on every rank (see act.should_halt)
    state = TrainState(cfg, rt, core, fwd, adam, ema, sampler, generator, steps_total)
    if sampler is not None:
        state.sampler_state = sampler.state_dict()
    return state


def restore(state: TrainState, run_dir: Path) -> None:
    """Load a run's resumable checkpoint into ``state`` (this rank's carry and generator)."""
    saved = load_training_state(run_dir)
    rt = state.rt
    state.core.load_state_dict(saved["model"])
    state.adam.load_state_dict(saved["adam"])
    if state.ema is not None:
        state.ema.load_state_dict(saved["ema"])
    state.sampler.load_state_dict(saved["sampler"])
    state.sampler_state = state.sampler.state_dict()
    state.generator.set_state(saved["generator"][rt.rank])
    state.step = saved["step"]
    if saved["carry"] is not None:
        carry = {k: v.to(rt.device) for k, v in saved["carry"][rt.rank].items()}
        state.carry = Carry.from_state_dict(carry)


def save_checkpoint(state: TrainState, run_dir: Path) -> None:
    """Write the resumable checkpoint (every rank's carry and generator, gathered to rank 0)."""
    c = state.carry
    carries = gather_objects(
        [None if c is None else {k: v.cpu() for k, v in c.state_dict().items()}], state.rt
    )
    gens = gather_objects([state.generator.get_state()], state.rt)
    if state.rt.is_main:
        save_training_state(
            run_dir,
            {
                "step": state.step,
                "model": state.core.state_dict(),
                "adam": state.adam.state_dict(),
                "ema": state.ema.state_dict() if state.ema else None,
                "sampler": state.sampler_state,
                "generator": gens,
                "carry": carries,
                "config": to_yaml(state.cfg),
            },
        )


# --- one optimiser step ----------------------------------------------------------------------


def train_step(state: TrainState, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step at ``state.step``: a supervision step on every slot, backward,
    sign-SGD on the puzzle rows, AdamATan2, EMA. Returns the summed loss and metric sums
    (device tensors: nothing here reads the device)."""
    cfg, core = state.cfg, state.core
    lr, lr_e = state.learning_rates()
    set_depth(state)
    if state.carry is None:
        state.carry = initial_carry(core, batch, state.rt.state_dtype)
    core.train()
    with state.rt.autocast()():
        result = supervision_step(
            state.fwd,
            state.carry,
            batch,
            training=True,
            exploration_prob=cfg.halt_exploration_prob,
            generator=state.generator,
            loss_type=cfg.loss_type,
            step_loss_decay=cfg.step_loss_decay,
            final_step_only=cfg.final_step_only,
        )
    (result.loss * state.loss_scale).backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(core.parameters(), cfg.grad_clip)
    state.carry = result.carry
    rows = result.puzzle_rows
    if rows is not None:
        ids = state.carry.data.puzzle_identifiers
        sign_sgd_rows(core.puzzle_embedding, ids, rows.grad, lr_e, cfg.puzzle_emb_weight_decay)
    for group in state.adam.param_groups:
        group["lr"] = lr
    state.adam.step()
    state.adam.zero_grad(set_to_none=True)
    if state.ema is not None:
        state.ema.update(core)
    return result.loss, result.metrics


def set_depth(state: TrainState) -> None:
    """Put the depth schedule's (T, n) for ``state.step`` on the model; when it grows and the
    recipe asks, start the optimiser's moments afresh (RSM-style)."""
    cfg, core = state.cfg, state.core
    if not cfg.depth_schedule:
        return
    final = (cfg.model.recursions, cfg.model.latent_steps)
    depth = depth_for_step(cfg.depth_schedule, state.step, state.steps_total, final)
    before = depth_for_step(cfg.depth_schedule, state.step - 1, state.steps_total, final)
    if cfg.reset_optimizer_on_depth_change and state.step > 1 and depth != before:
        state.adam.state.clear()  # AdamATan2 creates fresh moments for parameters without state
    core.depth = depth


def run_flops(state: TrainState) -> float:
    """Training FLOPs of the run up to ``state.step`` (matrix products, SPEC §9)."""
    cfg = state.cfg
    return run_training_flops(
        cfg.model, cfg.global_batch_size, state.step, state.steps_total, cfg.depth_schedule
    )


# --- evaluation and export -------------------------------------------------------------------


def evaluate_and_export(
    state: TrainState, run_dir: Path, test_data: PuzzleDataset | None, log, bar=None
) -> None:
    """Evaluate the EMA weights on the test split (when given) and write the inference dir."""
    cfg, rt = state.cfg, state.rt
    state.core.depth = None  # evaluate and export at the model's own depth
    if state.ema is not None:
        state.ema.swap(state.core)  # evaluate and export the EMA weights, without a copy
    try:
        if test_data is not None:
            metrics = evaluate(
                state.fwd,
                test_data,
                cfg.eval_batch_size or cfg.global_batch_size,
                halting=ALL_STEPS,
                limit=cfg.eval_limit,
                seed=cfg.seed,
                rank=rt.rank,
                world_size=rt.world_size,
                autocast=rt.autocast(),
            )
            metrics["flops"] = run_flops(state)
            log.log(state.step, {f"eval/{k}": v for k, v in metrics.items()})
            if rt.is_main and bar is not None:
                exact, acc = metrics.get("exact_accuracy", 0.0), metrics.get("accuracy", 0.0)
                bar.write(
                    f"step {state.step}: eval exact_accuracy {exact:.4f} accuracy {acc:.4f} "
                    f"(n={int(metrics['count'])})"
                )
        if rt.is_main:
            save_inference(run_dir / INFERENCE, state.core, cfg)
    finally:
        if state.ema is not None:
            state.ema.swap(state.core)


# --- the run ---------------------------------------------------------------------------------


def train(
    cfg: TrainConfig,
    config_path: str | None = None,
    resume_dir: str | None = None,
    progress: bool = True,
    stop_at_step: int = 0,
    overwrite: bool = False,
) -> Path:
    """Train (or resume) a run; returns the run directory.

    ``stop_at_step`` > 0 saves a checkpoint and raises ``Interrupted`` once that step is done,
    as a signal would (for sessions shorter than the run). A new run refuses a ``run_dir``
    that holds one, unless ``overwrite``.
    """
    rt = setup_runtime(cfg.device, cfg.bf16, cfg.threads)
    try:
        run_dir = _check_run_dir(cfg, rt, config_path, resume_dir, overwrite)
        train_data = PuzzleDataset(cfg.data_path, "train")
        has_test = (Path(cfg.data_path) / "test").is_dir()
        test_data = PuzzleDataset(cfg.data_path, "test") if has_test else None
        fill_from_data(cfg, train_data)
        if rt.is_main:
            if overwrite and not resume_dir:
                clear_run_dir(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(run_dir / "config.yaml", to_yaml(cfg))
        B = cfg.global_batch_size
        sampler = TrainSampler(train_data, B, cfg.eval_interval, cfg.seed, rt.rank, rt.world_size)
        state = init_state(cfg, rt, sampler, total_steps(cfg, train_data))
        if cfg.curriculum != "none":
            sampler.curriculum = Curriculum.by_difficulty(
                train_data,
                KINDS[cfg.kind].difficulty,
                cfg.curriculum == "hard_first",
                cfg.curriculum_start,
                cfg.curriculum_until,
                state.steps_total,
            )
        if resume_dir:
            restore(state, run_dir)
            if rt.is_main:
                print(
                    f"trm: resumed {run_dir} at step {state.step} of {state.steps_total}",
                    file=sys.stderr,
                )
        log = MetricsLog(run_dir, cfg, state.step if resume_dir else None, rt.is_main)
        _loop(state, run_dir, test_data, log, progress, stop_at_step)
        return run_dir
    finally:
        teardown_runtime()


def _check_run_dir(cfg: TrainConfig, rt: Runtime, config_path, resume_dir, overwrite) -> Path:
    """The run directory, checked before any work: writable, and (a new run) holding no run
    unless ``overwrite``. Every rank checks before rank 0 writes (a barrier under DDP)."""
    if resume_dir:
        return check_writable_dir(resume_dir, "run directory")
    run_dir = prepare_run_dir(cfg, config_path)
    check_new_run_dir(run_dir, overwrite)
    if rt.world_size > 1:
        torch.distributed.barrier()  # every rank has checked before rank 0 writes
    return run_dir


def _loop(state: TrainState, run_dir: Path, test_data, log, progress: bool, stop_at: int) -> None:
    """Optimiser steps until the end, with logging, evaluation, checkpoints and clean stops.

    The loss is checked for NaN only where the host reads the device anyway (logging and
    checkpoint steps); a signal or ``stop_at`` saves a checkpoint and raises ``Interrupted``.
    """
    cfg, rt = state.cfg, state.rt
    eval_every = cfg.eval_every_steps or state.sampler.batches_per_pass()
    stop: dict = {"signal": None}
    old_handlers = {
        s: signal.signal(s, lambda signum, _: stop.update(signal=signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    # On CUDA the next batches are prepared in a thread while the GPU works.
    prefetch = Prefetcher(state.sampler, rt.device) if rt.device.type == "cuda" else None
    bar = tqdm(
        total=state.steps_total,
        initial=state.step,
        disable=not (progress and rt.is_main),
        dynamic_ncols=True,
    )
    meter = StepMeter(state.step, rt.device)
    try:
        while state.step < state.steps_total:
            batch = _next_batch(state, prefetch)
            state.step += 1
            loss, metrics = train_step(state, batch)
            meter.add(loss, metrics)
            bar.update(1)
            step, last = state.step, state.step == state.steps_total
            if step % cfg.log_every_steps == 0 or last:
                meter.check_finite(step, run_dir, rt)
                _log_train(state, meter, log, bar)
            if step % eval_every == 0 or last:
                evaluate_and_export(state, run_dir, test_data, log, bar)
            if step % cfg.checkpoint_every_steps == 0 or step % eval_every == 0 or last:
                meter.check_finite(step, run_dir, rt)
                save_checkpoint(state, run_dir)
                meter.last_good = step
            if step == stop_at:
                stop["signal"] = "stop_at_step"
            if stop["signal"] is not None:
                _stop(state, run_dir, meter, log, stop["signal"])
    finally:
        bar.close()
        if prefetch is not None:
            prefetch.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)


def _next_batch(state: TrainState, prefetch: Prefetcher | None) -> Batch:
    """The next batch, recording the sampler position just after it (what a checkpoint keeps)."""
    if prefetch is not None:
        batch, state.sampler_state = prefetch.next()
        return batch
    batch = state.sampler.next_batch()
    state.sampler_state = state.sampler.state_dict()
    return batch


def _stop(state: TrainState, run_dir: Path, meter: StepMeter, log, why) -> None:
    """Save a checkpoint and the inference weights of this step (unless the loss is bad)."""
    if not any_rank(meter.bad_loss, state.rt):
        save_checkpoint(state, run_dir)
        evaluate_and_export(state, run_dir, None, log)  # the inference weights of this step
    raise Interrupted(
        f"stopped by signal {why} at step {state.step}; resume with: trm train --resume {run_dir}"
    )


def _log_train(state: TrainState, meter: StepMeter, log, bar) -> None:
    """Reduce the sums since the last log step over ranks, write them, update the bar."""
    B, step = state.cfg.global_batch_size, state.step
    now = time.perf_counter()
    n = B * (step - meter.step_last)  # sample-steps since the last log
    values = normalise_metrics(all_reduce_sums(meter.sums, state.rt), batch_size=n)
    values["lr"] = state.learning_rates()[0]
    values["flops"] = run_flops(state)
    values["sample_steps_per_s"] = n / max(now - meter.t_last, 1e-9)
    log.log(step, {f"train/{k}": v for k, v in values.items()})
    meter.shown.update(  # accuracies only when some slot halted: else the last known
        {k: values[k] for k in ("lm_loss", "accuracy", "exact_accuracy") if k in values}
    )
    bar.set_postfix(
        {short: f"{meter.shown[k]:.3f}" for short, k in POSTFIX if k in meter.shown},
        sps=f"{values['sample_steps_per_s']:.1f}",
    )
    meter.sums, meter.t_last, meter.step_last = {}, now, step


# --- `trm train` -------------------------------------------------------------------------------


def train_from_config(
    config: str | None,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Load a recipe (name or YAML path; the run's saved config when resuming) and train.

    ``--resume DIR`` continues with the config saved in DIR; ``key=value`` overrides apply on
    top of it (and are named in the resume message). ``overwrite`` starts afresh in a run_dir
    that holds a run (not with ``resume``).
    """
    config, overrides = split_overrides(config, overrides)
    if resume and overwrite:
        raise TrmError("--resume continues a run and --overwrite replaces it: pick one")
    cfg = resolve_config(config, overrides, resume)
    if resume and overrides:
        print(
            f"trm: on top of {Path(resume) / 'config.yaml'}: {' '.join(overrides)}", file=sys.stderr
        )
    if not cfg.data_path:
        raise TrmError("data_path is not set: pass data_path=DIR (a dataset built by `trm build`)")
    if not math.isfinite(cfg.lr):
        raise TrmError("lr must be finite")
    check_recipe_options(cfg)
    return train(cfg, config, resume, progress=progress, overwrite=overwrite)
