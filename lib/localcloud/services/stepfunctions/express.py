"""EXPRESS workflows: StartSyncExecution, and StartExecution of an EXPRESS machine (asynchronous, unlisted).

Recorded on AWS (localstack snapshot ``test_sfn_api_express.snapshot.json``): an EXPRESS execution's ARN is
``arn:aws:states:<region>:<account>:express:<machine>:<name>:<id>``; DescribeExecution, StopExecution and
GetExecutionHistory refuse it ("Invalid Arn: 'Resource type not valid in this context: express'") and
ListExecutions of an EXPRESS machine is "StateMachineTypeNotSupported: This operation is not supported by this type
of state machine"; StartSyncExecution answers with the execution's ``status``, ``output`` and ``billingDetails``
(``billedMemoryUsedInMB`` 64, ``billedDurationInMilliseconds`` in 100 ms steps). "Express Workflows can run for up
to five minutes" (Choosing workflow type, developer guide): a longer run times out.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from localcloud import settings
from localcloud.asl import Execution
from localcloud.errors import AWSError
from localcloud.services.stepfunctions import executionlogs
from localcloud.services.stepfunctions.store import Store
from localcloud.services.stepfunctions.versions import Target

LOG = logging.getLogger(__name__)

#: "Maximum execution duration: 5 minutes" (Express workflows, Step Functions service quotas)
EXPRESS_SECONDS = 300
NOT_SUPPORTED = "This operation is not supported by this type of state machine"


class ExpressRuns(Store):
    """EXPRESS executions: not kept as records (no API reads them back), only run."""

    def express_engine(self, target: Target, name: str | None, text: str) -> Execution:
        machine = target.machine
        name = name or str(uuid.uuid4())
        arn = (f"arn:aws:states:{machine.region}:{settings.ACCOUNT_ID}:express:{machine.name}:{name}:"
               f"{uuid.uuid4()}")
        engine = Execution(target.engine_machine, execution_arn=arn, name=name, input=text,
                           state_machine_arn=machine.arn, state_machine_name=machine.name, role_arn=target.role_arn,
                           integrations=self.integrations, tokens=self.tokens, time_scale=self.time_scale,
                           on_event=executionlogs.listener(target.logging, self.endpoint_url, arn, machine.name))
        limit = min(target.engine_machine.timeout_seconds or EXPRESS_SECONDS, EXPRESS_SECONDS)
        engine.env.restart(limit)
        engine.env.host = self  # type: ignore[assignment]
        engine.execution_type = "EXPRESS"
        return engine

    def start_express(self, target: Target, name: str | None, text: str) -> Execution:
        """StartExecution of an EXPRESS machine: runs in the background ("StartExecution isn't idempotent for
        EXPRESS workflows")."""
        engine = self.express_engine(target, name, text)
        with self._lock:
            self.express_runs = [e for e in self.express_runs if e.result is None] + [engine]
        self.workers.start(f"sfn-express-{engine.env.name}"[:60], engine.run)
        return engine

    def start_sync(self, target: Target, name: str | None, text: str) -> dict[str, Any]:
        """StartSyncExecution: run to the end and answer with the result."""
        if target.type != "EXPRESS":
            raise AWSError("StateMachineTypeNotSupported", NOT_SUPPORTED)
        engine = self.express_engine(target, name, text)
        began = time.monotonic()
        result = engine.run()
        millis = (time.monotonic() - began) * 1000
        out: dict[str, Any] = {
            "executionArn": engine.env.execution_arn,
            "stateMachineArn": target.machine.arn,
            "name": engine.env.name,
            "startDate": engine.start_time,
            "stopDate": result.stop_date,
            "status": result.status if result.status != "ABORTED" else "FAILED",
            "input": engine.input_text,
            "inputDetails": {"included": True},
            "billingDetails": {"billedMemoryUsedInMB": 64,
                               "billedDurationInMilliseconds": max(100, math.ceil(millis / 100) * 100)},
        }
        if result.status == "SUCCEEDED":
            out["output"], out["outputDetails"] = result.output, {"included": True}
        if result.error is not None:
            out["error"] = result.error
        if result.cause is not None:
            out["cause"] = result.cause
        return out
