"""localcloud's state on disk: what a server restores at start and keeps durable while it serves.

The server's state folder (``<home>/<port>/state``) holds one snapshot file per unit of state: ``moto-<service>``
for each service moto serves, ``<backend>`` for each of localcloud's own backends that keeps records
(:data:`localcloud.services.DURABILITY`), and ``blobs/`` for S3 object bodies. A request that may change a unit's
state (:mod:`.writes`) is answered only once a snapshot of that unit taken after the change is on disk
(:class:`~localcloud.core.durable.GroupCommit`: concurrent requests share one write); what changes without a
request (an execution's progress, a job's status, a moto service changed by another's request) is written within
:data:`BACKGROUND_SECONDS`. Read requests (endpoint invocations among them) do nothing here.
See docs/persistence.md.
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

from localcloud.core.durable import Blobs, GroupCommit, dumps, loads, read_snapshot
from localcloud.persist.motostate import RESTORED_BLOBS, MotoState
from localcloud.persist.writes import changes_state

LOG = logging.getLogger(__name__)

#: how often what changed without a request (executions, jobs, moto side effects) is written at the latest
BACKGROUND_SECONDS = 1.0
#: moto services whose requests change another moto service too (SNS delivers to SQS, EventBridge to SQS/SNS)
_ALSO = {"sns": ("sqs",), "events": ("sqs", "sns"), "scheduler": ("sqs", "sns")}
__all__ = ["BACKGROUND_SECONDS", "Persistence", "changes_state"]


class Persistence:
    """The state folder of one server: restore at start, commit after writes, a last snapshot at stop."""

    def __init__(self, home: Path, moto_services: tuple[str, ...]) -> None:
        self.folder = home / "state"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.blobs = Blobs(self.folder / "blobs")
        self.units: dict[str, GroupCommit] = {}
        self._moto = {name: MotoState(name, self.blobs) for name in moto_services}
        self._backends: dict[str, tuple[Any, Any]] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- start
    def restore_moto(self) -> None:
        """Put moto's services back as they were (before any backend is made: some read moto at start)."""
        s3_restored = False
        for name, state in self._moto.items():
            path = self.folder / f"moto-{name}"
            data = self._read(path)
            if data is not None:
                try:
                    count = state.restore(data)
                    s3_restored |= name == "s3"
                    LOG.info("restored moto %s (%d backends)", name, count)
                except Exception:  # noqa: BLE001 - a state file of another version is kept aside, not fatal
                    LOG.exception("cannot restore moto %s; it starts empty (the file is kept as %s.unreadable)",
                                  name, path)
                    path.rename(path.with_name(path.name + ".unreadable"))
            self.units[f"moto-{name}"] = GroupCommit(f"moto-{name}", path, state.snapshot)
        if s3_restored or not (self.folder / "moto-s3").exists():
            gone = self.blobs.keep_only(set(RESTORED_BLOBS))
            if gone:
                LOG.info("removed %d blobs no object refers to", gone)

    def restore_backends(self, backends: dict[str, Any], modules: dict[str, str]) -> None:
        """Give each backend with a durability module (``modules``: backend name → module) its saved records."""
        for name, module_name in modules.items():
            backend, module = backends.get(name), importlib.import_module(module_name)
            if backend is None:
                continue
            self._backends[name] = (backend, module)
            if not hasattr(module, "state"):
                continue
            path = self.folder / name
            data = self._read(path)
            if data is not None:
                try:
                    module.restore(backend, loads(data))
                except Exception:  # noqa: BLE001 - as for moto: kept aside, the service starts empty
                    LOG.exception("cannot restore %s; it starts empty (the file is kept as %s.unreadable)", name,
                                  path)
                    path.rename(path.with_name(path.name + ".unreadable"))
            self.units[name] = GroupCommit(name, path, lambda b=backend, m=module: dumps(*m.state(b)))
        self._ticker = threading.Thread(target=self._tick, name="durable-ticker", daemon=True)
        self._ticker.start()

    def recover(self) -> None:
        """What needs the server answering: endpoints load their models, schedules start again."""
        for name, (backend, module) in self._backends.items():
            if hasattr(module, "recover"):
                try:
                    module.recover(backend)
                except Exception:  # noqa: BLE001 - the other services still recover
                    LOG.exception("recovering %s failed", name)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return read_snapshot(path)
        except ValueError:
            LOG.exception("unreadable state file %s", path)
            path.rename(path.with_name(path.name + ".unreadable"))
            return None

    # ------------------------------------------------------------------------------------------- serving
    def committed(self, unit: str) -> None:
        """Return once ``unit``'s state, as it is now, is on disk (after a request that changed it)."""
        found = self.units.get(unit)
        if found is None:
            return
        found.commit()
        for other in _ALSO.get(unit.removeprefix("moto-"), ()):
            extra = self.units.get(f"moto-{other}")
            if extra is not None:
                extra.touch()

    def _tick(self) -> None:
        """Our backends change without requests (executions run, jobs end); moto's do not (what one moto service
        does to another on a request is written with that request: ``_ALSO``)."""
        while not self._stop.wait(BACKGROUND_SECONDS):
            for name in self._backends:
                unit = self.units.get(name)
                if unit is not None:
                    unit.touch()

    def stats(self) -> dict[str, Any]:
        return {name: {"writes": u.writes, "seconds": round(u.seconds, 3)} for name, u in self.units.items()}

    def close(self) -> None:
        """A last snapshot of everything (before the services stop: what runs is kept as running), then stop."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        for unit in self.units.values():
            unit.close()
