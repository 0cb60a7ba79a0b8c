"""Time to accuracy: train recipes side by side for one FLOP budget and compare held-out accuracy.

Each recipe (a name or YAML path, plus ``key=value`` overrides) trains once per seed with the
same proxy overrides (``--set``: a small model, one thread) for the FLOPs of ``--budget``
(matrix products, ``trm.flops``), evaluating exact accuracy (``--metric verified``: answers
that pass the rules, any shortest path of a maze) on the dataset's test split at
``--points`` evenly spaced steps. A run directory that already finished is read, not re-run;
an unfinished one resumes, so the benchmark can be continued across sessions. Writes
``NAME.json`` (every evaluation), ``NAME.md`` (the table) and ``NAME.png`` (accuracy against
FLOPs) under ``--out``::

    python tools/time_to_accuracy.py --data data/sudoku-proxy --budget 2e13 --seeds 0 1 \\
        --recipe paper=sudoku_mlp --recipe fast=sudoku_fast --set model.dim=64 threads=1 \\
        --out docs --name time_to_accuracy
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path
from typing import NamedTuple

from trm.config import TrainConfig, check_recipe_options, resolve_config
from trm.data import PuzzleDataset
from trm.figures import pyplot, save_figure
from trm.flops import run_training_flops
from trm.metrics_log import read_metrics
from trm.run_layout import CHECKPOINT
from trm.train_data import fill_from_data
from trm.training import train


def run_config(recipe: str, overrides: list[str], data: str, seed: int, run_dir: Path, args):
    """The recipe's config sized to the budget: steps, evaluation points, checkpoints.

    A recipe's own overrides win over ``--set`` and ``--data`` (``data_path=`` of another build
    with the same test split compares training data)."""
    cfg = resolve_config(
        recipe, [*args.set, f"data_path={data}", *overrides, f"seed={seed}", f"run_dir={run_dir}"]
    )
    fill_from_data(cfg, PuzzleDataset(cfg.data_path, "train"))
    per_step = (
        run_training_flops(cfg.model, cfg.global_batch_size, 1000, 1000, cfg.depth_schedule) / 1000
    )
    steps = max(args.points, round(args.budget / per_step))
    cfg.max_steps = steps
    cfg.eval_every_steps = max(1, -(-steps // args.points))  # ceil: exactly `points` evals
    cfg.checkpoint_every_steps = cfg.eval_every_steps
    cfg.eval_limit = args.eval_limit
    cfg.lr_warmup_steps = min(cfg.lr_warmup_steps, max(1, steps // 10))
    check_recipe_options(cfg)
    return cfg


def evaluations(run_dir: Path) -> list[dict]:
    """The run's evaluation rows: step, training FLOPs, exact and token accuracy."""
    return [
        {
            "step": m["step"],
            "flops": m["eval/flops"],
            "exact": m["eval/exact_accuracy"],
            "token": m.get("eval/accuracy", 0.0),
            "verified": m.get("eval/verified_accuracy"),  # kinds with rules; older runs: None
            "seconds": m.get("eval/seconds"),  # training wall time (runs before it: None)
        }
        for m in read_metrics(run_dir)
        if "eval/exact_accuracy" in m
    ]


class Run(NamedTuple):
    name: str
    spec: str
    seed: int
    recipe: str
    run_dir: Path
    cfg: TrainConfig


def _finished(run: Run) -> bool:
    return any(e["step"] == run.cfg.max_steps for e in evaluations(run.run_dir))


def _train_call(run: Run, progress: bool) -> tuple[tuple, dict]:
    """``trm.train.train``'s arguments for one run: resume what an earlier call left."""
    resume = str(run.run_dir) if (run.run_dir / CHECKPOINT).is_file() else None
    # no checkpoint yet: what a killed start left behind is replaced
    return (run.cfg, run.recipe, resume), {"progress": progress, "overwrite": resume is None}


def run_all(args) -> list[dict]:
    """Train (or read) every recipe x seed, ``--jobs`` at a time; one result dict per run."""
    runs = []
    for spec in args.recipe:
        name, _, rest = spec.partition("=")
        recipe, *overrides = rest.split()
        for seed in args.seeds:
            run_dir = Path(args.runs) / f"{name}-s{seed}"
            cfg = run_config(recipe, overrides, args.data, seed, run_dir, args)
            runs.append(Run(name, spec, seed, recipe, run_dir, cfg))
    if args.report_only:  # what earlier calls trained, runs that were never started left out
        runs, todo = [r for r in runs if evaluations(r.run_dir)], []
        if not runs:
            raise SystemExit(f"time_to_accuracy: no evaluated runs of these recipes in {args.runs}")
    else:
        todo = [r for r in runs if not _finished(r)]
    for r in todo:
        print(f"{r.name} seed {r.seed}: {r.cfg.max_steps} steps -> {r.run_dir}", flush=True)
    calls = [_train_call(r, args.progress) for r in todo]
    if args.jobs > 1 and len(todo) > 1:
        # separate processes (spawned: no forked torch state), each on its own threads, a fresh
        # one per run (a reused one kept the earlier runs' compiled graphs until torch.compile
        # hit its recompile limit and fell back to eager); the library's train (not a function
        # of this script) is importable in the children
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.jobs, maxtasksperchild=1) as pool:
            for pending in [pool.apply_async(train, a, kw) for a, kw in calls]:
                pending.get()
    else:
        for a, kw in calls:
            train(*a, **kw)
    return [
        {
            "recipe": r.name,
            "spec": r.spec,
            "seed": r.seed,
            "steps": r.cfg.max_steps,
            "evals": evaluations(r.run_dir),
        }
        for r in runs
    ]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def table(results: list[dict], metric: str = "exact") -> str:
    """Markdown: ``metric`` accuracy (exact or verified; mean and per seed) and token accuracy at
    each evaluation point, per recipe, then the training FLOPs at which each recipe's mean first
    reached 50% and 90%."""
    lines = [
        f"| recipe | step | training FLOPs | {metric} (mean) | {metric} per seed | token (mean) "
        "| wall |",
        "|---|---|---|---|---|---|---|",
    ]
    reached = []
    for name in dict.fromkeys(r["recipe"] for r in results):
        runs = [r for r in results if r["recipe"] == name]
        first: dict[float, str] = {0.5: "not reached", 0.9: "not reached"}
        wall_90 = "not reached"  # the mean training wall time when the mean first reached 90%
        for k, point in enumerate(runs[0]["evals"]):
            evals = [r["evals"][k] for r in runs if len(r["evals"]) > k]
            exact = _mean([e[metric] for e in evals])
            seeds = " / ".join(f"{e[metric]:.1%}" for e in evals)
            token = _mean([e["token"] for e in evals])
            flops = _mean([e["flops"] for e in evals])
            seconds = [e["seconds"] for e in evals]
            wall = "?" if None in seconds else f"{_mean(seconds) / 60:.1f} min"
            lines.append(
                f"| {name} | {point['step']} | {flops:.2e} | {exact:.1%} | {seeds} | {token:.1%} "
                f"| {wall} |"
            )
            for level in first:
                if exact >= level and first[level] == "not reached":
                    first[level] = f"{flops:.2e}"
                    if level == 0.9:
                        wall_90 = wall
        reached.append(f"| {name} | {first[0.5]} | {first[0.9]} | {wall_90} |")
    lines += [
        "",
        f"| recipe | FLOPs to 50% {metric} (mean) | FLOPs to 90% | training wall time to 90% |",
        "|---|---|---|---|",
    ]
    return "\n".join(lines + reached) + "\n"


def plot(results: list[dict], path: Path, title: str, metric: str = "exact") -> None:
    """``metric`` accuracy against training FLOPs, one line per run, coloured by recipe."""
    fig, ax = pyplot().subplots(figsize=(6.4, 4.2))
    names = list(dict.fromkeys(r["recipe"] for r in results))
    for r in results:
        colour = f"C{names.index(r['recipe'])}"
        xs = [0.0] + [e["flops"] for e in r["evals"]]
        ys = [0.0] + [100 * e[metric] for e in r["evals"]]
        label = f"{r['recipe']} (seed {r['seed']})"
        ax.plot(xs, ys, marker="o", color=colour, alpha=0.6 + 0.4 * (r["seed"] == 0), label=label)
    ax.set_xlabel("training FLOPs")
    ax.set_ylabel(f"{metric} accuracy on held-out puzzles (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a dataset built by `trm build`")
    p.add_argument("--recipe", action="append", required=True, help='"NAME=RECIPE [k=v ...]"')
    p.add_argument("--set", nargs="*", default=[], help="overrides for every run (the proxy)")
    p.add_argument("--budget", type=float, required=True, help="training FLOPs per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--points", type=int, default=4, help="evaluations per run")
    p.add_argument("--eval-limit", type=int, default=200, help="test puzzles per evaluation")
    p.add_argument("--runs", default="runs/tta", help="where the run directories go")
    p.add_argument("--out", default="docs")
    p.add_argument("--name", default="time_to_accuracy")
    p.add_argument(
        "--report-only", action="store_true", help="train nothing: report the runs that exist"
    )
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once (one process each)")
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    p.add_argument(
        "--metric",
        choices=("exact", "verified"),
        default="exact",
        help="exact (the dataset's answer) or verified (passes the rules: any shortest path)",
    )
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    results = run_all(args)
    missing = [r for r in results if any(e[args.metric] is None for e in r["evals"])]
    if missing:
        raise SystemExit(
            f"time_to_accuracy: run {missing[0]['recipe']} seed {missing[0]['seed']} has no "
            f"{args.metric} accuracy in its log (a kind without rules, or an older run)"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "data": args.data,
        "budget": args.budget,
        "set": args.set,
        "eval_limit": args.eval_limit,
        "metric": args.metric,
        "seconds_this_call": round(time.perf_counter() - t0, 1),
        "runs": results,
    }
    (out / f"{args.name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    recipes = "".join(f"- `{spec}`\n" for spec in args.recipe)
    header = (
        f"# Time to accuracy on `{args.data}`\n\n{args.budget:.1e} training FLOPs per run, seeds "
        f"{', '.join(map(str, args.seeds))}; {args.metric} accuracy on {args.eval_limit} held-out "
        f"test puzzles (EMA weights). Overrides for every run: `{' '.join(args.set) or 'none'}`. "
        f"Recipes:\n\n{recipes}\n"
    )
    (out / f"{args.name}.md").write_text(header + table(results, args.metric))
    title = f"{Path(args.data).name}, {args.budget:.1e} FLOPs"
    plot(results, out / f"{args.name}.png", title, args.metric)
    print(table(results, args.metric))


if __name__ == "__main__":
    main()
