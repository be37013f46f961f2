"""What the processing, transform and tuning job collections answer alike: ``Describe*Job`` and ``Stop*Job``.

Stopping a job that is not ``InProgress`` is refused with the same ValidationException text for each kind (only the
kind's word differs); a job is found by its name, case-insensitively, as SageMaker names are.
"""

from __future__ import annotations

import threading
from typing import Any

from localcloud.errors import AWSError
from localcloud.services.sagemaker.validation import invalid, need


class JobTable:
    """A base for a collection of one kind of job: ``jobs`` by lower-cased name under ``lock``."""

    #: the request field that names the job, and the kind's word in the refusal to stop it
    name_field: str = ""
    kind: str = ""
    lock: threading.RLock
    jobs: dict[str, Any]

    def _job(self, params: dict[str, Any]) -> Any:
        name = need(params, self.name_field)
        job = self.jobs.get(name.lower())
        if job is None:
            raise AWSError("ValidationException", f"Could not find requested job with name {name}")
        return job

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._job(params).describe()

    def stop(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._job(params)
            if job.status != "InProgress":
                raise invalid(f"The request was rejected because the {self.kind} job is in status {job.status}.")
            job.stop_requested = True
            job.move("Stopping")
        return {}
