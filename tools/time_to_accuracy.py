"""Time to accuracy: train recipes side by side for one FLOP budget and compare held-out accuracy.

Each recipe (a name or YAML path, plus ``key=value`` overrides) trains once per seed with the
same proxy overrides (``--set``: a small model, one thread) for the FLOPs of ``--budget``
(matrix products, ``trm.flops``), evaluating exact accuracy on the dataset's test split at
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
import time
from pathlib import Path

from trm.data import PuzzleDataset
from trm.flops import run_training_flops
from trm.train import check_recipe_options, fill_from_data, resolve_config, train


def run_config(recipe: str, overrides: list[str], data: str, seed: int, run_dir: Path, args):
    """The recipe's config sized to the budget: steps, evaluation points, checkpoints."""
    cfg = resolve_config(
        recipe, [*overrides, *args.set, f"data_path={data}", f"seed={seed}", f"run_dir={run_dir}"]
    )
    fill_from_data(cfg, PuzzleDataset(data, "train"))
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
    rows = []
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        m = json.loads(line)
        if "eval/exact_accuracy" in m:
            rows.append(
                {
                    "step": m["step"],
                    "flops": m["eval/flops"],
                    "exact": m["eval/exact_accuracy"],
                    "token": m.get("eval/accuracy", 0.0),
                }
            )
    return rows


def run_all(args) -> list[dict]:
    """Train (or read) every recipe x seed; one result dict per run."""
    results = []
    for spec in args.recipe:
        name, _, rest = spec.partition("=")
        recipe, *overrides = rest.split()
        for seed in args.seeds:
            run_dir = Path(args.runs) / f"{name}-s{seed}"
            cfg = run_config(recipe, overrides, args.data, seed, run_dir, args)
            done = [e for e in evaluations(run_dir) if e["step"] == cfg.max_steps]
            t0 = time.perf_counter()
            if not done:
                resume = str(run_dir) if (run_dir / "checkpoint.pt").is_file() else None
                print(f"{name} seed {seed}: {cfg.max_steps} steps -> {run_dir}", flush=True)
                # no checkpoint yet: what a killed start left behind is replaced
                train(cfg, recipe, resume, progress=args.progress, overwrite=resume is None)
            results.append(
                {
                    "recipe": name,
                    "spec": spec,
                    "seed": seed,
                    "steps": cfg.max_steps,
                    "seconds_this_call": round(time.perf_counter() - t0, 1),
                    "evals": evaluations(run_dir),
                }
            )
    return results


def table(results: list[dict]) -> str:
    """Markdown: exact accuracy (mean and per seed) at each evaluation point, per recipe."""
    lines = [
        "| recipe | step | training FLOPs | exact accuracy (mean) | per seed |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["recipe"] for r in results):
        runs = [r for r in results if r["recipe"] == name]
        for k, point in enumerate(runs[0]["evals"]):
            accs = [r["evals"][k]["exact"] for r in runs if len(r["evals"]) > k]
            seeds = " / ".join(f"{a:.1%}" for a in accs)
            mean = sum(accs) / len(accs)
            lines.append(
                f"| {name} | {point['step']} | {point['flops']:.2e} | {mean:.1%} | {seeds} |"
            )
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    names = list(dict.fromkeys(r["recipe"] for r in results))
    for r in results:
        colour = f"C{names.index(r['recipe'])}"
        xs = [0.0] + [e["flops"] for e in r["evals"]]
        ys = [0.0] + [100 * e["exact"] for e in r["evals"]]
        label = f"{r['recipe']} (seed {r['seed']})"
        ax.plot(xs, ys, marker="o", color=colour, alpha=0.6 + 0.4 * (r["seed"] == 0), label=label)
    ax.set_xlabel("training FLOPs")
    ax.set_ylabel("exact accuracy on held-out puzzles (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


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
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    args = p.parse_args(argv)
    results = run_all(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"data": args.data, "budget": args.budget, "set": args.set, "runs": results}
    (out / f"{args.name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(table(results))
    plot(results, out / f"{args.name}.png", f"{Path(args.data).name}, {args.budget:.1e} FLOPs")
    print(table(results))


if __name__ == "__main__":
    main()
