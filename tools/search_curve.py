"""Solved puzzles against network steps per puzzle: one pass, views only, and ``--search``.

For each list of hard Sudoku puzzles or rung of the maze ladder (``--lists``: a seeded sample of
``--limit`` puzzles each) the shipped model of the list's kind (or ``--checkpoint``) solves the
same puzzles once per strategy, as
``trm solve`` does: ``--views K`` for every K of ``--views`` (K = 1 is the one pass), and
``--search --budget B`` for every B of ``--budgets``. Every view and every search node costs its
supervision steps; the tool records the share of puzzles whose answer passes the rules, the mean
and median network steps per puzzle, the wall time per puzzle on this machine, and who found
the answers (the one pass, another view, the search's further views at depth 0, or a search
node with committed cells). Writes ``OUT.json``, ``OUT.md`` and ``OUT.png``::

    python tools/search_curve.py --lists forum g17 --limit 30 --views 1 8 64 \\
        --budgets 128 256 512 1024 2048 --threads 1 --out docs/search
    python tools/search_curve.py --lists forum --limit 30 --views --budgets 4096 8192 \\
        --threads 1 --out docs/search --append   # more points in the same files

    python tools/search_curve.py --lists maze-p10-20 maze-p30-40 --limit 50 --views 1 8 \
        --budgets 512 2048 --max-steps 32 --threads 2 --out docs/search_maze
    python tools/search_curve.py --lists maze-p60-80 --limit 10 --views --budgets 2048 \
        --max-steps 32 --threads 2 --out docs/search_maze --append

(the Sudoku lines: about 16 and 11 minutes on one busy CPU thread; the first maze line about 32
minutes on two idle threads). Each row records its number of puzzles, so rows of different
``--limit`` share a table. ``--views --budgets`` (both empty) with
``--append`` only redraws the files. A maze has 8 views; ``--max-steps`` bounds each view of the
first pass (default: the model's trained steps).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import trm
from trm.figures import pyplot, save_figure
from trm.puzzles import KINDS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "sudoku"
MAZES = ROOT / "data" / "maze-ladder" / "csv"  # python tools/maze_ladder.py builds it
LISTS = {  # name -> (kind, CSV with question and answer columns)
    "forum": ("sudoku", SHARED / "forum_hardest_1905_11plus_10k.csv"),  # forum hardest, SE >= 11
    "magictour": ("sudoku", SHARED / "magictour_top1465.csv"),
    "g17": ("sudoku", ROOT / "data" / "ladder" / "csv" / "g17.csv"),  # 500 held-out 17-clue
    "17clue": ("sudoku", SHARED / "17_clue_sample2000.csv"),
    **{f"maze-{r}": ("maze", MAZES / f"{r}.csv") for r in ("p10-20", "p30-40", "p60-80", "p110+")},
}


def _grid(kind: str, line: str) -> np.ndarray:
    """One CSV cell as a grid: a Sudoku line, or a maze's n*n characters row by row."""
    if kind == "maze":
        side = round(len(line) ** 0.5)
        line = "\n".join(line[i : i + side] for i in range(0, len(line), side))
    return KINDS[kind].parse(line)


def load_list(name: str, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of ``limit`` puzzles of a list (in file order): questions and answers."""
    kind, path = LISTS[name]
    if not path.is_file():
        raise SystemExit(
            f"{path}: not found (g17: python tools/sudoku_ladder.py builds it; maze-*: "
            "python tools/maze_ladder.py --count 300 --out data/maze-ladder)"
        )
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if 0 < limit < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in keep]
    questions = np.stack([_grid(kind, r["question"]) for r in rows])
    return questions, np.stack([_grid(kind, r["answer"]) for r in rows])


def measure(
    solver, questions, answers, *, views: int, budget: int | None, batch: int, max_steps=None
) -> dict:
    """One strategy on one list: solved share, steps per puzzle, wall time, who found it."""
    start = time.perf_counter()
    results = solver.solve(
        list(questions), views=views, search=budget is not None, budget=budget,
        batch_size=batch, max_steps=max_steps,
    )  # fmt: skip
    wall = time.perf_counter() - start
    steps = np.array([r.network_steps for r in results], np.float64)
    n = len(results)

    def share(test) -> float:
        return sum(bool(test(r)) for r in results) / n

    return {
        "strategy": "search" if budget else ("one pass" if views == 1 else "views"),
        "views": views,
        "budget": budget,
        "puzzles": n,
        "verified": share(lambda r: r.verified),
        "exact": float(np.mean([np.array_equal(r.answer, a) for r, a in zip(results, answers)])),
        "mean_steps": float(steps.mean()),
        "median_steps": float(np.median(steps)),
        "wall_s_per_puzzle": wall / n,
        "by_one_pass": share(lambda r: r.method == "verified" and r.view_verified[0]),
        "by_views": share(lambda r: r.method == "verified" and not r.view_verified[0]),
        "by_search_views": share(lambda r: r.method == "search" and r.search_depth == 0),
        "by_search_commits": share(lambda r: r.method == "search" and r.search_depth > 0),
    }


def table(rows: list[dict]) -> str:
    """The Markdown table of every measured point."""
    lines = [
        "| list | strategy | views | budget | solved (rules) | mean steps | median steps | "
        "wall s/puzzle | one pass | other views | search: views | search: commits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['list']} | {r['strategy']} | {r['views']} | {r['budget'] or '-'} | "
            f"{r['verified']:.0%} | {r['mean_steps']:.0f} | {r['median_steps']:.0f} | "
            f"{r['wall_s_per_puzzle']:.2f} | {r['by_one_pass']:.0%} | {r['by_views']:.0%} | "
            f"{r['by_search_views']:.0%} | {r['by_search_commits']:.0%} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Solved share against mean network steps per puzzle, views and search per list."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4))
    for name in dict.fromkeys(r["list"] for r in rows):
        for strategy, marker in (("views", "o"), ("search", "s")):
            pts = [
                r
                for r in rows
                if r["list"] == name
                and (r["strategy"] == strategy or (strategy == "views" and r["views"] == 1))
                and (strategy == "search") == (r["budget"] is not None)
            ]
            if pts:
                pts.sort(key=lambda r: r["mean_steps"])
                xs = [r["mean_steps"] for r in pts]
                ys = [100 * r["verified"] for r in pts]
                ax.plot(xs, ys, marker=marker, label=f"{name}: {strategy}")
                for r, x, y in zip(pts, xs, ys):  # what each point spent: views or budget
                    note = f"B{r['budget']}" if r["budget"] else f"K{r['views']}"
                    ax.annotate(
                        note, (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points"
                    )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("mean network supervision steps per puzzle (K views; search budget B)")
    ax.set_ylabel("puzzles solved, answer checked by the rules (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def settings(args: argparse.Namespace) -> dict:
    """What must match for two runs' points to share one table (each row says its puzzles)."""
    keys = ("checkpoint", "seed", "threads", "precision", "batch_size", "max_steps")
    return {k: getattr(args, k) for k in keys}


def earlier(args: argparse.Namespace, out: Path) -> tuple[list[dict], list[str]]:
    """With ``--append``: the points and commands already in OUT.json (same settings)."""
    path = out.with_suffix(".json")
    if not args.append or not path.is_file():
        return [], []
    saved = json.loads(path.read_text())
    if {k: saved.get(k) for k in settings(args)} != settings(args):
        raise SystemExit(f"{path}: measured with other settings; drop --append")
    return saved["rows"], saved["commands"]


def write(rows: list[dict], commands: list[str], args: argparse.Namespace, out: Path) -> None:
    """OUT.json, OUT.md and OUT.png from the points measured so far."""
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = {**settings(args), "commands": commands, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(saved, indent=1) + "\n")
    ran = "".join(f"    {c}\n" for c in commands)
    out.with_suffix(".md").write_text(
        "# Solved puzzles against network steps: one pass, views, search\n\n"
        f"Measured by ({args.threads} thread(s), precision {args.precision}, shipped model "
        f"unless `--checkpoint`):\n\n{ran}\n"
        "Each strategy solves the same seeded sample of each list; a view or a search node "
        "costs its supervision steps. *solved*: the answer passes the rules. *search: views*: "
        "found by the search's further symmetric views (depth 0); *search: commits*: by a node "
        "with committed cells.\n\n" + table(rows) + "\n"
    )
    plot(rows, out.with_suffix(".png"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lists", nargs="+", choices=sorted(LISTS), default=["forum", "g17"])
    p.add_argument("--limit", type=int, default=50, help="puzzles per list (0: all)")
    p.add_argument("--views", type=int, nargs="*", default=[1, 8, 64, 256])
    p.add_argument("--budgets", type=int, nargs="*", default=[128, 256, 512, 1024, 2048])
    p.add_argument("--checkpoint", default=None, help="default: the shipped model of the kind")
    p.add_argument("--max-steps", type=int, default=None, help="step limit of each view")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/search", help="path without suffix")
    p.add_argument("--append", action="store_true", help="add to the points in OUT.json")
    args = p.parse_args(argv)
    given = args.checkpoint  # recorded as the kinds' names when not given ("sudoku")
    args.checkpoint = given or "+".join(dict.fromkeys(LISTS[n][0] for n in args.lists))
    out = Path(args.out)
    rows, commands = earlier(args, out)
    if not args.views and not args.budgets:  # nothing to measure: redraw the files
        return write(rows, commands, args, out)
    commands.append(" ".join(["python tools/search_curve.py", *(argv or sys.argv[1:])]))
    torch.set_num_threads(args.threads)
    solvers: dict = {}
    for name in args.lists:
        kind = LISTS[name][0]
        if kind not in solvers:
            solvers[kind] = trm.load(given or kind, device="cpu", precision=args.precision)
        solver = solvers[kind]
        questions, answers = load_list(name, args.limit, args.seed)
        plan = [(v, None) for v in args.views] + [(1, b) for b in args.budgets]
        for views, budget in plan:
            row = {
                "list": name,
                **measure(
                    solver,
                    questions,
                    answers,
                    views=views,
                    budget=budget,
                    batch=args.batch_size,
                    max_steps=args.max_steps,
                ),  # fmt: skip
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            write(rows, commands, args, out)


if __name__ == "__main__":
    main()
