"""Files the user names: read with a one-line error, check a destination before the work.

Every user-facing read (``--file``, a CSV, a task JSON) and every destination (``--out``, a run
directory, ``--trace-png``, ``--plot``) goes through here, so a bad path fails with one line
(``TrmError``, exit 2) before any compute, never with a traceback after it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trm.errors import TrmError


def read_text(path: str | os.PathLike, error: type[TrmError] = TrmError) -> str:
    """The UTF-8 text of ``path`` (without a leading BOM); a missing, unreadable or non-UTF-8
    file raises ``error``."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")  # a leading BOM (Windows editors) is dropped
    except UnicodeDecodeError as e:
        raise error(
            f"{p}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
        ) from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory, not a file") from None
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror})") from None


def read_json(path: str | os.PathLike, error: type[TrmError] = TrmError) -> Any:
    """The JSON value in ``path``; unreadable or invalid JSON raises ``error`` (one line)."""
    try:
        return json.loads(read_text(path, error))
    except json.JSONDecodeError as e:
        raise error(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None


def check_writable_dir(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Fail now, with one line, when directory ``path`` cannot be created or written to.

    Walks up to the nearest existing ancestor: it must be a directory we may write into (a
    path under a regular file, or on a read-only file system, is refused). Creates nothing.
    """
    p = Path(path)
    probe = p
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: mkdir would fail on it
            raise TrmError(f"{p}: cannot create {what} ({probe} is a broken link)")
        probe = probe.parent
    if not probe.is_dir():
        raise TrmError(f"{p}: cannot create {what} ({probe} is not a directory)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise TrmError(f"{p}: cannot write {what} ({probe} is not writable)")
    if probe != p:  # something must be created under probe: try it (/proc says W_OK and refuses)
        try:
            os.rmdir(tempfile.mkdtemp(prefix=temp_prefix(p, "probe"), dir=probe))
        except OSError as e:
            raise TrmError(f"{p}: cannot create {what} in {probe} ({e.strerror})") from None
    return p


def check_writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Fail now, with one line, when file ``path`` cannot be (over)written."""
    p = Path(path)
    if p.is_dir():
        raise TrmError(f"{p}: cannot write {what} (it is a directory)")
    if p.exists() and not os.access(p, os.W_OK):
        raise TrmError(f"{p}: cannot write {what} (the file is not writable)")
    check_writable_dir(p.parent, what)
    return p


def default_mode(kind: str = "file") -> int:
    """The mode a new file (0666) or directory (0777) gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if kind == "dir" else 0o666) & ~umask


def temp_prefix(target: Path, tag: str) -> str:
    """Name prefix of our temporaries beside ``target``: ``.<name>.<tag>-<pid>-``.

    The pid names the process that owns the temporary (see ``remove_stale_temps``).
    """
    return f".{target.name}.{tag}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    return True


def remove_stale_temps(target: str | os.PathLike, tag: str) -> list[Path]:
    """Delete temporaries ``.<name>.<tag>-<pid>-*`` beside ``target`` whose process is gone.

    Only names of exactly our pattern are touched, and only when their owner pid is no running
    process on this machine (a killed build): a live build's temporary is never removed, and a
    reused pid can only keep a stale one. Returns what was removed.
    """
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{re.escape(tag)}-(\d+)-[A-Za-z0-9_]+")
    removed = []
    if not target.parent.is_dir():
        return removed
    for entry in target.parent.iterdir():
        m = pattern.fullmatch(entry.name)
        if m is None or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def os_error(e: OSError, path: str | os.PathLike, doing: str = "write") -> TrmError:
    """One line for an ``OSError`` met while writing ``path``: a full disk says so by name."""
    if e.errno == errno.ENOSPC:
        return TrmError(f"no space left on {Path(path).parent}: cannot {doing} {path}")
    if e.errno == errno.EDQUOT:
        return TrmError(f"disk quota exceeded on {Path(path).parent}: cannot {doing} {path}")
    return TrmError(f"{path}: cannot {doing} ({e.strerror or e})")


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    An interrupted or failed write leaves the previous ``path`` intact and no temporary; a full
    disk is one line (``TrmError``) naming the directory.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, path, "create the directory of") from None
    remove_stale_temps(path, "tmp")  # left by a process killed while writing
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path, "tmp"), dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_mode())  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise os_error(e, path) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
