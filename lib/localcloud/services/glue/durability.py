"""What of Glue outlives a restart: jobs and their runs (arguments, states, times, error messages).

A run still active (STARTING, RUNNING, STOPPING, WAITING) when the server stopped ends ``FAILED``: its Spark
driver ran in the server's process tree and is gone. ``FAILED`` is the state of a run whose job failed; Glue's
``ERROR`` is for "A workflow, schedule trigger, or event trigger attempted to run a deleted job" (Glue developer
guide, "AWS Glue job run statuses"), which this is not.
"""

from __future__ import annotations

from typing import Any

from localcloud.core.jobs import utcnow

#: the ErrorMessage of a run the server's stop interrupted
INTERRUPTED = "localcloud stopped while the job run was in progress; a run does not resume after a restart."


def state(backend: Any) -> tuple[dict[str, Any], None]:
    with backend._lock:
        return {"jobs": dict(backend._jobs), "runs": {k: list(v) for k, v in backend._runs.items()}}, None


def restore(backend: Any, saved: dict[str, Any]) -> None:
    with backend._lock:
        backend._jobs.update(saved["jobs"])
        backend._runs.update(saved["runs"])
        for runs in backend._runs.values():
            for run in runs:
                run.session, run.worker_pid = None, None
                if run.active:
                    run.running_since = None
                    run.state, run.error_message = "FAILED", INTERRUPTED
                    run.last_modified_on = run.completed_on = utcnow()
