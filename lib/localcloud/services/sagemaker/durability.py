"""What of SageMaker outlives a restart: training, processing, transform and tuning jobs, models, endpoint
configurations, endpoints, the Model Registry (groups, packages) and tags.

The records are plain dataclasses and are kept as they are. What ran in the server's process tree does not:

- a job still InProgress (or Stopping) when the server stopped ends ``Failed`` at restore, its FailureReason
  starting ``InternalServerError`` as SageMaker's own do when the service fails a job ("SageMaker.JOB_INTERNAL_ERROR:
  These exceptions occur when the SageMaker job returns InternalServerError. In this case, starting a new job may
  fix a transient issue", SageMaker developer guide, "Retry policy for pipeline steps");
- an endpoint's model servers: :func:`recover` loads each endpoint's models again from their artifacts once the
  server answers (the artifacts are in S3, which is restored first), so it serves the same model as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from localcloud.core.jobs import utcnow

LOG = logging.getLogger(__name__)

#: the FailureReason of a job the server's stop interrupted
INTERRUPTED = ("InternalServerError: localcloud stopped while the job was in progress; a job does not resume "
               "after a restart. Start a new job.")
#: endpoint states whose models were loaded (or being loaded) when the server stopped
_SERVING = ("InService", "Creating", "Updating", "SystemUpdating", "RollingBack")


def state(backend: Any) -> tuple[dict[str, Any], None]:
    with backend.lock:
        return ({"training_jobs": dict(backend.training_jobs), "models": dict(backend.models),
                 "configs": dict(backend.configs), "endpoints": dict(backend.endpoints),
                 "groups": dict(backend.registry.groups), "packages": dict(backend.registry.packages),
                 "package_tokens": dict(backend.registry.tokens), "tags": dict(backend.tags._tags),
                 "processing": dict(backend.processing.jobs), "transforms": dict(backend.transforms.jobs),
                 "tuning": dict(backend.tuning.jobs)}, None)


def restore(backend: Any, saved: dict[str, Any]) -> None:
    """Put the records back (before the server serves); what was running ends Failed."""
    with backend.lock:
        backend.training_jobs.update(saved["training_jobs"])
        backend.models.update(saved["models"])
        backend.configs.update(saved["configs"])
        backend.endpoints.update(saved["endpoints"])
        backend.registry.groups.update(saved["groups"])
        backend.registry.packages.update(saved["packages"])
        backend.registry.tokens.update(saved["package_tokens"])
        backend.tags._tags.update(saved["tags"])
        backend.processing.jobs.update(saved["processing"])
        backend.transforms.jobs.update(saved["transforms"])
        backend.tuning.jobs.update(saved["tuning"])
        failed = 0
        for job in backend.training_jobs.values():
            if not job.done:
                job.failure_reason = INTERRUPTED
                job.training_end = utcnow()
                job.move("Failed", f"Training job failed. Reason: {INTERRUPTED}", "Failed")
                failed += 1
        for job in [*backend.processing.jobs.values(), *backend.transforms.jobs.values(),
                    *backend.tuning.jobs.values()]:
            if not job.done:
                job.move("Failed", INTERRUPTED)
                failed += 1
        for endpoint in backend.endpoints.values():
            if endpoint.status in _SERVING:
                endpoint.status, endpoint.pending = "Creating", None
    LOG.info("restored %d training jobs, %d models, %d endpoints (%d jobs interrupted)",
             len(saved["training_jobs"]), len(saved["models"]), len(saved["endpoints"]), failed)


def recover(backend: Any, timeout: float = 300.0) -> None:
    """Load every endpoint's models again (the server answers by now: the artifacts come over S3) and wait until
    each is InService or Failed."""
    with backend.lock:
        waiting = [e for e in backend.endpoints.values() if e.status == "Creating"]
        for endpoint in waiting:
            config = backend.configs.get(endpoint.config_name.lower())
            if config is None:
                endpoint.status = "Failed"
                endpoint.failure_reason = f"The endpoint configuration {endpoint.config_name} no longer exists."
                continue
            region = endpoint.arn.split(":")[3]
            backend.deployments.start(endpoint, config, backend._variants(config), region,
                                      backend._variants(config, True))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(e.status == "Creating" for e in waiting):
        time.sleep(0.05)
    LOG.info("reloaded %d endpoints", len(waiting))
