"""Background localcloud processes: start (once healthy), status, stop (the whole process group)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcloud import settings
from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0


def endpoint_url(port: int, host: str = settings.DEFAULT_HOST) -> str:
    return f"http://{host}:{port}"


def health(port: int, timeout: float = 1.0) -> dict[str, Any] | None:
    """The health document of the localcloud on ``port``, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(endpoint_url(port) + "/_localcloud/health", timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("localcloud") else None


def _port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((settings.DEFAULT_HOST, port)) == 0


def start(port: int = settings.DEFAULT_PORT, home: Path | None = None, timeout: float = START_TIMEOUT_S) -> str:
    """Start a background localcloud on ``port`` unless one is already healthy there; return its URL."""
    url, _ = ensure_running(port, home=home, timeout=timeout)
    return url


def ensure_running(port: int = settings.DEFAULT_PORT, home: Path | None = None,
                   timeout: float = START_TIMEOUT_S, *, enforce_iam: bool = False,
                   prewarm: tuple[str, ...] = (), persist: bool | None = None) -> tuple[str, bool]:
    """Return ``(endpoint_url, started)``: ``started`` is False when a localcloud already answered on ``port``.

    ``enforce_iam`` starts the server with ``--enforce-iam`` (it does not change a server already running).
    ``prewarm=("glue",)`` starts the Glue service's Spark worker with the server rather than when the first Spark
    job is created, for a caller about to run one (unless ``LOCALCLOUD_GLUE_PREWARM`` says otherwise).
    ``persist=False`` starts a server that keeps its state in memory only (``--no-persist``); by default it is
    kept under ``home`` and restored at start (``LOCALCLOUD_PERSIST``). The call returns once the restored state
    runs again (health ``status`` "running": endpoints serve their models again).
    """
    if health(port):
        return endpoint_url(port), False
    if _port_in_use(port):
        raise LocalCloudError(
            f"port {port} is in use by something that is not localcloud; choose another port (--port / "
            f"localcloud_port)."
        )
    folder = settings.instance_dir(port, home)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "server.log"
    env = dict(os.environ)
    env["LOCALCLOUD_HOME"] = str(folder.parent)
    if persist is not None:
        env["LOCALCLOUD_PERSIST"] = "1" if persist else "0"
    if "glue" in prewarm:
        env.setdefault("LOCALCLOUD_GLUE_PREWARM", "start")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "serve", "--port", str(port),
             *(["--enforce-iam"] if enforce_iam else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True,
        )
    (folder / "server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalCloudError(
                f"localcloud exited with code {proc.returncode} while starting; see {log_path}."
            )
        info = health(port)
        if info and info.get("status", "running") == "running":
            return endpoint_url(port), True
        time.sleep(0.1)
    _kill_group(proc.pid)
    raise LocalCloudError(f"localcloud did not become healthy within {timeout:.0f} s; see {log_path}.")


def status(port: int = settings.DEFAULT_PORT) -> dict[str, Any] | None:
    return health(port)


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if this process started it: until then it stays a zombie in its group,
    and the group would look alive for the whole grace period."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent (or init) collects it


def _kill_group(pid: int, grace: float = 10.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(port: int = settings.DEFAULT_PORT, home: Path | None = None) -> bool:
    """Stop the background localcloud on ``port`` and everything it started; False when none was running."""
    info = health(port)
    pid_file = settings.instance_dir(port, home) / "server.pid"
    pid: int | None = int(info["pid"]) if info else None
    if pid is None and pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            pid = None
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    if pid == os.getpid():
        raise LocalCloudError("this localcloud runs inside the current process; stop it with LocalCloud.stop().")
    _kill_group(pid)
    pid_file.unlink(missing_ok=True)
    return True
