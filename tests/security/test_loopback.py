"""localcloud accepts connections on loopback only: its socket is bound to 127.0.0.1 (not to every interface), a
connection to another address of this machine's loopback range is refused, and no option binds anything else.

Only loopback addresses are contacted: 127.0.0.2 stands for "another host" -- a server bound to all interfaces
(0.0.0.0) would accept it, one bound to 127.0.0.1 refuses it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from exposure import is_loopback, listening

from localcloud import LocalCloudError, lifecycle


def _refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        try:
            sock.connect((host, port))
        except (ConnectionRefusedError, TimeoutError, OSError):
            return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_in_process_server_binds_loopback_only(cloud: Any) -> None:
    address = cloud._server.socket.getsockname()
    assert address[0] == "127.0.0.1"
    assert requests.get(cloud.endpoint_url + "/_localcloud/health", timeout=10).ok
    assert _refused("127.0.0.2", cloud.port), "another address reached the server: it listens on every interface"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])
def test_other_hosts_are_refused_before_binding(host: str) -> None:
    from localcloud import LocalCloud

    with pytest.raises(LocalCloudError, match="only listens on loopback"):
        LocalCloud(port=0, host=host)


def test_the_command_line_offers_no_host_option() -> None:
    out = subprocess.run([sys.executable, "-m", "localcloud", "serve", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--port" in out.stdout and "--host" not in out.stdout
    bad = subprocess.run([sys.executable, "-m", "localcloud", "serve", "--host", "0.0.0.0"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "unrecognized arguments: --host" in bad.stderr


def test_the_background_server_and_its_children_listen_on_loopback_only(tmp_path: Path) -> None:
    port = _free_port()
    url, started = lifecycle.ensure_running(port, home=tmp_path)
    assert started
    try:
        pid = lifecycle.health(port)["pid"]  # type: ignore[index]
        sockets = listening(pid)
        assert any(p == port for *_, p in sockets), sockets
        assert all(is_loopback(address) for _, _, address, _ in sockets), sockets
        assert _refused("127.0.0.2", port)
    finally:
        lifecycle.stop(port, home=tmp_path)
    assert lifecycle.health(port) is None
