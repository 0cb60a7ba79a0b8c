"""The training loop (SPEC §7.6): deep supervision with carry, optimisers, EMA, eval, checkpoints.

``train(cfg)`` reads top to bottom: setup, data, model and optimisers, resume, then the loop.
One optimiser step = one supervision step on every slot of the fixed-size batch.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from trm.act import Carry, initial_carry, supervision_step
from trm.checkpoint import (
    CHECKPOINT,
    INFERENCE,
    check_new_run_dir,
    clear_run_dir,
    load_training_state,
    save_inference,
    save_training_state,
    write_text_atomic,
)
from trm.config import TrainConfig, load_config, to_yaml
from trm.data import Prefetcher, PuzzleDataset, TrainSampler
from trm.errors import TrmError
from trm.evaluate import evaluate
from trm.losses import normalise_metrics
from trm.metrics_log import MetricsLog
from trm.model import TinyRecursiveModel
from trm.optim import EMA, AdamATan2, learning_rate, sign_sgd_rows
from trm.runtime import Runtime, setup_runtime, teardown_runtime
from trm.safe_io import check_writable_dir

KIND_BY_VOCAB = {11: "sudoku", 6: "maze", 12: "arc"}
POSTFIX = (("loss", "lm_loss"), ("acc", "accuracy"), ("exact", "exact_accuracy"))


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved."""


def fill_from_data(cfg: TrainConfig, data: PuzzleDataset) -> None:
    """Copy vocabulary, sequence length and identifier count from the dataset into the config."""
    meta = data.metadata
    cfg.model.vocab_size = int(meta["vocab_size"])
    cfg.model.seq_len = int(meta["seq_len"])
    cfg.model.num_puzzle_identifiers = int(meta["num_puzzle_identifiers"])
    if not cfg.kind:
        cfg.kind = KIND_BY_VOCAB.get(cfg.model.vocab_size, "")


def total_steps(cfg: TrainConfig, data: PuzzleDataset) -> int:
    """Optimiser steps of the run: ``max_steps``, or epochs x examples per epoch / B (SPEC §7.3)."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    meta = data.metadata
    return int(
        cfg.epochs * meta["total_groups"] * meta["mean_puzzle_examples"] / cfg.global_batch_size
    )


def prepare_run_dir(cfg: TrainConfig, config_path: str | None) -> Path:
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


def train_step(
    fwd,
    core: TinyRecursiveModel,
    carry: Carry,
    batch,
    adam: AdamATan2,
    ema: EMA | None,
    cfg: TrainConfig,
    lr: float,
    lr_e: float,
    loss_scale: float,
    generator=None,
    autocast=None,
):
    """One optimiser step: a supervision step on every slot, backward, sign-SGD, AdamATan2, EMA."""
    core.train()
    with (autocast or nullcontext)():
        carry, loss, metrics, _, rows = supervision_step(
            fwd, carry, batch, training=True, generator=generator, loss_type=cfg.loss_type
        )
    (loss * loss_scale).backward()
    if rows is not None:
        sign_sgd_rows(
            core.puzzle_embedding,
            carry.data.puzzle_identifiers,
            rows.grad,
            lr_e,
            cfg.puzzle_emb_weight_decay,
        )
    for group in adam.param_groups:
        group["lr"] = lr
    adam.step()
    adam.zero_grad(set_to_none=True)
    if ema is not None:
        ema.update(core)
    return carry, loss, metrics


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
    # --- setup --------------------------------------------------------------------------
    rt = setup_runtime(cfg.device, cfg.bf16, cfg.threads)
    try:
        return _train(cfg, rt, config_path, resume_dir, progress, stop_at_step, overwrite)
    finally:
        teardown_runtime()


def _train(
    cfg: TrainConfig,
    rt: Runtime,
    config_path,
    resume_dir,
    progress,
    stop_at_step=0,
    overwrite=False,
) -> Path:
    run_dir = Path(resume_dir) if resume_dir else prepare_run_dir(cfg, config_path)
    if resume_dir:
        check_writable_dir(run_dir, "run directory")
    else:
        check_new_run_dir(run_dir, overwrite)
        if rt.world_size > 1:
            torch.distributed.barrier()  # every rank has checked before rank 0 writes
    train_data = PuzzleDataset(cfg.data_path, "train")
    test_data = (
        PuzzleDataset(cfg.data_path, "test") if (Path(cfg.data_path) / "test").is_dir() else None
    )
    fill_from_data(cfg, train_data)
    steps_total = total_steps(cfg, train_data)
    B, b = cfg.global_batch_size, cfg.global_batch_size // rt.world_size
    if rt.is_main:
        if overwrite and not resume_dir:
            clear_run_dir(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", to_yaml(cfg))

    # --- model, optimisers, sampler -----------------------------------------------------
    core, fwd = build_model(cfg, rt)
    adam = AdamATan2(
        core.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    ema = EMA(core, cfg.ema_rate) if cfg.ema else None
    sampler = TrainSampler(train_data, B, cfg.eval_interval, cfg.seed, rt.rank, rt.world_size)
    eval_every = cfg.eval_every_steps or sampler.batches_per_pass()
    generator = torch.Generator(device=rt.device)
    generator.manual_seed(cfg.seed + 1)  # the same on every rank (see act.should_halt)
    autocast = rt.autocast()
    step, carry = 0, None

    # --- resume -------------------------------------------------------------------------
    if resume_dir:
        state = load_training_state(run_dir)
        core.load_state_dict(state["model"])
        adam.load_state_dict(state["adam"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        sampler.load_state_dict(state["sampler"])
        generator.set_state(state["generator"][rt.rank])
        step = state["step"]
        if state["carry"] is not None:
            carry = Carry.from_state_dict(
                {k: v.to(rt.device) for k, v in state["carry"][rt.rank].items()}
            )
        if rt.is_main:
            print(f"trm: resumed {run_dir} at step {step} of {steps_total}", file=sys.stderr)
    log = MetricsLog(run_dir, cfg, step if resume_dir else None, rt.is_main)

    def checkpoint() -> None:
        carries = _gather(
            [None if carry is None else {k: v.cpu() for k, v in carry.state_dict().items()}], rt
        )
        gens = _gather([generator.get_state()], rt)
        if rt.is_main:
            save_training_state(
                run_dir,
                {
                    "step": step,
                    "model": core.state_dict(),
                    "adam": adam.state_dict(),
                    "ema": ema.state_dict() if ema else None,
                    "sampler": sampler_state if prefetch is not None else sampler.state_dict(),
                    "generator": gens,
                    "carry": carries,
                    "config": to_yaml(cfg),
                },
            )

    def evaluate_and_export(run_eval: bool = True) -> None:
        if ema is not None:
            ema.swap(core)  # evaluate and export the EMA weights, without copying the model
        try:
            if test_data is not None and run_eval:
                metrics = evaluate(
                    fwd,
                    core,
                    test_data,
                    cfg.eval_batch_size or B,
                    device=rt.device,
                    dtype=rt.state_dtype,
                    autocast=autocast,
                    limit=cfg.eval_limit,
                    seed=cfg.seed,
                    rank=rt.rank,
                    world_size=rt.world_size,
                )
                log.log(step, {f"eval/{k}": v for k, v in metrics.items()})
                if rt.is_main and bar is not None:
                    exact, acc = metrics.get("exact_accuracy", 0.0), metrics.get("accuracy", 0.0)
                    bar.write(
                        f"step {step}: eval exact_accuracy {exact:.4f} accuracy {acc:.4f} "
                        f"(n={int(metrics['count'])})"
                    )
            if rt.is_main:
                save_inference(run_dir / INFERENCE, core, cfg)
        finally:
            if ema is not None:
                ema.swap(core)

    stop = {"signal": None}

    def check_finite() -> None:
        # the only host read of the loss flag (at log and checkpoint steps), agreed by all ranks
        if _any_rank(bad_loss, rt):
            raise TrmError(
                f"the loss became NaN or infinite before step {step}; stopped. The last good "
                f"checkpoint (step {last_good}) is kept in {run_dir / CHECKPOINT}"
            )

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    # --- the loop -----------------------------------------------------------------------
    # On CUDA the next batches are prepared in a thread while the GPU works.
    prefetch = Prefetcher(sampler, rt.device) if rt.device.type == "cuda" else None
    sampler_state = sampler.state_dict()
    bar = tqdm(
        total=steps_total, initial=step, disable=not (progress and rt.is_main), dynamic_ncols=True
    )
    sums: dict[str, torch.Tensor] = {}
    shown: dict[str, float] = {}  # the progress bar's last known loss and accuracies
    bad_loss = torch.zeros((), dtype=torch.bool, device=rt.device)
    last_good, t_last, step_last = step, time.perf_counter(), step
    try:
        while step < steps_total:
            # one optimiser step = one supervision step on every slot
            if prefetch is not None:
                batch, sampler_state = prefetch.next()
            else:
                batch = sampler.next_batch()
            if carry is None:
                carry = initial_carry(core, batch, rt.state_dtype)
            step += 1
            lr = learning_rate(step, cfg.lr, cfg.lr_warmup_steps, steps_total, cfg.lr_min_ratio)
            lr_e = learning_rate(
                step, cfg.puzzle_emb_lr, cfg.lr_warmup_steps, steps_total, cfg.lr_min_ratio
            )
            carry, loss, metrics = train_step(
                fwd,
                core,
                carry,
                batch,
                adam,
                ema,
                cfg,
                lr,
                lr_e,
                loss_scale=1 / (b if rt.world_size > 1 else B),  # DDP averages
                generator=generator,
                autocast=autocast,
            )
            bad_loss |= ~torch.isfinite(loss.detach())
            for k, v in metrics.items():  # stays on the device: no host sync inside a step
                sums[k] = sums.get(k, 0) + v
            bar.update(1)

            if step % cfg.log_every_steps == 0 or step == steps_total:
                check_finite()
                now = time.perf_counter()
                values = _reduce_metrics(sums, rt)
                values = normalise_metrics(values, batch_size=B * (step - step_last))
                values["lr"] = lr
                values["sample_steps_per_s"] = B * (step - step_last) / max(now - t_last, 1e-9)
                log.log(step, {f"train/{k}": v for k, v in values.items()})
                shown.update(  # accuracies only when some slot halted: else the last known
                    {k: values[k] for k in ("lm_loss", "accuracy", "exact_accuracy") if k in values}
                )
                bar.set_postfix(
                    {short: f"{shown[k]:.3f}" for short, k in POSTFIX if k in shown},
                    sps=f"{values['sample_steps_per_s']:.1f}",
                )
                sums, t_last, step_last = {}, now, step
            if step % eval_every == 0 or step == steps_total:
                evaluate_and_export()
            if (
                step % cfg.checkpoint_every_steps == 0
                or step % eval_every == 0
                or step == steps_total
            ):
                check_finite()
                checkpoint()
                last_good = step
            if step == stop_at_step:
                stop["signal"] = "stop_at_step"
            if stop["signal"] is not None:
                if not _any_rank(bad_loss, rt):
                    checkpoint()
                    evaluate_and_export(run_eval=False)  # the inference weights of this step
                raise Interrupted(
                    f"stopped by signal {stop['signal']} at step {step}; "
                    f"resume with: trm train --resume {run_dir}"
                )
    finally:
        bar.close()
        if prefetch is not None:
            prefetch.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    return run_dir


def _any_rank(flag: torch.Tensor, rt: Runtime) -> bool:
    """True on every rank when ``flag`` is set on any rank (a collective under DDP)."""
    if rt.world_size == 1:
        return bool(flag)
    import torch.distributed as dist

    v = flag.to(torch.int32).reshape(1)
    dist.all_reduce(v, op=dist.ReduceOp.MAX)
    return bool(v.item())


def _gather(obj: list, rt: Runtime) -> list:
    """Objects of every rank, in rank order (a single-element list on one process)."""
    if rt.world_size == 1:
        return obj
    import torch.distributed as dist

    out = [None] * rt.world_size
    dist.all_gather_object(out, obj[0])
    return out


def _reduce_metrics(sums: dict[str, torch.Tensor], rt: Runtime) -> dict[str, float]:
    keys = sorted(sums)
    vec = torch.stack([sums[k].float() for k in keys])
    if rt.world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(vec)
    return dict(zip(keys, vec.tolist()))


def train_from_cli(
    config_path: str | None,
    overrides: list[str],
    resume: str | None,
    print_config: bool,
    progress: bool = True,
    overwrite: bool = False,
) -> int:
    """``trm train``: load the config (or the run's saved one when resuming) and train.

    ``--resume DIR`` continues with the config saved in DIR; ``key=value`` overrides apply on
    top of it (and are named in the resume message). A CONFIG file with ``--resume`` is an
    error: the run's own config is the one that resumes exactly.
    """
    if config_path and "=" in config_path and not Path(config_path).exists():
        config_path, overrides = None, [config_path, *overrides]  # only overrides were given
    if resume:
        if config_path:
            raise TrmError(
                f"--resume {resume} continues with that run's saved config; drop {config_path} "
                "(key=value overrides still apply on top of the saved config)"
            )
        if overwrite:
            raise TrmError("--resume continues a run and --overwrite replaces it: pick one")
        saved = Path(resume) / "config.yaml"
        if not saved.is_file():
            raise TrmError(f"{resume}: not a run directory (no config.yaml)")
        cfg = load_config(saved, overrides)
        if overrides:
            print(f"trm: on top of {saved}: {' '.join(overrides)}", file=sys.stderr)
    else:
        cfg = load_config(config_path, overrides)
    if print_config:
        print(to_yaml(cfg).rstrip("\n"))  # exactly one final newline
        return 0
    if not cfg.data_path:
        raise TrmError("data_path is not set: pass data_path=DIR (a dataset built by `trm build`)")
    if not math.isfinite(cfg.lr):
        raise TrmError("lr must be finite")
    run_dir = train(cfg, config_path, resume, progress=progress, overwrite=overwrite)
    print(f"run directory: {run_dir}")
    return 0
