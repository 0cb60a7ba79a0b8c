"""`trm demo [--port N] [--host H] [--checkpoint C]`: the demo page (``trm.demo``) in a browser.

Gradio is an optional extra: without it this prints how to install it and exits 2. The page
is served until Ctrl-C or SIGTERM, then closed (the port freed) with exit status 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading

from trm.cli.options import bounded
from trm.errors import TrmError

INSTALL_HINT = 'trm demo needs Gradio: pip install -e ".[demo]" in a clone, or pip install gradio'


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo`` on the ``trm`` subcommand parser."""
    p = sub.add_parser(
        "demo",
        help="solve puzzles on a local web page (needs the demo extra)",
        description="Serve a web page (Gradio, the optional `demo` extra) where you pick or "
        "type a Sudoku or a maze, solve it with the shipped models and watch the answer "
        "change supervision step by step. Runs on the CPU until Ctrl-C.",
    )
    p.add_argument("--port", type=bounded(1, 65535), default=7860, help="port (default 7860)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)",
    )
    p.add_argument(
        "--checkpoint",
        "-c",
        help="a Sudoku or maze checkpoint, used for its kind (default: the shipped models)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C or SIGTERM, then end the process with status 0."""
    if importlib.util.find_spec("gradio") is None:
        print(f"trm: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    # Deferred: the page imports torch and Gradio, which `trm --help` must not pay for.
    from trm.demo import Models, build_app, launch

    app = build_app(Models(args.checkpoint))  # a bad checkpoint fails here, before serving
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            launch(app, args.host, args.port, block=False)
        except OSError:  # Gradio: "Cannot find empty port" (in use, or not this host's address)
            raise TrmError(
                f"cannot serve on {args.host}:{args.port}: the port is in use or the address is "
                "not this machine's (choose another --port or --host)"
            ) from None
        print(f"trm demo: serving http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        app.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("trm demo: stopped", flush=True)
    sys.stderr.flush()
    # A request still running in a Gradio worker (a trace picture, a solve) would be torn down
    # by the interpreter's shutdown, and torch's C++ threads then abort the process ("terminate
    # called without an active exception", status -6): the page is closed, so leave at once.
    os._exit(0)
