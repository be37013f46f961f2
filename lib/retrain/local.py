"""The local cloud a ``target: local`` run talks to: where it keeps its state, and starting it on demand.

Kept apart from :mod:`retrain.session` so that ``retrain run`` can start the local cloud without importing the
SDKs (sagemaker alone takes seconds to import).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from retrain.config import Params
from retrain.errors import CloudError

LOG = logging.getLogger(__name__)


def local_home(params: Params) -> Path:
    """Where a local cloud started for this project keeps its state: ``$LOCALCLOUD_HOME`` or ``.localcloud/``
    at the project root (not the notebook folder a kernel happens to run in)."""
    configured = os.environ.get("LOCALCLOUD_HOME")
    return Path(configured) if configured else Path(params.root) / ".localcloud"


def local_endpoint(port: int, *, start: bool = True, home: Path | None = None,
                   prewarm: tuple[str, ...] = ()) -> tuple[str, bool]:
    """``(url, started)`` of the local cloud on ``port``; starts one in the background when asked to.

    ``prewarm=("glue",)`` has a cloud started here start its Spark worker at once (a run that will execute the
    workflow soon), rather than when the Glue job is created.
    """
    try:
        import localcloud
    except ImportError as exc:  # pragma: no cover - the distribution installs both packages
        raise CloudError("the localcloud package is not installed; run `make setup`.") from exc
    if start:
        try:
            return localcloud.ensure_running(port, home=home, prewarm=prewarm)
        except localcloud.LocalCloudError as exc:
            raise CloudError(f"could not start the local cloud on port {port}: {exc}") from exc
    if not localcloud.health(port):
        raise CloudError(f"no local cloud answers on port {port}; start one with `localcloud start --port {port}`.")
    return f"http://127.0.0.1:{port}", False


class RunCloud:
    """The local cloud of one ``retrain run`` (``target: local``; nothing to do on AWS): :meth:`start` finds one
    running on the port or starts one; :meth:`stop` stops only a cloud this run started, unless ``keep``."""

    def __init__(self, params: Params, *, keep: bool, echo: Callable[[str], None]) -> None:
        self.params, self.keep, self.echo = params, keep, echo
        self.started = False

    def start(self, prewarm: tuple[str, ...] = ()) -> str | None:
        """None when the cloud is there, else the message saying why it is not (the run then fails)."""
        if self.params.target != "local":
            return None
        port = self.params.localcloud_port
        try:
            url, self.started = local_endpoint(port, start=True, home=local_home(self.params), prewarm=prewarm)
        except CloudError as exc:
            return str(exc)
        self.echo(f"  local cloud at {url}" + (" (started for this run)" if self.started else " (already running)"))
        return None

    def stop(self) -> None:
        if not self.started:
            return
        port = self.params.localcloud_port
        if self.keep:
            self.echo(f"  left the local cloud running on port {port} (stop it with `localcloud stop --port {port}`)")
            return
        import localcloud

        localcloud.stop(port, home=local_home(self.params))
        self.echo(f"  stopped the local cloud on port {port}")
