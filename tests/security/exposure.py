"""What a run exposes: credentials in files, and sockets open to the network.

``scan`` looks for the exact values of the credentials a run was given, AWS access key ids (``AKIA``/``ASIA``),
and ``aws_secret_access_key`` / ``aws_session_token`` assignments with real-looking values; it is used over a
run's whole output folder and the local cloud's logs, with distinctive values from ``fake_credentials`` in the
environment of the run under test. ``listening`` lists the addresses a process tree accepts connections on.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

KEY_ID = re.compile(rb"\b(?:AKIA|ASIA)[A-Z2-7]{16}\b")
ASSIGNMENT = re.compile(rb"(?i)(aws_secret_access_key|aws_session_token|secretaccesskey|sessiontoken)"
                        rb"[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{16,})")
#: the public dummy values local clouds accept; they protect nothing
DUMMIES = {b"test", b"testing", b"foobar"}


@dataclass(frozen=True)
class Finding:
    path: Path
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}: ...{self.excerpt}..."


def fake_credentials() -> dict[str, str]:
    """Distinctive, random AWS-shaped credentials (never valid anywhere)."""
    upper = string.ascii_uppercase + "234567"
    mixed = string.ascii_letters + string.digits + "/+"
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "AWS_SECRET_ACCESS_KEY": "".join(secrets.choice(mixed) for _ in range(40)),
        "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2Vj" + "".join(secrets.choice(mixed) for _ in range(300)),
    }


def _variants(value: str) -> dict[str, bytes]:
    """The forms a leaked value takes in files: as is, URL-encoded, JSON-escaped, base64, and a long prefix."""
    raw = value.encode()
    forms = {"verbatim": raw, "url-encoded": quote(value, safe="").encode(), "json-escaped": value.replace(
        "/", "\\/").encode(), "base64": base64.b64encode(raw)[:-4], "prefix": raw[:20]}
    return {k: v for k, v in forms.items() if len(v) >= 12}


def scan(roots: list[Path], credentials: dict[str, str] | None = None, *, max_bytes: int = 50_000_000
         ) -> list[Finding]:
    """Every place under ``roots`` where a credential shows (files read as bytes, text or not)."""
    needles = {f"{name} ({form})": data for name, value in (credentials or {}).items()
               for form, data in _variants(value).items()}
    findings: list[Finding] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.stat().st_size > max_bytes:
                findings.append(Finding(path, "too large to scan", ""))
                continue
            data = path.read_bytes()
            for what, needle in needles.items():
                at = data.find(needle)
                if at >= 0:
                    findings.append(Finding(path, what, _excerpt(data, at)))
            for match in KEY_ID.finditer(data):
                findings.append(Finding(path, "AWS access key id", _excerpt(data, match.start())))
            for match in ASSIGNMENT.finditer(data):
                if match.group(2) not in DUMMIES:
                    findings.append(Finding(path, f"{match.group(1).decode()} assignment", _excerpt(data, match.start())))
    return findings


def _excerpt(data: bytes, at: int) -> str:
    return data[max(0, at - 40): at + 60].decode("utf-8", "replace").replace("\n", "\\n")


LOOPBACK = ("127.0.0.1", "::1")


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, as Java binds)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listening(pid: int) -> list[tuple[int, str, str, int]]:
    """``(pid, command, address, port)`` of every listening TCP socket of process ``pid`` and its descendants."""
    root = psutil.Process(pid)
    found = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            name = " ".join(proc.cmdline()[:3])
            sockets = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for sock in sockets:
            if sock.status == psutil.CONN_LISTEN:
                found.append((proc.pid, name, sock.laddr.ip, sock.laddr.port))
    return found
