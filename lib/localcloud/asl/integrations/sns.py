"""SNS: ``arn:aws:states:::sns:publish`` (request/response and ``.waitForTaskToken``).

Publish is the integration's one API ("Call Amazon SNS with Step Functions", Step Functions developer guide); a JSON
``Message`` is sent as its JSON text. The result is ``{MessageId, SdkHttpMetadata, SdkResponseMetadata}`` (plus
``SequenceNumber`` for a FIFO topic); a missing topic fails with ``SNS.NotFoundException`` and an invalid parameter
with ``SNS.InvalidParameterException`` (recorded on AWS: localstack snapshot
``tests/aws/services/stepfunctions/v2/services/test_sns_task_service.snapshot.json``).
"""

from __future__ import annotations

from typing import Any

from localcloud.asl.integrations.base import Call, ErrorNaming
from localcloud.asl.integrations.requestresponse import invoke, respond

ERRORS = ErrorNaming(prefix="SNS", base="AmazonSNSException", sdk_service="AmazonSNS")


def publish(call: Call) -> Any:
    response, operation = invoke(call, "sns", "Publish", ERRORS)
    return respond(call, response, operation)
