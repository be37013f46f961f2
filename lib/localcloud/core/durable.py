"""State that outlives the server: files written whole and durably, write-once blobs, snapshots that travel through
pickle, and a group commit that makes a request's change durable before its answer leaves.

- :func:`write_atomic`: the new content goes to a temporary file in the same folder, is flushed and fsynced, then
  renamed over the old one and the folder is fsynced, so after a crash (``kill -9`` or power loss) a reader finds
  either the whole old file or the whole new one, never a mix (rename is atomic within a file system, POSIX
  ``rename(2)``; the folder's fsync makes the rename itself durable, ``fsync(2)``).
- :class:`Blobs`: content-addressed files (SHA-256), written once and fsynced before they are referred to.
- :func:`dumps` / :func:`loads`: pickle, with threads, locks, events and conditions replaced by fresh ones (a record
  that holds one is still a record) and with reducers a caller adds for its own types.
- :class:`GroupCommit`: one writer thread per unit of state; :meth:`GroupCommit.commit` returns once a snapshot
  taken *after* the call is on disk, so concurrent requests share one write instead of queueing one each.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

#: the first bytes of every snapshot file: its format, so a reader of another format refuses it rather than guess
MAGIC = b"localcloud-state 1\n"
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one, both whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_snapshot(path: Path) -> bytes | None:
    """The payload of a snapshot file written by :func:`write_snapshot`, None when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data.startswith(MAGIC):
        raise ValueError(f"{path} is not a localcloud state file of format 1")
    return data[len(MAGIC):]


def write_snapshot(path: Path, payload: bytes) -> None:
    write_atomic(path, MAGIC + payload)


class Blobs:
    """Write-once files named by the SHA-256 of their content (S3 object bodies, Lambda packages)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self.folder / name
        if not path.exists():
            write_atomic(path, data)
        return name

    def get(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def keep_only(self, names: set[str]) -> int:
        """Delete every blob not in ``names`` (no snapshot refers to it any more); returns how many went."""
        gone = 0
        for path in self.folder.iterdir():
            if path.name not in names and not path.name.startswith("."):
                path.unlink(missing_ok=True)
                gone += 1
        return gone


class _Placeholder:
    """What a thread becomes in a snapshot: nothing runs after a restart until a service starts it again."""


def _lock() -> Any:
    return threading.Lock()


def _reduce_runtime(obj: Any) -> Any:
    """Fresh locks, events and conditions for the ones a record holds; threads become placeholders."""
    if isinstance(obj, _LOCK_TYPES[0]):
        return (_lock, ())
    if isinstance(obj, _LOCK_TYPES[1]):
        return (threading.RLock, ())
    if isinstance(obj, threading.Event):
        return (threading.Event, ())
    if isinstance(obj, threading.Condition):
        return (threading.Condition, ())
    if isinstance(obj, threading.Thread):
        return (_Placeholder, ())
    return NotImplemented


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, reducers: Callable[[Any], Any] | None) -> None:
        super().__init__(file, protocol=5)
        self._reducers = reducers

    def reducer_override(self, obj: Any) -> Any:
        if self._reducers is not None:
            reduced = self._reducers(obj)
            if reduced is not NotImplemented:
                return reduced
        return _reduce_runtime(obj)


def dumps(obj: Any, reducers: Callable[[Any], Any] | None = None, attempts: int = 20) -> bytes:
    """Pickle ``obj``; ``reducers(o)`` may return a reduce tuple for ``o`` (or NotImplemented). A structure that
    another thread changes meanwhile ("dictionary changed size during iteration") is pickled again."""
    for attempt in range(attempts):
        buffer = io.BytesIO()
        try:
            _Pickler(buffer, reducers).dump(obj)
            return buffer.getvalue()
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.001 * (attempt + 1))
    raise AssertionError("unreachable")


def loads(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - the server's own state files, in its own home



class GroupCommit:
    """One unit of state (a moto service, one of our backends) written by one thread.

    ``snapshot()`` returns the unit's bytes (None: nothing to write). :meth:`commit` blocks until a snapshot taken
    after the call is durable; :meth:`touch` asks for one without waiting (background changes); :meth:`close`
    writes a last one and stops the thread.
    """

    def __init__(self, name: str, path: Path, snapshot: Callable[[], bytes | None]) -> None:
        self.name = name
        self.path = path
        self._snapshot = snapshot
        self._cond = threading.Condition()
        self._wanted = 0
        self._written = 0
        self._closed = False
        self._last: bytes | None = None
        self.writes = 0
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"durable-{name}", daemon=True)
        self._thread.start()

    def touch(self) -> int:
        with self._cond:
            self._wanted += 1
            self._cond.notify_all()
            return self._wanted

    def commit(self, timeout: float = 60.0) -> None:
        ticket = self.touch()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._written < ticket and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    LOG.error("state of %s not written within %.0f s", self.name, timeout)
                    return
                self._cond.wait(left)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted == self._written and not self._closed:
                    self._cond.wait()
                if self._closed and self._wanted == self._written:
                    return
                target = self._wanted
            self.write_now()
            with self._cond:
                self._written = max(self._written, target)
                self._cond.notify_all()

    def write_now(self) -> None:
        started = time.perf_counter()
        try:
            data = self._snapshot()
            if data is not None and data != self._last:
                write_snapshot(self.path, data)
                self._last = data
                self.writes += 1
        except Exception:  # noqa: BLE001 - a failed snapshot is logged; the next change tries again
            LOG.exception("writing the state of %s failed", self.name)
        self.seconds += time.perf_counter() - started

    def close(self) -> None:
        self.touch()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(60)
