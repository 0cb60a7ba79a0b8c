"""`trm eval`: accuracy of a checkpoint on a test split, halting, steps, and accuracy against views.

Sudoku and Maze: exact and verified accuracy (the answer passes the rules: any shortest path of
a maze, not only the dataset's) after all supervision steps (the paper's number), halting
accuracy of that last step (``q_halt > 0`` exactly when the answer is right), exact accuracy and
mean steps with adaptive halting, and with ``views`` > 1 the accuracy of the returned answer
for K = 1, 2, 4, ... views (views are nested, so one run gives every K). With a ``Search``:
verified and exact accuracy when the puzzles no view solved are searched, the network steps per
puzzle (mean and median, first pass included) and the share of puzzles whose answer was found by
the one pass, by another view or by the search. ARC: pass@1 and pass@2 per test input by voting
over augmented views (SPEC §8.3), fresh votes every call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from trm.act import Halting, stream
from trm.config import TrainConfig
from trm.data import PuzzleDataset
from trm.errors import TrmError
from trm.evaluate import evaluate, select_rows
from trm.figures import pyplot, save_figure
from trm.inference.search import Search, check_budget
from trm.inference.solve import SolveResult, choose, solve_grids
from trm.inference.votes import Votes, pass_at_k
from trm.model import TinyRecursiveModel
from trm.puzzles import KINDS, arc
from trm.runtime import Runtime
from trm.safe_io import read_json


def _ks(views: int) -> list[int]:
    ks = [1]
    while ks[-1] * 2 < views:
        ks.append(ks[-1] * 2)
    return ks + [views] if views > 1 else ks


def eval_report(
    model: TinyRecursiveModel,
    cfg: TrainConfig,
    data_dir: str,
    *,
    halting: Halting,
    runtime: Runtime | None = None,
    views: int = 1,
    limit: int = 0,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    search: Search | None = None,
) -> dict:
    """The report dict of ``trm eval`` (plain values, JSON-able).

    The first measurement runs every puzzle for the model's trained maximum of supervision
    steps (the paper's number), or for exactly N steps when ``halting`` is fixed (``--steps``);
    a halting that may stop early (``head``, ``rules``, ``both``) is measured next, and the
    views table and the search use it too.
    """
    data = PuzzleDataset(data_dir, "test")
    meta = data.metadata
    if int(meta["seq_len"]) != model.cfg.seq_len or int(meta["vocab_size"]) != model.cfg.vocab_size:
        raise TrmError(
            f"{data_dir}: dataset has {meta['seq_len']} tokens over {meta['vocab_size']} symbols "
            f"but the model takes {model.cfg.seq_len} over {model.cfg.vocab_size}"
        )
    kind = cfg.kind
    if kind == "arc":  # ARC is scored per task by voting, not per row
        return _evaluate_arc(
            model, data, views, limit, batch_size, halting, runtime, seed, progress
        )
    trained = model.cfg.max_supervision_steps
    if search is not None:  # before the first measurement, not after it
        check_budget(search, views, halting.max_steps or trained)
    fixed = (halting.max_steps or trained) if halting.mode == "fixed" else trained
    n = len(select_rows(data.num_examples, limit, seed))
    report: dict = {"checkpoint_kind": kind, "data": str(data_dir), "puzzles": n}
    run = dict(batch_size=batch_size, limit=limit, seed=seed, runtime=runtime)
    with _bar(progress, n, f"eval: {n} puzzles, all {fixed} steps") as bar:
        m = evaluate(
            model, data, halting=Halting(max_steps=fixed, adaptive=False), progress=bar, **run
        )
    report.update(
        steps=fixed,
        exact_accuracy=m.get("exact_accuracy", 0.0),
        token_accuracy=m.get("accuracy", 0.0),
        halting_accuracy=m.get("q_halt_accuracy", 0.0),
        **_verified(m, ""),
    )
    if halting.mode != "fixed":
        limit_steps = halting.max_steps or trained
        about = f"eval: {n} puzzles, halt by {halting.mode} within {limit_steps} steps"
        with _bar(progress, n, about) as bar:
            ada = evaluate(model, data, halting=halting, progress=bar, **run)
        report.update(
            adaptive_exact_accuracy=ada.get("exact_accuracy", 0.0),
            adaptive_mean_steps=ada.get("steps", 0.0),
            adaptive_halt=halting.mode,
            adaptive_max_steps=limit_steps,
            **_verified(ada, "adaptive_"),
        )
    if kind in KINDS and (views > 1 or search is not None):
        rows = select_rows(data.num_examples, limit, seed)
        inputs = np.asarray(data.inputs[rows], np.int64)
        labels = np.asarray(data.labels[rows], np.int64)
        results, truth = _solve_rows(
            model, kind, inputs, labels, views, batch_size, halting, runtime, seed, progress, search
        )
        if search is not None:
            report.update(search_report(results, truth, search))
        if views > 1:
            report["views"] = _views_table(results, truth, views)
    return report


def _verified(metrics: dict, prefix: str) -> dict:
    """``verified_accuracy`` (answers that pass the rules) where the kind has rules."""
    if "verified_accuracy" not in metrics:
        return {}
    return {f"{prefix}verified_accuracy": metrics["verified_accuracy"]}


def _bar(progress: bool, total: int, desc: str, unit: str = "puzzle") -> tqdm:
    """A labelled bar on stderr, only when ``progress`` and stderr is a terminal."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress or None, leave=False)


# Puzzles per call when searching: the search keeps every view's last probabilities.
SEARCH_CHUNK = 256


def _solve_rows(
    model, kind, inputs, labels, views, batch_size, halting, runtime, seed, progress, search
) -> tuple[list[SolveResult], np.ndarray]:
    """The ``trm solve`` results of the rows (views, and the search when given), and the true
    answers as grids."""
    questions, _ = KINDS[kind].decode_answers(inputs)
    truth, _ = KINDS[kind].decode_answers(labels)
    about = f"eval: {len(inputs)} puzzles x {views} views" + (" + search" if search else "")
    chunk = SEARCH_CHUNK if search is not None else max(1, len(questions))
    results: list[SolveResult] = []
    with _bar(progress, len(inputs) * views, about, "view") as bar:
        for start in range(0, len(questions), chunk):
            results += solve_grids(
                model,
                kind,
                questions[start : start + chunk],
                views=views,
                halting=halting,
                runtime=runtime,
                batch_size=batch_size,
                seed=seed,
                progress=bar,
                search=search,
                every_view=True,  # the views table reads each view's own answer
            )
    return results, truth


def search_report(results: list[SolveResult], truth: np.ndarray, search: Search) -> dict:
    """Accuracy with the search, network steps per puzzle, and who found the answers: the
    one pass (the identity view), another view of the first pass, or the search."""
    n = max(1, len(results))
    steps = np.array([r.network_steps for r in results], np.float64)
    one_pass = sum(r.method == "verified" and bool(r.view_verified[0]) for r in results)
    by_search = sum(r.method == "search" for r in results)
    verified = sum(bool(r.verified) for r in results)
    return {
        "search_budget": search.budget,
        "search_verified_accuracy": verified / n,
        "search_exact_accuracy": float(
            np.mean([np.array_equal(r.answer, t) for r, t in zip(results, truth)]) if results else 0
        ),
        "search_found_by_one_pass": one_pass / n,
        "search_found_by_views": (verified - one_pass - by_search) / n,
        "search_found_by_search": by_search / n,
        "search_mean_network_steps": float(steps.mean()) if len(steps) else 0.0,
        "search_median_network_steps": float(np.median(steps)) if len(steps) else 0.0,
    }


def _views_table(results: list[SolveResult], truth: np.ndarray, views: int) -> list[dict]:
    """Verified and exact accuracy of the first pass's answer for K = 1, 2, 4, ... views
    (the search left out)."""
    table = []
    for k in _ks(views):
        picks = [
            choose(np.stack(r.view_answers[:k]), r.view_verified[:k], r.view_steps[:k], np.zeros(k))
            for r in results
        ]
        table.append(
            {
                "views": k,
                "verified_accuracy": float(np.mean([p.verified for p in picks])),
                "exact_accuracy": float(
                    np.mean([np.array_equal(p.answer, t) for p, t in zip(picks, truth)])
                ),
            }
        )
    return table


def _evaluate_arc(
    model, data: PuzzleDataset, views, limit, batch_size, halting: Halting, runtime, seed, progress
) -> dict:
    """pass@k over the test split's augmented rows, voting per (task, test input)."""
    names = read_json(data.root / "identifiers.json")
    tasks = {
        n: arc.task_from_json(t, n) for n, t in read_json(data.root / "test_puzzles.json").items()
    }
    if 0 < limit < len(tasks):
        keep = np.random.default_rng(seed).choice(sorted(tasks), limit, replace=False)
        tasks = {n: tasks[n] for n in sorted(keep)}
    ids = data.puzzle_identifiers[data.puzzle_of_rows(np.arange(data.num_examples))]
    parsed = [arc.parse_augmented_name(names[i]) for i in ids]
    rows = np.array([r for r in range(data.num_examples) if parsed[r][0] in tasks], np.int64)
    inputs = np.asarray(data.inputs[rows], np.int64)
    with _bar(
        progress, len(rows), f"eval: {len(tasks)} ARC tasks, {len(rows)} views", "view"
    ) as bar:
        run = stream(
            model,
            inputs,
            puzzle_ids=ids[rows],
            halting=halting,
            batch_size=batch_size,
            runtime=runtime,
            progress=bar,
        )
    votes_rows = []  # (task, input hash, prediction, q, rank of the row within its slot)
    seen: dict[tuple[str, str], int] = {}
    for j, r in enumerate(rows):
        task, aug = parsed[r]
        key = (task, arc.grid_hash(aug.invert(arc.decode(inputs[j]))))
        rank = seen.get(key, 0)
        seen[key] = rank + 1
        pred = arc.decode(run.preds[j])
        if pred.size:
            votes_rows.append((key, aug.invert(pred), float(run.q_halt[j]), rank))
    max_views = max(seen.values(), default=1)
    ks = _ks(min(views, max_views)) if views > 1 else [max_views]
    table = []
    for k in ks:
        votes = Votes()  # votes reset for every evaluation
        for (task, h), pred, q, rank in votes_rows:
            if rank < k:
                votes.add(task, h, pred, q)
        scores = pass_at_k(votes, tasks, (1, 2))
        table.append({"views": k, **scores})
    last = table[-1]
    return {
        "checkpoint_kind": "arc",
        "data": str(data.root),
        "tasks": len(tasks),
        "rows": int(len(rows)),
        "mean_steps": float(run.steps.mean()) if len(rows) else 0.0,
        "pass@1": last["pass@1"],
        "pass@2": last["pass@2"],
        "views": table,
    }


def format_report(report: dict) -> str:
    """Human-readable lines, with the views table when there is one."""
    lines = [
        f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
        for k, v in report.items()
        if k != "views"
    ]
    table = report.get("views")
    if table:
        cols = [c for c in table[0] if c != "views"]
        lines.append("views  " + "  ".join(f"{c:>18}" for c in cols))
        for row in table:
            lines.append(f"{row['views']:>5}  " + "  ".join(f"{row[c]:>18.4f}" for c in cols))
    return "\n".join(lines)


def write_plot(report: dict, path: str) -> Path:
    """Accuracy against the number of views as a PNG; the path written."""
    table = report.get("views")
    if not table:
        raise TrmError("--plot needs a views table: pass --views K with K > 1")
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    ks = [row["views"] for row in table]
    for col in (c for c in table[0] if c != "views"):
        ax.plot(ks, [row[col] for row in table], marker="o", label=col)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("views K")
    ax.set_ylabel("accuracy")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
