"""Shared helpers for the end-to-end tests of the notebook chain."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PARAMS = ROOT / "params" / "local.yaml"
AWS_PARAMS = ROOT / "params" / "aws.yaml"


def free_port() -> int:
    """A TCP port nobody listens on now (never 4566, the default a developer may be using)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 4566:
            return port


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def state(out: Path) -> dict[str, Any]:
    return json.loads((out / "state.json").read_text())


def chromium() -> str | None:
    """Debian's chromium, installed with apt-get by the test set-up when missing (root only)."""
    exe = shutil.which("chromium")
    if exe:
        return exe
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                        "fonts-dejavu-core"], check=False, env=env, capture_output=True, timeout=900)
    return shutil.which("chromium")


def screenshot(exe: str, page: Path, png: Path, *, width: int = 1200, height: int = 3000) -> None:
    """Headless screenshot of a local page with the network off (own network namespace when possible)."""
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={png.parent / ('profile-' + png.stem)}", f"--window-size={width},{height}",
           f"--screenshot={png}", page.resolve().as_uri()]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        cmd = [unshare, "-n", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)


def count_colour(png: Path, hex_colour: str, tolerance: int = 3) -> int:
    """How many pixels of ``png`` have the colour ``#rrggbb`` (within ``tolerance`` per channel)."""
    import matplotlib.image as mpimg
    import numpy as np

    pixels = (mpimg.imread(str(png))[..., :3] * 255).round().astype(int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - target) <= tolerance).all(axis=-1).sum())
