"""localcloud: an AWS-wire-compatible cloud on 127.0.0.1 for running the retrain pipeline with no AWS account.

Public face: :class:`LocalCloud` (a server on a thread of this process), :func:`ensure_running` / :func:`stop`
(a background server process), :class:`LocalCloudError` (the root exception).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcloud.errors import LocalCloudError
from localcloud.lifecycle import ensure_running, health, start, stop
from localcloud.settings import awsglue_shim_path, java_home

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

__all__ = [
    "LocalCloud", "LocalCloudError", "awsglue_shim_path", "ensure_running", "health", "java_home", "start", "stop",
]


def __getattr__(name: str) -> Any:
    if name == "LocalCloud":  # imported lazily: it pulls in moto
        from localcloud.server import LocalCloud

        return LocalCloud
    raise AttributeError(name)
