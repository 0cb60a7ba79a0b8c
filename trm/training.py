"""The training loop (SPEC §7.6): deep supervision with carry, optimisers, EMA, eval, checkpoints.

Everything a run changes lives in one ``TrainState`` (model, optimisers, EMA, carry, sampler,
halting generator, step). ``train(cfg)`` reads top to bottom: the run directory and its lock,
``_start`` (data, state, resume: everything that may refuse the run, before its first write),
then ``_loop``; each piece of a step is a small function over the state. One optimiser step =
one supervision step (``trm.act.supervision_step``) on every slot of the fixed-size batch.
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from trm.act import ALL_STEPS, initial_carry, supervision_step
from trm.batch import Batch
from trm.checkpoint import (
    CHECKPOINT,
    CONFIG,
    INFERENCE,
    architecture_changes,
    check_new_run_dir,
    check_resumable,
    clear_run_dir,
    full_disk_is_one_line,
    locked_run_dir,
    prepare_run_dir,
    resume_state,
    save_inference,
)
from trm.config import (
    TrainConfig,
    changes,
    load_config,
    resolve_config,
    split_overrides,
    to_yaml,
    validate,
)
from trm.data import Prefetcher, PuzzleDataset, TrainSampler
from trm.errors import TrmError
from trm.evaluate import evaluate
from trm.flops import run_training_flops
from trm.loading import load
from trm.losses import normalise_metrics
from trm.metrics_log import MetricsLog, StepMeter
from trm.model import TinyRecursiveModel
from trm.optim import EMA, AdamATan2, sign_sgd_rows
from trm.runtime import (
    Runtime,
    all_reduce_sums,
    any_rank,
    on_main,
    setup_runtime,
    teardown_runtime,
)
from trm.safe_io import check_writable_dir, write_text_atomic
from trm.schedules import depth_for_step
from trm.train_data import load_data, make_sampler, total_steps
from trm.train_state import TrainState, restore_checkpoint, save_checkpoint

POSTFIX = (("loss", "lm_loss"), ("acc", "accuracy"), ("exact", "exact_accuracy"))
PROGRESS_SECONDS = 30.0  # without a terminal: a progress line at most this often (and the last)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved."""


# --- setup -----------------------------------------------------------------------------------


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
    if cfg.compile:
        if rt.device.type == "cpu" and cfg.compile_mode == "reduce-overhead":
            raise TrmError("compile_mode=reduce-overhead is CUDA graphs: use default on the CPU")
        fwd = torch.compile(
            fwd,
            dynamic=False,
            mode=None if cfg.compile_mode == "default" else str(cfg.compile_mode),
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


def warm_start(state: TrainState, source: str) -> None:
    """Copy the weights of ``source`` (what ``trm.load`` accepts) into a fresh state's model and
    EMA; refuse a different architecture in one line naming the key."""
    model, saved = load(source, device="cpu")
    theirs = asdict(saved.model)
    if state.cfg.model.puzzle_emb_dim == 0:  # no puzzle table: the data's puzzle count is free
        theirs.pop("num_puzzle_identifiers")
    changed = architecture_changes(theirs, state.cfg.model)
    if changed:
        key, now, was = changed[0]
        raise TrmError(
            f"init_from={source}: it has model.{key}={was}, this run model.{key}={now} "
            "(the weights only fit the same architecture and data shape)"
        )
    with torch.no_grad():
        state.core.load_state_dict(model.state_dict(), strict=False)
    if state.ema is not None:
        state.ema = EMA(state.core, state.cfg.ema_rate)


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
            # On the CPU the eager model evaluates: compiling the inference graph costs ~30 s
            # and saves about a sixth of an evaluation that is a few % of the run.
            model = state.fwd if rt.device.type == "cuda" else state.core
            metrics = evaluate(
                model,
                test_data,
                cfg.eval_batch_size or cfg.global_batch_size,
                halting=ALL_STEPS,
                limit=cfg.eval_limit,
                seed=cfg.seed,
                rank=rt.rank,
                world_size=rt.world_size,
                runtime=rt,
            )
            metrics["flops"] = run_flops(state)
            metrics["seconds"] = state.seconds  # the training wall time this evaluation saw
            log.log(state.step, {f"eval/{k}": v for k, v in metrics.items()})
            if rt.is_main and bar is not None:
                exact, acc = metrics.get("exact_accuracy", 0.0), metrics.get("accuracy", 0.0)
                verified = metrics.get("verified_accuracy")
                checked = "" if verified is None else f"verified_accuracy {verified:.4f} "
                bar.write(
                    f"step {state.step}: eval exact_accuracy {exact:.4f} {checked}accuracy "
                    f"{acc:.4f} (n={int(metrics['count'])})"
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

    Nothing is written or deleted before the run is known to start: the config is validated,
    the run directory checked and locked (one ``trm train`` per directory), the dataset checked
    and the checkpoint matched to the config (``_start``). A new run refuses a ``run_dir``
    that holds one, unless ``overwrite``. ``stop_at_step`` > 0 saves a checkpoint and raises
    ``Interrupted`` once that step is done, as a signal would (for sessions shorter than the
    run). A full disk is one line naming the directory; the last checkpoint stays intact.
    """
    validate(cfg)  # a config built in Python gets the checks of a loaded one
    rt = setup_runtime(cfg.device, str(cfg.precision), cfg.threads)
    try:
        if resume_dir:
            run_dir = check_writable_dir(resume_dir, "run directory")
        else:
            run_dir = prepare_run_dir(cfg, config_path)
        with ExitStack() as held, full_disk_is_one_line(run_dir):
            on_main(rt, lambda: held.enter_context(locked_run_dir(run_dir)))  # rank 0 locks
            state, test_data = _start(cfg, rt, run_dir, resume_dir, overwrite)
            log = MetricsLog(run_dir, cfg, state.step if resume_dir else None, rt.is_main)
            _loop(state, run_dir, test_data, log, progress, stop_at_step)
        return run_dir
    finally:
        teardown_runtime()


def _start(
    cfg: TrainConfig, rt: Runtime, run_dir: Path, resume_dir: str | None, overwrite: bool
) -> tuple[TrainState, PuzzleDataset | None]:
    """Everything that may refuse the run, then its first write (``config.yaml``): what the
    run directory holds, the dataset, the checkpoint against the config. Under the lock."""
    leftovers = [] if resume_dir else on_main(rt, lambda: check_new_run_dir(run_dir, overwrite))
    saved = resume_state(run_dir) if resume_dir else None
    train_data, test_data = load_data(cfg)
    if saved is not None:
        check_resumable(saved, cfg, run_dir)
    steps_total = total_steps(cfg, train_data)
    sampler = make_sampler(cfg, train_data, steps_total, rt.rank, rt.world_size)
    state = init_state(cfg, rt, sampler, steps_total)
    if saved is not None:
        restore_checkpoint(state, saved, run_dir)
    elif cfg.init_from:
        warm_start(state, cfg.init_from)
    if rt.is_main:
        if leftovers:  # --overwrite, or what a run that never saved a checkpoint left
            clear_run_dir(run_dir)
        changed = changes(load_config(run_dir / CONFIG), cfg) if resume_dir else []
        write_text_atomic(run_dir / CONFIG, to_yaml(cfg))
        say = _how_it_starts(state, run_dir, resume_dir, saved is not None, leftovers, overwrite)
        if say:
            on_top = f" (on top of its {CONFIG}: {' '.join(changed)})" if changed else ""
            print(f"trm: {say}{on_top}", file=sys.stderr)
    return state, test_data


def _how_it_starts(state, run_dir, resume_dir, resumed, leftovers, overwrite) -> str:
    """What to say unless the run simply starts in a new directory."""
    if resumed:
        return f"resumed {run_dir} at step {state.step} of {state.steps_total}"
    if resume_dir:
        return f"{run_dir} has no {CHECKPOINT} (it stopped before its first): starting at step 0"
    if leftovers and not overwrite:
        return f"{run_dir}: replacing {', '.join(leftovers)} of a start that saved no checkpoint"
    return ""


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
    bar = Progress(state, progress and rt.is_main)
    meter = StepMeter(state.step, rt.device)
    try:
        while state.step < state.steps_total:
            t_step = time.perf_counter()
            batch = _next_batch(state, prefetch)
            state.step += 1
            loss, metrics = train_step(state, batch)
            state.seconds += time.perf_counter() - t_step  # on CUDA: settles at each host sync
            meter.add(loss, metrics)
            bar.update(1)
            step, last = state.step, state.step == state.steps_total
            if step % cfg.log_every_steps == 0 or last:
                meter.check_finite(step, run_dir, rt)
                _log_train(state, meter, log, bar)
            t_aside = time.perf_counter()  # evaluation and checkpoints: not training time
            if step % eval_every == 0 or last:
                evaluate_and_export(state, run_dir, test_data, log, bar)
            if step % cfg.checkpoint_every_steps == 0 or step % eval_every == 0 or last:
                meter.check_finite(step, run_dir, rt)
                save_checkpoint(state, run_dir)
                meter.last_good = step
            meter.t_last += time.perf_counter() - t_aside
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
    values["seconds"] = state.seconds  # training wall time so far, without evaluations
    values["bf16"] = float(state.rt.bf16)  # the precision that ran (1: bf16 autocast, 0: fp32)
    log.log(step, {f"train/{k}": v for k, v in values.items()})
    meter.shown.update(  # accuracies only when some slot halted: else the last known
        {k: values[k] for k in ("lm_loss", "accuracy", "exact_accuracy") if k in values}
    )
    bar.show(step, meter.shown, values["sample_steps_per_s"], B)
    meter.sums, meter.t_last, meter.step_last = {}, now, step


class Progress(tqdm):
    """The run's progress: a tqdm bar on a terminal; elsewhere (a log file, CI) one line on
    stderr at the first log step, then every ``PROGRESS_SECONDS``, and at the last step."""

    def __init__(self, state: TrainState, enabled: bool):
        self.lines = enabled and not sys.stderr.isatty()
        super().__init__(
            total=state.steps_total,
            initial=state.step,
            disable=not enabled or self.lines,
            dynamic_ncols=True,
            desc=state.rt.precision,  # which arithmetic runs (precision=auto picks per device)
        )
        self.precision = state.rt.precision
        self.t_start, self.t_line = time.perf_counter(), None

    def show(self, step: int, shown: dict[str, float], samples_per_s: float, B: int) -> None:
        """The loss and accuracies last known at ``step``, and the speed since the last log."""
        fields = {short: f"{shown[k]:.3f}" for short, k in POSTFIX if k in shown}
        self.set_postfix(fields, sps=f"{samples_per_s:.1f}")
        now = time.perf_counter()
        due = self.t_line is None or now - self.t_line >= PROGRESS_SECONDS
        if self.lines and (due or step == self.total):
            elapsed = time.strftime("%H:%M:%S", time.gmtime(now - self.t_start))
            values = " ".join(f"{k}={v}" for k, v in fields.items())
            print(
                f"trm: step {step}/{self.total} {values} steps/s={samples_per_s / B:.2f} "
                f"elapsed={elapsed} {self.precision}",
                file=sys.stderr,
                flush=True,
            )
            self.t_line = now


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
    top of it (what they change is named in the resume message). ``overwrite`` starts afresh
    in a run_dir that holds a run (not with ``resume``).
    """
    config, overrides = split_overrides(config, overrides)
    if resume and overwrite:
        raise TrmError("--resume continues a run and --overwrite replaces it: pick one")
    cfg = resolve_config(config, overrides, resume)
    if not cfg.data_path:
        raise TrmError("data_path is not set: pass data_path=DIR (a dataset built by `trm build`)")
    return train(cfg, config, resume, progress=progress, overwrite=overwrite)
