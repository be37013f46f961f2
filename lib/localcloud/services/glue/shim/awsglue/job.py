"""``Job``: the init/commit bracket of a Glue job run (job bookmarks are not kept locally)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

LOG = logging.getLogger(__name__)


class Job:
    """A Glue job run: ``init(name, args)`` before the work, ``commit()`` after it."""

    def __init__(self, glue_context: Any) -> None:
        self._glue_context = glue_context
        self._name: str | None = None
        self._args: dict[str, Any] = {}
        self._committed = False

    def init(self, job_name: str, args: Mapping[str, Any] | None = None) -> None:
        """Start the run of ``job_name`` with its resolved arguments."""
        self._name = job_name
        self._args = dict(args or {})
        self._committed = False
        LOG.info("job %s initialised", job_name)

    def isInitialized(self) -> bool:  # noqa: N802 (Glue's name)
        """Whether :meth:`init` has been called."""
        return self._name is not None

    def commit(self) -> None:
        """Mark the run as done (on Glue this also saves job-bookmark state)."""
        if self._name is None:
            raise RuntimeError("Job.commit() called before Job.init(job_name, args); call job.init first")
        self._committed = True
        LOG.info("job %s committed", self._name)

    @property
    def committed(self) -> bool:
        """Whether :meth:`commit` has been called since the last :meth:`init` (local extension)."""
        return self._committed
