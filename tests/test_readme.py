"""Every command in the README runs (made cheap where it would take long): a broken one fails CI.

Commands are taken from the README's ```sh blocks, in order, and run in a scratch directory
that has the repository's configs. Sizes are shrunk (`--num-aug 2`, `--count 3`, 2 training
steps, `--print-config` for the GPU recipes); commands that need the network must either work
or fail with the one-line offline message.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

CHEAP = [
    (r"--num-aug \d+", "--num-aug 2"),
    (r"--count \d+", "--count 3"),
    (r"--test-count \d+", "--test-count 3"),
    (r"--subsample \d+", "--subsample 20"),
    (r"--limit \d+", "--limit 8"),
    (r"--views \d+", "--views 2"),
    (r"--budget \S+", "--budget 1e9"),
    (r"--eval-limit \d+", "--eval-limit 4"),
]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        block = re.sub(r"\\\n\s*", "", block)  # join continued lines
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(("trm ", "torchrun ", "python tools/")):
                commands.append(line)
    return commands


def make_cheap(cmd: str) -> str | None:
    """The command as the test runs it, or None when it is only checked for its config."""
    for pattern, repl in CHEAP:
        cmd = re.sub(pattern, repl, cmd)
    cmd = cmd.replace("../shared", str(SHARED))
    cmd = cmd.replace("python tools/", f"{sys.executable} {ROOT}/tools/")
    if cmd.startswith("torchrun "):  # same config path as `trm train`; GPUs are not here
        cmd = "trm train " + cmd.split(" train ", 1)[1]
    if cmd.startswith("trm build arc"):
        cmd += " --limit-tasks 3"
    if cmd.startswith("trm train") and "--resume" not in cmd:
        if "_cpu" in cmd:
            cmd += " max_steps=2 global_batch_size=8 eval_limit=4 eval_every_steps=2 compile=false"
            cmd += " --no-progress"
        elif "--print-config" not in cmd:
            cmd += " --print-config"
    if "tools/time_to_accuracy.py" in cmd:  # one seed, eager: the tool's wiring, not its figures
        cmd = re.sub(r"--seeds( \d+)+", "--seeds 0", cmd)
        assert re.search(r" --set [^-]*$", cmd), f"end the README's command with --set: {cmd}"
        cmd += " compile=false"
    if cmd.startswith("trm bench train"):
        cmd += " --case small-mlp --steps 1"
        if "--no-compile" not in cmd:  # compiling is tested in test_compile_cpu.py
            cmd += " --no-compile"
    return cmd


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    ws = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", ws / "configs")
    (ws / "checkpoints").symlink_to(ROOT / "checkpoints")
    (ws / "examples").symlink_to(ROOT / "examples")  # the example files the README names
    return ws


def test_readme_has_the_three_opening_commands():
    first = (ROOT / "README.md").read_text().split("```")[1]
    assert "pip install" in first and "trm solve sudoku" in first and "pytest" in first


def test_every_readme_command_runs(workspace):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    commands = readme_commands()
    assert len(commands) > 10
    for original in commands:
        cmd = make_cheap(original)
        start = time.perf_counter()
        result = subprocess.run(
            shlex.split(cmd), cwd=workspace, env=env, capture_output=True, text=True, timeout=600
        )
        print(f"{time.perf_counter() - start:6.1f}s  {cmd[:110]}")
        offline = (
            "--source hf" in cmd
            and result.returncode == 2
            and "cannot reach huggingface.co" in result.stderr
        )
        assert result.returncode == 0 or offline, f"{original}\n-> {cmd}\n{result.stderr[-2000:]}"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    env = {**os.environ, "NO_COLOR": "1"}
    for code in blocks:
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{code}\n{result.stderr[-2000:]}"
        assert "steps traced" in result.stdout


def test_hero_picture_is_what_the_shipped_model_does():
    """docs/trace.png is drawn from docs/trace.json; the shipped model still gives that trace."""
    import json

    saved = json.loads((ROOT / "docs" / "trace.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert "docs/trace.png" in readme and saved["question"] in readme
    assert (ROOT / "docs" / "trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    argv = ["solve", "sudoku", "--trace", "--json", saved["question"]]
    out = subprocess.run(
        [sys.executable, "-m", "trm.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    now = json.loads(out.stdout)
    assert now["verified"] and saved["verified"] and now["answer"] == saved["answer"]
    for a, b in zip(now["steps"], saved["steps"], strict=True):
        assert (a["answer"], a["changed"], a["verified"]) == (
            b["answer"],
            b["changed"],
            b["verified"],
        )
        assert round(a["halting"], 2) == round(b["halting"], 2)  # what the picture prints
