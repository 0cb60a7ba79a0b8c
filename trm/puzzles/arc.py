"""ARC: task JSON, terminal rendering, the 30x30 token canvas with EOS markers, augmentations.

A *grid* is an (h, w) integer array of colours 0..9 with 1 <= h, w <= 30. A *task* is a set of
demonstration pairs (``train``) and test pairs (``test``, whose outputs may be unknown).

Tokens (SPEC §2.4, §3.3): PAD = 0, EOS = 1, colour c -> c + 2. A grid is written at an offset
(r0, c0) into a 30x30 canvas, with EOS on the row below it and the column right of it (the
corner cell stays PAD), then flattened row-major to 900 tokens.

An augmentation is a dihedral transform ``t`` (0..7, SPEC §3.4) after a colour permutation
that keeps colour 0; augmented puzzles are named ``<task>|||t<t>|||<10 digits of the map>``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trm.puzzles.base import PAD, PuzzleError, Symmetry, dihedral, inverse_dihedral
from trm.safe_io import read_json

NAME = "arc"
SIZE = 30  # canvas side
SEQ_LEN = SIZE * SIZE
ABOUT = (  # `trm solve arc --help`
    "Solve ARC-AGI tasks given as JSON {train: [{input, output}], test: [{input}]}: votes "
    "over --views augmented views (default 8); a task unseen in training gets a puzzle "
    "embedding fitted on its demonstrations (--adapt-steps)."
)
FILE_FORMAT = "a task JSON file"
ONE_GRID = False  # a puzzle is a task: demonstration pairs and test inputs
EOS = 1
COLOUR_OFFSET = 2  # token id of colour 0
HAS_RULES = False  # verify() checks an answer by the rules (ARC: no rules, None)
CAN_SEARCH = False  # the search needs rules to check its answers
SEARCH_DEFAULTS: dict = {}
VOCAB_SIZE = 12  # PAD, EOS, 10 colours
SEPARATOR = "|||"

# The usual ARC palette (RGB), colours 0..9.
PALETTE = (
    (0, 0, 0), (0, 116, 217), (255, 65, 54), (46, 204, 64), (255, 220, 0),
    (170, 170, 170), (240, 18, 190), (255, 133, 27), (127, 219, 255), (135, 12, 37),
)  # fmt: skip

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class Task:
    """One ARC task: demonstration pairs and test pairs (a test output is ``None`` if unknown)."""

    name: str
    train: list[Pair]
    test: list[tuple[np.ndarray, np.ndarray | None]]

    def to_json(self) -> dict:
        """The task in ARC JSON form (unknown test outputs are left out)."""

        def pair(i: np.ndarray, o: np.ndarray | None) -> dict:
            d = {"input": i.tolist()}
            if o is not None:
                d["output"] = o.tolist()
            return d

        return {
            "train": [pair(i, o) for i, o in self.train],
            "test": [pair(i, o) for i, o in self.test],
        }


# --- parsing and validation ----------------------------------------------------------------


def validate_grid(grid: object, where: str) -> np.ndarray:
    """Check one grid (a list of rows of ints 0..9, at most 30x30) and return it as uint8.

    ``where`` prefixes the message, e.g. ``task 007bbfb7 train pair 2 output``; positions are
    0-based like the JSON lists.
    """
    if not isinstance(grid, list) or not grid:
        raise PuzzleError(f"{where}: expected a non-empty list of rows, got {_short(grid)}")
    if len(grid) > SIZE:
        raise PuzzleError(f"{where}: {len(grid)} rows, at most {SIZE} allowed")
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            raise PuzzleError(f"{where}: row {r} is not a non-empty list of colours")
        if width is None:
            width = len(row)
            if width > SIZE:
                raise PuzzleError(f"{where}: {width} columns, at most {SIZE} allowed")
        elif len(row) != width:
            raise PuzzleError(f"{where}: row {r} has {len(row)} cells, row 0 has {width}")
        for c, v in enumerate(row):
            if type(v) is not int or not 0 <= v <= 9:
                raise PuzzleError(
                    f"{where}: colour {_short(v)} at row {r}, column {c} (expected 0..9)"
                )
    return np.array(grid, dtype=np.uint8)


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, np.ndarray) else str(value.tolist())
    return text if len(text) <= 20 else text[:17] + "..."


def _pairs(obj: dict, key: str, where: str, need_output: bool) -> list:
    pairs = obj.get(key)
    if not isinstance(pairs, list) or not pairs:
        raise PuzzleError(f"{where}: {key!r} must be a non-empty list of pairs")
    out = []
    for k, pair in enumerate(pairs):
        at = f"{where} {key} pair {k}"
        if not isinstance(pair, dict) or "input" not in pair:
            raise PuzzleError(f"{at}: expected an object with 'input' and 'output'")
        if need_output and "output" not in pair:
            raise PuzzleError(f"{at}: missing 'output'")
        i = validate_grid(pair["input"], f"{at} input")
        o = validate_grid(pair["output"], f"{at} output") if "output" in pair else None
        out.append((i, o))
    return out


def task_from_json(obj: object, name: str, where: str = "") -> Task:
    """Validate a decoded ARC task object and return a Task (``where`` prefixes errors)."""
    at = f"{where}task {name}"
    if not isinstance(obj, dict):
        raise PuzzleError(f"{at}: expected an object with 'train' and 'test', got {_short(obj)}")
    return Task(name, _pairs(obj, "train", at, True), _pairs(obj, "test", at, False))


def _load_json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PuzzleError(
            f"{where}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None


def parse(text: str, name: str = "task") -> Task:
    """Parse one ARC task JSON ``{"train": [{"input", "output"}...], "test": [...]}``."""
    return task_from_json(_load_json(text, f"task {name}"), name)


def read(text: str, source: str) -> list[tuple[str, Task]]:
    """A file's text holds one task JSON; its name is the file's stem."""
    name = Path(source).stem.strip("<>") or "task"
    return [(source, task_from_json(_load_json(text, source), name, f"{source}: "))]


def check_grid(task: object, where: str) -> Task:
    """An ARC puzzle in memory is a ``Task`` (``parse``, ``load_task_file``)."""
    if not isinstance(task, Task):
        raise PuzzleError(
            f"{where}: an ARC puzzle is a task: its JSON text or a Task, got {type(task).__name__}"
        )
    return task


def load_task_file(path: str | os.PathLike) -> Task:
    """Read one per-task JSON file; the task name is the file stem."""
    p = Path(path)
    return task_from_json(read_json(p, PuzzleError), p.stem, f"{p}: ")


def load_kaggle(
    challenges_path: str | os.PathLike,
    solutions_path: str | os.PathLike | None = None,
    skipped: list[str] | None = None,
) -> dict[str, Task]:
    """Read a Kaggle-layout pair of files: ``{task: {"train", "test"}}`` + ``{task: [outputs]}``.

    Test outputs come from ``solutions_path`` when given (else from the challenge file if
    present, else ``None``). With ``skipped`` (a list), a bad task is appended there as its
    one-line message instead of raising.
    """
    cp = Path(challenges_path)
    challenges = read_json(cp, PuzzleError)
    if not isinstance(challenges, dict):
        raise PuzzleError(f"{cp}: expected an object mapping task names to tasks")
    solutions: dict = {}
    if solutions_path is not None:
        sp = Path(solutions_path)
        solutions = read_json(sp, PuzzleError)
        if not isinstance(solutions, dict):
            raise PuzzleError(f"{sp}: expected an object mapping task names to lists of grids")
    tasks: dict[str, Task] = {}
    for name, obj in challenges.items():
        try:
            task = task_from_json(obj, name, f"{cp}: ")
            if name in solutions:
                outs = solutions[name]
                if not isinstance(outs, list) or len(outs) != len(task.test):
                    n = len(outs) if isinstance(outs, list) else "no"
                    k = len(task.test)
                    raise PuzzleError(f"{solutions_path}: task {name}: {n} solutions for {k} tests")
                task.test = [
                    (i, validate_grid(o, f"{solutions_path}: task {name} solution {k}"))
                    for k, ((i, _), o) in enumerate(zip(task.test, outs))
                ]
        except PuzzleError as e:
            if skipped is None:
                raise
            skipped.append(str(e))
            continue
        tasks[name] = task
    return tasks


# --- rendering -----------------------------------------------------------------------------


def render(grid: np.ndarray, color: bool = True) -> str:
    """The grid as text: coloured blocks (ANSI 24-bit background) or rows of digits."""
    grid = np.asarray(grid)
    if not color:
        return "\n".join("".join(str(int(v)) for v in row) for row in grid)
    cells = [f"\x1b[48;2;{r};{g};{b}m  " for r, g, b in PALETTE]
    return "\n".join("".join(cells[int(v)] for v in row) + "\x1b[0m" for row in grid)


# --- tokens --------------------------------------------------------------------------------


def encode_batch(grids: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Encode K grids of one shape (K, h, w) at offsets (K, 2) into (K, 900) uint8 tokens."""
    grids = np.asarray(grids)
    k, h, w = grids.shape
    if not (1 <= h <= SIZE and 1 <= w <= SIZE):
        raise ValueError(f"grid of {h}x{w} does not fit the {SIZE}x{SIZE} canvas")
    # The grid with its EOS row and column; the corner cell stays PAD.
    tile = np.full((k, h + 1, w + 1), PAD, np.uint8)
    tile[:, :h, :w] = grids + COLOUR_OFFSET
    tile[:, h, :w] = EOS
    tile[:, :h, w] = EOS
    # One spare row and column so that markers falling off the 30x30 canvas are simply cut.
    canvas = np.full((k, SIZE + 1, SIZE + 1), PAD, np.uint8)
    if offsets is None or not np.any(offsets):
        canvas[:, : h + 1, : w + 1] = tile
    else:
        offsets = np.asarray(offsets)
        if (
            np.any(offsets < 0)
            or np.any(offsets[:, 0] + h > SIZE)
            or np.any(offsets[:, 1] + w > SIZE)
        ):
            raise ValueError(f"offsets move a {h}x{w} grid off the {SIZE}x{SIZE} canvas")
        rows = offsets[:, 0, None, None] + np.arange(h + 1)[None, :, None]  # (K, h+1, 1)
        cols = offsets[:, 1, None, None] + np.arange(w + 1)[None, None, :]  # (K, 1, w+1)
        canvas[np.arange(k)[:, None, None], rows, cols] = tile
    return canvas[:, :SIZE, :SIZE].reshape(k, SEQ_LEN)


def encode(grid: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Encode one grid at ``offset`` (row, column) into 900 uint8 tokens (SPEC §3.3)."""
    grid = np.asarray(grid)
    return encode_batch(grid[None], np.array([offset]))[0]


def decode(tokens: np.ndarray) -> np.ndarray:
    """The largest top-left rectangle of colour tokens, as colours (SPEC §8.3 crop).

    Returns a (0, 0) array when the top-left cell is not a colour.
    """
    g = np.asarray(tokens).reshape(SIZE, SIZE)
    is_colour = (g >= COLOUR_OFFSET) & (g < COLOUR_OFFSET + 10)
    best, best_h, best_w = 0, 0, 0
    width = SIZE
    for r in range(SIZE):
        run = np.argmin(is_colour[r, :width]) if not is_colour[r, :width].all() else width
        width = int(run)
        if width == 0:
            break
        if (r + 1) * width > best:
            best, best_h, best_w = (r + 1) * width, r + 1, width
    return (g[:best_h, :best_w].astype(np.int64) - COLOUR_OFFSET).astype(np.uint8)


def decode_answers(tokens: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Model output tokens (N, 900) -> cropped grids (a list: shapes differ) and a mask of
    rows that hold a grid at all (a colour in the top-left cell)."""
    grids = [decode(t) for t in np.asarray(tokens)]
    return grids, np.array([g.size > 0 for g in grids], bool)


def verify(question: np.ndarray, answer: np.ndarray) -> None:
    """ARC has no rule to check an answer against: always ``None``."""
    return None


def verify_batch(questions: np.ndarray, answers: np.ndarray) -> None:
    """ARC has no rule to check answers against: ``None`` (not an array of results)."""
    return None


def given_mask(question: np.ndarray) -> np.ndarray:
    """ARC answers need not keep any cell of the question: nothing is given."""
    return np.zeros(np.shape(question), bool)


def has_solution(question: np.ndarray) -> None:
    """ARC has no rules to decide whether a test input has an answer: always ``None``."""
    return None


def to_line(grid: np.ndarray) -> str:
    """The grid as one line of JSON (a list of rows), as in the task files."""
    return json.dumps(np.asarray(grid).tolist())


# --- hashing (de-duplication and voting) ---------------------------------------------------


def grid_hash(grid: np.ndarray) -> str:
    """SHA-256 (hex) of a grid's shape and contents, so equal grids of any layout hash equally."""
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    return hashlib.sha256(np.array(g.shape, np.int64).tobytes() + g.tobytes()).hexdigest()


def task_hash(pairs: list[tuple[np.ndarray, np.ndarray | None]]) -> str:
    """SHA-256 of a whole puzzle: its pairs' grid hashes, pair strings sorted (order-free)."""
    keys = sorted(f"{grid_hash(i)}|{grid_hash(o) if o is not None else ''}" for i, o in pairs)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


# --- augmentations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    """Dihedral transform ``t`` applied after ``colour_map`` (colour c -> colour_map[c])."""

    t: int = 0
    colour_map: tuple[int, ...] = tuple(range(10))
    _lut: np.ndarray = field(init=False, repr=False, compare=False)
    _inverse_lut: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cmap = np.asarray(self.colour_map)
        if not 0 <= self.t <= 7:
            raise PuzzleError(f"dihedral id must be 0..7, got {self.t}")
        if cmap.shape != (10,) or sorted(cmap.tolist()) != list(range(10)) or cmap[0] != 0:
            raise PuzzleError(
                f"colour map {self.colour_map} is not a permutation of 0..9 keeping 0"
            )
        object.__setattr__(self, "colour_map", tuple(int(c) for c in cmap))
        object.__setattr__(self, "_lut", cmap.astype(np.uint8))
        object.__setattr__(self, "_inverse_lut", np.argsort(cmap).astype(np.uint8))

    @property
    def is_identity(self) -> bool:
        return self.t == 0 and self.colour_map == tuple(range(10))

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """The augmented grid (also works on a stack whose last two axes are grids)."""
        return np.ascontiguousarray(dihedral(self._lut[np.asarray(grid)], self.t))

    def invert(self, grid: np.ndarray) -> np.ndarray:
        """Undo :meth:`apply`: inverse dihedral, then inverse colour map (SPEC §3.4)."""
        return np.ascontiguousarray(self._inverse_lut[inverse_dihedral(np.asarray(grid), self.t)])

    def name_suffix(self) -> str:
        """``|||t<t>|||<map digits>``, or ``""`` for the identity (the original keeps its name)."""
        if self.is_identity:
            return ""
        return f"{SEPARATOR}t{self.t}{SEPARATOR}{''.join(map(str, self.colour_map))}"


def parse_augmented_name(name: str) -> tuple[str, Augmentation]:
    """Split ``<task>|||t<t>|||<map>`` into the task name and its Augmentation."""
    if SEPARATOR not in name:
        return name, Augmentation()
    parts = name.split(SEPARATOR)
    if (
        len(parts) != 3
        or not parts[1].startswith("t")
        or len(parts[2]) != 10
        or not parts[2].isdigit()
    ):
        raise PuzzleError(f"puzzle name {name!r} is not <task>|||t<t>|||<10 digits>")
    try:
        t = int(parts[1][1:])
    except ValueError:
        raise PuzzleError(f"puzzle name {name!r}: bad dihedral id {parts[1]!r}") from None
    return parts[0], Augmentation(t, tuple(int(c) for c in parts[2]))


def random_colour_maps(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random colour maps (n, 10) that keep 0 and permute 1..9 uniformly."""
    maps = np.empty((n, 10), np.uint8)
    maps[:, 0] = 0
    maps[:, 1:] = rng.permuted(np.tile(np.arange(1, 10, dtype=np.uint8), (n, 1)), axis=1)
    return maps


def random_augmentation(rng: np.random.Generator) -> Augmentation:
    """A uniformly random dihedral transform and colour permutation keeping 0."""
    t = int(rng.integers(0, 8))
    return Augmentation(t, tuple(int(c) for c in random_colour_maps(rng, 1)[0]))


def view_symmetries(views: int, seed: int = 0) -> list[Symmetry]:
    """``views`` test-time views: the identity, then seeded random augmentations."""
    rng = np.random.default_rng(seed)
    augs = [Augmentation()] + [random_augmentation(rng) for _ in range(views - 1)]
    return [Symmetry(a.name_suffix() or "identity", a.apply, a.invert) for a in augs]


def random_symmetry(rng: np.random.Generator) -> Symmetry:
    """A random augmentation as a Symmetry (named by its puzzle-name suffix)."""
    aug = random_augmentation(rng)
    return Symmetry(aug.name_suffix() or "identity", aug.apply, aug.invert)


def difficulty(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Tokens (N, L) -> (N,) difficulty for curricula: the number of output cells."""
    return (np.asarray(labels) > 1).sum(axis=-1)
