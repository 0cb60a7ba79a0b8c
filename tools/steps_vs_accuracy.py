"""Accuracy and speed against the number of supervision steps, for each way of halting.

For every ``--max-steps`` M and ``--halt`` mode (``head``: the halting head; ``rules``: the answer
passes the rules; ``both``; ``fixed``: exactly M steps) the checkpoint solves the test split of
each dataset once (one view) and the tool records exact and verified accuracy (the answer
passes the rules: any shortest path of a maze), mean steps used and
puzzles/s (wall clock, this machine). Writes ``NAME.json``, ``NAME.md`` and ``NAME.png``::

    python tools/steps_vs_accuracy.py checkpoints/sudoku-mlp-cpu data/ladder/g25 data/ladder/g35 \\
        --max-steps 4 8 16 32 --out docs --name sudoku_steps
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from trm.data import PuzzleDataset
from trm.evaluate import evaluate
from trm.figures import pyplot, save_figure
from trm.inference.halting import halting_for
from trm.loading import load


def measure(model, cfg, data_dir: str, max_steps: int, halt: str, args) -> dict:
    """One (dataset, max_steps, halt) point."""
    data = PuzzleDataset(data_dir, "test")
    trained = model.cfg.max_supervision_steps
    if halt == "fixed":
        halting = halting_for(cfg.kind, trained, steps=max_steps)
    else:
        halting = halting_for(cfg.kind, trained, max_steps=max_steps, halt=halt)
    t0 = time.perf_counter()
    m = evaluate(model, data, args.batch_size, halting=halting, limit=args.limit, seed=0)
    seconds = time.perf_counter() - t0
    n = int(m["count"])
    return {
        "data": Path(data_dir).name,
        "max_steps": max_steps,
        "halt": halt,
        "exact": m.get("exact_accuracy", 0.0),
        "verified": m.get("verified_accuracy"),  # passes the rules (kinds with rules)
        "mean_steps": m.get("steps", 0.0),
        "puzzles": n,
        "puzzles_per_s": n / seconds,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| data | halt | max steps | exact accuracy | verified | mean steps | puzzles/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verified = "—" if r.get("verified") is None else f"{r['verified']:.1%}"
        lines.append(
            f"| {r['data']} | {r['halt']} | {r['max_steps']} | {r['exact']:.1%} | {verified} | "
            f"{r['mean_steps']:.1f} | {r['puzzles_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _accuracy(row: dict) -> float:
    return row["exact"] if row.get("verified") is None else row["verified"]


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Verified (else exact) accuracy and puzzles/s against the step limit, one line per
    dataset and halting."""
    fig, (ax, bx) = pyplot().subplots(1, 2, figsize=(10, 4))
    datas = list(dict.fromkeys(r["data"] for r in rows))
    halts = list(dict.fromkeys(r["halt"] for r in rows))
    styles = ["-", "--", ":", "-."]
    for i, d in enumerate(datas):
        for j, h in enumerate(halts):
            pts = [r for r in rows if r["data"] == d and r["halt"] == h]
            xs = [r["max_steps"] for r in pts]
            kw = dict(color=f"C{i}", linestyle=styles[j % 4], marker="o", label=f"{d}, {h}")
            ax.plot(xs, [100 * _accuracy(r) for r in pts], **kw)
            bx.plot(xs, [r["puzzles_per_s"] for r in pts], **kw)
    for a, label in ((ax, "verified (or exact) accuracy (%)"), (bx, "puzzles/s (1 view)")):
        a.set_xscale("log", base=2)
        a.set_xlabel("maximum supervision steps")
        a.set_ylabel(label)
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="run, inference directory or shipped name")
    p.add_argument("data", nargs="+", help="datasets whose test split is measured")
    p.add_argument("--max-steps", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    p.add_argument("--halt", nargs="+", default=["fixed", "head", "rules", "both"])
    p.add_argument("--limit", type=int, default=0, help="puzzles per dataset (0: all)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="docs")
    p.add_argument("--name", default="steps_vs_accuracy")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = load(args.checkpoint, device="cpu")
    rows = []
    for d in args.data:
        for halt in args.halt:
            for m in args.max_steps:
                rows.append(measure(model, cfg, d, m, halt, args))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    header = (
        f"`{args.checkpoint}`, one view, {args.limit or 'all'} puzzles of each test split, "
        f"batch {args.batch_size}, {torch.get_num_threads()} CPU thread(s). Command: "
        f"`python tools/steps_vs_accuracy.py {' '.join(argv or sys.argv[1:])}`\n\n"
    )
    (out / f"{args.name}.md").write_text(header + table(rows))
    plot(rows, out / f"{args.name}.png", f"{args.checkpoint}: steps against accuracy")
    print(table(rows))


if __name__ == "__main__":
    main()
