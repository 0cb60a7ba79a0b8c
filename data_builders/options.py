"""The options of a dataset build, each declared once: a dataclass field per option.

A builder declares one dataclass (``SudokuOptions``, ``MazeOptions``, ``ArcOptions``) whose
fields are its options. A field's name, type, default and ``option(help=...)`` give at once the
``trm build KIND`` flag (``add_arguments``), the keyword of the builder's ``build`` and the value
recorded in ``build_info.json`` (``recorded``). Values from Python are checked like the command
line's: a wrong type, a value out of range, an unknown keyword or a missing option is one
``TrmError`` naming the option, raised before any work.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, TypeVar

from data_builders.format import check_destination
from trm.errors import TrmError
from trm.options import MAX_COUNT, check_int

MAX_AUG = 100_000  # augmented copies per puzzle or task (the paper uses 1000)
MAX_SEED = 2**32 - 1  # the range numpy's legacy seeding takes, wide enough for anyone
MAX_WORKERS = 1024  # generator processes

Options = TypeVar("Options", bound="BuildOptions")


def option(
    help: str,
    default: Any = dataclasses.MISSING,
    *,
    bounds: tuple[int, int] | None = None,
    record: bool = True,
    cli: bool = True,
    flag: str | None = None,
    **argparse_kwargs: Any,
) -> Any:
    """A field of a builder's options.

    ``help`` is the flag's help; ``bounds`` the allowed range of an int (both ends included;
    default 0 to ``MAX_COUNT``);
    ``record=False`` keeps the value out of ``build_info.json`` (it does not change the data);
    ``cli=False`` gives no flag (Python only); ``flag`` replaces the flag derived from the name
    (``num_aug`` -> ``--num-aug``); other keywords go to ``argparse`` (``metavar``, ``action``).
    """
    metadata = dict(
        help=help, bounds=bounds, record=record, cli=cli, flag=flag, argparse=argparse_kwargs
    )
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class BuildOptions:
    """What every build takes: where to write, whether to replace a dataset, progress bars.

    Constructing one checks every field against its type and bounds (``TrmError`` naming the
    flag); a kind's ``__post_init__`` adds the checks that involve several options.
    """

    kind: ClassVar[str] = ""

    out: str = option("output dataset directory", record=False)
    _: KW_ONLY
    overwrite: bool = option(
        "replace the dataset already in --out (only a directory a build wrote is replaced; "
        "without it an existing dataset is refused)",
        False,
        record=False,
    )
    progress: bool = option("progress bars on stderr", True, record=False, cli=False)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _checked(f, hints[f.name], getattr(self, f.name)))


def flag(f: dataclasses.Field) -> str:
    """The command-line flag of option field ``f`` (``--num-aug`` for ``num_aug``)."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _required(f: dataclasses.Field) -> bool:
    """Whether option field ``f`` has no default (``--source`` of Sudoku and Maze)."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _base_type(hint: Any) -> Any:
    """The type of a field without its ``| None``: ``int`` for ``int | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _checked(f: dataclasses.Field, hint: Any, value: Any) -> Any:
    """``value`` checked against the field's type (``int | None``, ``list[str]``, ...) and bounds;
    paths become strings. Anything else is a ``TrmError`` naming the flag."""
    name, base = flag(f), _base_type(hint)
    if value is None and base is not hint:  # an optional field
        return None
    if base is bool:
        if not isinstance(value, bool):
            raise TrmError(f"{name} must be True or False, got {value!r}")
    elif base is int:
        lo, hi = f.metadata["bounds"] or (0, MAX_COUNT)
        check_int(name, value, lo, hi)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrmError(f"{name} must be a number, got {value!r}")
        value = float(value)
    elif base is str:
        if not isinstance(value, (str, os.PathLike)):
            raise TrmError(f"{name} must be a string or a path, got {value!r}")
        value = os.fspath(value)
    elif typing.get_origin(base) is list:
        items = value if isinstance(value, (list, tuple)) else None
        if not items or not all(isinstance(v, (str, os.PathLike)) for v in items):
            raise TrmError(f"{name} must be a non-empty list of strings, got {value!r}")
        value = [os.fspath(v) for v in items]
    return value


def parse_options(cls: type[Options], args: tuple, keywords: dict[str, Any]) -> Options:
    """``cls(*args, **keywords)``, with a one-line ``TrmError`` (not a ``TypeError``) for an
    unknown keyword, too many positional arguments, an option given twice or one missing."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in keywords if k not in fields]
    if unknown:
        raise TrmError(
            f"unknown option {unknown[0]!r} for a {cls.kind} build; "
            f"the options are: {', '.join(fields)}"
        )
    positional = [f.name for f in fields.values() if not f.kw_only]
    if len(args) > len(positional):
        raise TrmError(
            f"a {cls.kind} build takes {len(positional)} positional arguments "
            f"({', '.join(positional)}), got {len(args)}; pass the others by keyword"
        )
    given = dict(zip(positional, args))
    twice = [k for k in given if k in keywords]
    if twice:
        raise TrmError(f"option {twice[0]} given twice, by position and by keyword")
    given.update(keywords)
    for f in fields.values():
        if _required(f) and f.name not in given:
            raise TrmError(f"a {cls.kind} build needs {flag(f)} ({f.name}=)")
    return cls(**given)


def prepare(cls: type[Options], out: Any, args: tuple, keywords: dict[str, Any]) -> Options:
    """The checked options of one ``build(out, *args, **keywords)`` call, its destination
    checked too (``check_destination``): everything a build refuses, refused before the work."""
    opts = parse_options(cls, (out, *args), keywords)
    check_destination(opts.out, opts.overwrite)
    return opts


def recorded(opts: BuildOptions) -> dict[str, Any]:
    """The options that shape the dataset, for ``build_info.json`` (``dataclasses.asdict``)."""
    fields = {f.name: f for f in dataclasses.fields(opts)}
    return {k: v for k, v in dataclasses.asdict(opts).items() if fields[k].metadata["record"]}


def _command_line_order(cls: type[BuildOptions]) -> list[dataclasses.Field]:
    """The kind's own options first, then the common ones (``--out``, ``--overwrite``)."""
    common = {f.name for f in dataclasses.fields(BuildOptions)}
    fields = dataclasses.fields(cls)
    return [f for f in fields if f.name not in common] + [f for f in fields if f.name in common]


def add_arguments(parser: argparse.ArgumentParser, cls: type[BuildOptions]) -> None:
    """Register one flag per option field of ``cls`` (type, help, required from the field).

    Flags the user does not give are left out of the namespace (``argparse.SUPPRESS``), so
    the field's own default applies: a default is stated once, in the dataclass.
    """
    hints = typing.get_type_hints(cls)
    for f in _command_line_order(cls):
        if not f.metadata["cli"]:
            continue
        kwargs: dict[str, Any] = dict(
            dest=f.name, help=f.metadata["help"], default=argparse.SUPPRESS
        )
        base = _base_type(hints[f.name])
        if base is bool:
            kwargs["action"] = "store_true"
        elif typing.get_origin(base) is list:
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = base
        if _required(f):
            kwargs["required"] = True
        parser.add_argument(flag(f), **{**kwargs, **f.metadata["argparse"]})


def from_args(cls: type[BuildOptions], args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``build`` from a namespace ``add_arguments`` filled; ``--json`` (added by
    ``trm build``) turns the progress bars off."""
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    return {**given, "progress": not getattr(args, "json", False)}
