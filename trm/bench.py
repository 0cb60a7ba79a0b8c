"""`trm bench train|solve|build` (being written)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure speed")
    p.add_argument("what", choices=["train", "solve", "build"])
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    return 1
