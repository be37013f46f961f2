"""RedriveExecution: a FAILED, TIMED_OUT or ABORTED STANDARD execution continues where it stopped.

"Redriven executions use the same state machine definition and execution ARN as the original execution attempt"
and the same input; eligibility: not SUCCEEDED (nor running), within 14 days of the end, fewer than 24,999
history events; "This API action is not supported by EXPRESS state machines"; the client token makes the call
idempotent ("The API will return idempotent responses for the last 10 client tokens used to successfully redrive
the execution. These client tokens are valid for up to 15 minutes after they are first used.") (RedriveExecution,
API reference). A refused redrive is ``ExecutionNotRedrivable`` with the execution's ``redriveStatusReason``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from localcloud.errors import AWSError
from localcloud.services.stepfunctions.models import ExecutionRecord
from localcloud.services.stepfunctions.store import Store, utcnow

LOG = logging.getLogger(__name__)

TOKENS_KEPT = 10
TOKEN_SECONDS = 15 * 60


class Redrives(Store):
    """The RedriveExecution operation."""

    def redrive_execution(self, arn: str, client_token: str | None) -> datetime:
        record = self.execution(arn)
        with self._lock:
            remembered = self.client_tokens.setdefault(arn, [])
            remembered[:] = [t for t in remembered if time.monotonic() - t[1] < TOKEN_SECONDS][-TOKENS_KEPT:]
            for token, _, date in remembered:
                if client_token is not None and token == client_token:
                    return date
            status, reason = record.redrive_status(utcnow())
            if status != "REDRIVABLE":
                raise AWSError("ExecutionNotRedrivable", reason or f"Execution {arn} cannot be redriven: it was "
                               "started by a Map Run; redrive the parent execution")
            record.redrive_count += 1
            record.redrive_date = utcnow()
            record.status, record.stop_date = "RUNNING", None
            record.output = record.error = record.cause = None
            record.engine.env.time_scale = self.time_scale  # the server's clock now (LOCALCLOUD_SFN_TIME_SCALE)
            record.engine.redrive(record.redrive_count)
            if client_token is not None:
                remembered.append((client_token, time.monotonic(), record.redrive_date))
        self.status_changed(record)  # RUNNING again
        self.workers.start(f"sfn-redrive-{record.name}"[:60], lambda: self._rerun(record))
        LOG.info("redriving %s (redrive %d)", arn, record.redrive_count)
        assert record.redrive_date is not None
        return record.redrive_date

    def _rerun(self, record: ExecutionRecord) -> None:
        try:
            record.engine.run_again()
        finally:
            self.finish(record)
