"""The demo page (`trm demo`): its functions without a browser, then the real page in Chromium.

The browser test drives Debian's headless Chromium through chromedriver (`apt-get install
chromium chromium-driver`) with the W3C WebDriver protocol, which is plain JSON over HTTP, so
it needs no Python package beyond Gradio; it skips without them. With TRM_DEMO_SCREENSHOT=PATH
it also saves its screenshot of the solved page there (how docs/demo.png is made).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from trm import cli
from trm.demo import Models, examples, solve_text
from trm.puzzles import sudoku

# The README's held-out 17-clue puzzle: the shipped model solves it with one view in 2 steps.
PUZZLE = "................12....34...........5..6..37...8.2..........64...2.1.....75....3.."


@pytest.fixture(scope="module")
def models() -> Models:
    return Models()


# --- the page's functions, no browser ------------------------------------------------------


def test_a_shipped_example_is_solved_verified_with_its_trace(models):
    label, text = next(iter(examples("sudoku").items()))
    assert label.startswith("examples/sudoku.txt:1")
    out = solve_text(models, "sudoku", text)
    assert out.status.startswith("one pass: verified;"), out.status
    assert sudoku.verify(sudoku.parse(text), sudoku.parse(out.answer))
    assert out.steps[0].header == "step 0: the question"
    assert sudoku.parse(out.steps[0].grid).tolist() == sudoku.parse(text).tolist()
    assert out.steps[-1].grid == out.answer  # one view: the trace ends on the answer
    assert out.steps[1].header.startswith("step 1: halting p=")
    assert "stopped: the answer passed the rules" in out.trace_said
    assert out.picture is not None and out.picture.size[0] > 100


def test_bad_input_is_the_clis_one_line_error(models, capsys):
    out = solve_text(models, "sudoku", "12x")
    assert out.status == "error: puzzle 1: bad character 'x' at cell 3 (row 1, column 3)"
    assert (out.answer, out.steps, out.picture) == ("", [], None)
    assert cli.main(["solve", "sudoku", "12x"]) == 2
    assert capsys.readouterr().err.strip() == "trm: " + out.status


def test_views_search_and_maze_go_through_the_api(models):
    hard = examples("sudoku")["examples/sudoku_hard.txt:4 (18 givens)"]  # magictour
    one = solve_text(models, "sudoku", hard, picture=False)
    assert one.status.startswith("one pass: NOT verified"), one.status
    found = solve_text(models, "sudoku", hard, search=True, budget=400, picture=False)
    assert found.status.startswith("search: verified by search"), found.status
    assert sudoku.verify(sudoku.parse(hard), sudoku.parse(found.answer))
    [maze] = examples("maze").values()
    out = solve_text(models, "maze", maze, views=2, picture=False)
    assert out.status.startswith("2 views: verified;"), out.status
    searched = solve_text(models, "maze", maze, search=True, picture=False)  # costs nothing here
    assert searched.status.startswith("one pass: verified;"), searched.status


def test_without_gradio_trm_demo_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what find_spec takes for "not installed"
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[demo]"' in err


def test_the_page_builds(models):
    gr = pytest.importorskip("gradio")
    from trm.demo import build_app

    assert isinstance(build_app(models), gr.Blocks)


# --- the real page in headless Chromium -----------------------------------------------------

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class Browser:
    """Headless Chromium behind chromedriver, spoken to in W3C WebDriver (JSON over HTTP)."""

    def __init__(self, width: int = 1280, height: int = 1520) -> None:
        self.port = free_port()
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self._status_ready(), 30, "chromedriver did not start")
        args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--window-size={width},{height}",
        ]
        options = {"binary": shutil.which("chromium"), "args": args}
        caps = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        self.session = self._call("POST", "/session", {"capabilities": caps})["sessionId"]

    def _status_ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status")["ready"])
        except OSError:
            return False

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        url = f"http://127.0.0.1:{self.port}{path}"
        request = urllib.request.Request(url, data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def command(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def find(self, css: str) -> str | None:
        """The element matching ``css`` (None while there is none)."""
        try:
            found = self.command("POST", "/element", {"using": "css selector", "value": css})
        except urllib.error.HTTPError as e:
            if e.code == 404:  # "no such element"
                return None
            raise
        return found[ELEMENT]

    def value(self, css: str) -> str:
        return self.command("GET", f"/element/{self.find(css)}/property/value") or ""

    def close(self) -> None:
        try:
            self.command("DELETE", "")
        finally:
            self.driver.terminate()
            self.driver.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, seconds: float, failure: str):
    """Poll ``ready()`` until it returns something true; fail with ``failure`` after ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = ready()
        if got:
            return got
        time.sleep(0.3)
    pytest.fail(failure)


def page_is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def demo_server(cwd: Path, stop: signal.Signals):
    """``trm demo`` on a free port, yielding its URL; stopped by ``stop``, after which it must
    exit 0 and nothing may listen on the port."""
    pytest.importorskip("gradio")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "trm.cli", "demo", "--port", str(port)],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: page_is_up(url) or server.poll() is not None, 120, "no page")
        assert server.poll() is None, server.stderr.read()
        yield url
    finally:
        server.send_signal(stop)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    assert "trm demo: stopped" in out
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_ctrl_c_stops_the_server_cleanly(tmp_path):
    with demo_server(tmp_path, signal.SIGINT) as url:
        assert "Tiny Recursive Model" in urllib.request.urlopen(url, timeout=10).read().decode()


@pytest.mark.browser
def test_the_page_solves_a_typed_puzzle_in_chromium(tmp_path):
    pytest.importorskip("gradio")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")
    with demo_server(tmp_path, signal.SIGTERM) as url:
        browser = Browser()
        try:
            solve_in_the_page(browser, url, tmp_path / "demo.png")
            solve_the_maze_example(browser)
        finally:
            browser.close()


def solve_in_the_page(browser: Browser, url: str, screenshot: Path) -> None:
    """Type ``PUZZLE``, press Solve, check the verified answer, take the screenshot."""
    browser.command("POST", "/url", {"url": url})
    box = wait_until(lambda: browser.find("#puzzle textarea"), 60, "no puzzle box")
    browser.command("POST", f"/element/{box}/clear", {})
    browser.command("POST", f"/element/{box}/value", {"text": PUZZLE})
    browser.command("POST", f"/element/{browser.find('#solve')}/click", {})
    status = wait_until(lambda: browser.value("#status textarea"), 120, "no status")
    assert status.startswith("one pass: verified; 1/1 views agree; 2 steps"), status
    answer = browser.value("#answer textarea")
    assert sudoku.verify(sudoku.parse(PUZZLE), sudoku.parse(answer)), answer
    wait_until(lambda: "step 2:" in browser.command("GET", "/source"), 30, "no trace shown")
    time.sleep(1)  # let the trace picture finish drawing
    png = base64.b64decode(browser.command("GET", "/screenshot"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    screenshot.write_bytes(png)
    if os.environ.get("TRM_DEMO_SCREENSHOT"):
        Path(os.environ["TRM_DEMO_SCREENSHOT"]).write_bytes(png)


def solve_the_maze_example(browser: Browser) -> None:
    """Choosing Maze shows its example; Solve solves it with the maze model."""
    browser.command("POST", f"/element/{browser.find('input[type=radio][value=maze]')}/click", {})
    shown = lambda: {"S", "G"} <= set(browser.value("#puzzle textarea"))  # noqa: E731
    wait_until(shown, 30, "no maze example shown")
    browser.command("POST", f"/element/{browser.find('#solve')}/click", {})
    said = lambda: browser.value("#status textarea").endswith("5 steps")  # noqa: E731
    wait_until(said, 60, "the maze was not solved")
    assert browser.value("#status textarea") == "one pass: verified; 1/1 views agree; 5 steps"
