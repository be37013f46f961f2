"""Background work off the request thread: a small registry of worker threads a service can stop at shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

LOG = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Workers:
    """Start named daemon threads; ``shutdown`` signals ``stopping`` and joins them."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except Exception:  # a worker must never die silently
                LOG.exception("background task %s failed", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
