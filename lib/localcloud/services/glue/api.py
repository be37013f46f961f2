"""AWS Glue on the wire (JSON 1.1, ``X-Amz-Target: AWSGlue.<Operation>``): jobs and job runs.

Operations: CreateJob, GetJob, UpdateJob, DeleteJob, GetJobs, ListJobs, BatchGetJobs, StartJobRun, GetJobRun,
GetJobRuns, BatchStopJobRun, GetTags, TagResource, UntagResource (jobs). Requests are checked against botocore's Glue model (``InvalidInputException``);
state and runs live in :class:`~localcloud.services.glue.backend.GlueBackend`.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.core.protocol import AWSRequest, JsonService

from .backend import GlueBackend
from .validation import validate_shape

LOG = logging.getLogger(__name__)


class GlueAPI(JsonService):
    """The Glue service of localcloud."""

    signing_names = ("glue",)
    target_prefixes = ("AWSGlue",)
    service_label = "Glue"

    def __init__(self, backend: GlueBackend) -> None:
        self.backend = backend

    # ------------------------------------------------------------------------------------------- tags
    def get_tags(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("GetTags", params)
        return {"Tags": self.backend.tags(params["ResourceArn"])}

    def tag_resource(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("TagResource", params)
        self.backend.tag_resource(params["ResourceArn"], params["TagsToAdd"])
        return {}

    def untag_resource(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("UntagResource", params)
        self.backend.untag_resource(params["ResourceArn"], params["TagsToRemove"])
        return {}

    # ------------------------------------------------------------------------------------------- jobs
    def create_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("CreateJob", params)
        return {"Name": self.backend.create_job(request.region, params)}

    def get_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("GetJob", params)
        return {"Job": self.backend.get_job(request.region, params["JobName"]).to_api()}

    def update_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("UpdateJob", params)
        return {"JobName": self.backend.update_job(request.region, params["JobName"], params["JobUpdate"])}

    def delete_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("DeleteJob", params)
        return {"JobName": self.backend.delete_job(request.region, params["JobName"])}

    def get_jobs(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("GetJobs", params)
        jobs, token = self.backend.page(self.backend.jobs(request.region), params.get("NextToken"),
                                        params.get("MaxResults"))
        return {"Jobs": [j.to_api() for j in jobs], **({"NextToken": token} if token else {})}

    def list_jobs(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("ListJobs", params)
        jobs, token = self.backend.page(self.backend.jobs(request.region, params.get("Tags")),
                                        params.get("NextToken"), params.get("MaxResults"))
        return {"JobNames": [j.name for j in jobs], **({"NextToken": token} if token else {})}

    def batch_get_jobs(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("BatchGetJobs", params)
        found, missing = [], []
        for name in params["JobNames"]:
            try:
                found.append(self.backend.get_job(request.region, name).to_api())
            except Exception:
                missing.append(name)
        return {"Jobs": found, "JobsNotFound": missing}

    # ------------------------------------------------------------------------------------------- runs
    def start_job_run(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("StartJobRun", params)
        return {"JobRunId": self.backend.start_job_run(request.region, params)}

    def get_job_run(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("GetJobRun", params)
        run = self.backend.get_job_run(request.region, params["JobName"], params["RunId"])
        return {"JobRun": run.to_api()}

    def get_job_runs(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("GetJobRuns", params)
        runs, token = self.backend.page(self.backend.job_runs(request.region, params["JobName"]),
                                        params.get("NextToken"), params.get("MaxResults"))
        return {"JobRuns": [r.to_api() for r in runs], **({"NextToken": token} if token else {})}

    def batch_stop_job_run(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        validate_shape("BatchStopJobRun", params)
        stopped, errors = self.backend.batch_stop(request.region, params["JobName"], params["JobRunIds"])
        return {"SuccessfulSubmissions": stopped, "Errors": errors}

    # ------------------------------------------------------------------------------------------- lifecycle
    def health(self) -> dict[str, Any]:
        return {"status": "running", "active_runs": self.backend.active_runs(), **self.backend.runner.health()}

