"""Plot a run's learning curve (token and exact accuracy against steps) from its metrics log.

python tools/learning_curve.py runs/sudoku-cpu checkpoints/sudoku-mlp-cpu/learning_curve.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from trm.figures import pyplot, save_figure
from trm.metrics_log import read_metrics


def main(run_dir: str, png: str) -> None:
    rows = read_metrics(run_dir)
    if not rows:
        raise SystemExit(f"learning_curve: {run_dir} has no metrics log (not a run directory?)")
    fig, ax = pyplot().subplots(figsize=(7, 4))
    for key, style in [
        ("train/accuracy", "C0-"),
        ("train/exact_accuracy", "C1-"),
        ("eval/accuracy", "C0o--"),
        ("eval/exact_accuracy", "C1o--"),
    ]:
        # rows with no halted slot (count 0, e.g. just after a resume) carry no accuracy
        pts = [(r["step"], r[key]) for r in rows if key in r and r.get("train/count", 1) > 0]
        if pts:
            ax.plot(*zip(*pts), style, label=key, markersize=4)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(Path(run_dir).name)
    fig.tight_layout()
    save_figure(fig, png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
