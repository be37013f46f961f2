"""localcloud: an AWS-wire-compatible cloud on 127.0.0.1 for running the retrain pipeline with no AWS account.

Public face: :class:`LocalCloud` (a server on a thread of this process), :func:`ensure_running` / :func:`stop`
(a background server process), :class:`LocalCloudError` (the root exception).

Everything but the exception is imported on first use: the child processes localcloud starts (Lambda
environments, Spark workers, training jobs) import this package on their way to ``localcloud.core.childmain`` and
need none of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from localcloud.errors import LocalCloudError

if TYPE_CHECKING:
    from localcloud.lifecycle import ensure_running, health, start, stop
    from localcloud.server import LocalCloud
    from localcloud.settings import awsglue_shim_path, java_home

_LAZY = {"LocalCloud": "localcloud.server", "ensure_running": "localcloud.lifecycle", "health": "localcloud.lifecycle",
         "start": "localcloud.lifecycle", "stop": "localcloud.lifecycle", "awsglue_shim_path": "localcloud.settings",
         "java_home": "localcloud.settings"}

__all__ = [
    "LocalCloud", "LocalCloudError", "awsglue_shim_path", "ensure_running", "health", "java_home", "start", "stop",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # LocalCloud pulls in moto; the rest is light but not needed by child processes
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
