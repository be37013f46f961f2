"""Facts about a process localcloud started: how it ended, the tail of its log, whether its group is gone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

TAIL_LINES = 12


def exit_text(code: int | None) -> str:
    """``exited with status 1`` / ``was killed by SIGKILL`` for a process's return code."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def tail(path: Path, lines: int = TAIL_LINES, max_chars: int | None = None) -> str:
    """The last ``lines`` lines of a log file, at most ``max_chars`` of them ("(no log)" when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    out = "\n".join(text[-lines:]) or "(empty log)"
    return out if max_chars is None else out[-max_chars:]


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            return True
    return False
