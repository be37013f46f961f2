"""SQS: ``arn:aws:states:::sqs:sendMessage`` (request/response and ``.waitForTaskToken``).

SendMessage is the integration's one API ("Call Amazon SQS with Step Functions", Step Functions developer guide); a
JSON ``MessageBody`` is sent as its JSON text (the guide's callback example puts ``$$.Task.Token`` in it). The result
is ``{MD5OfMessageBody, MessageId, SdkHttpMetadata, SdkResponseMetadata}`` (and ``MD5OfMessageAttributes`` with
attributes); an absent ``MessageBody`` fails with ``SQS.AmazonSQSException`` *The request must contain the parameter
MessageBody.* (recorded on AWS: localstack snapshots ``.../services/test_sqs_task_service.snapshot.json`` and
``.../error_handling/test_task_service_sqs.snapshot.json``).

The Java SDK sends the request to the ``QueueUrl``'s host (an unknown host is ``SQS.SdkClientException``, recorded
in the same file); here every queue is localcloud's, found by the URL's account and name whatever its host.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import Call, ErrorNaming
from localcloud.asl.integrations.requestresponse import invoke, parameters, respond


class _SqsErrors(ErrorNaming):
    """SQS's wire codes are not its exception names: ``AWS.SimpleQueueService.NonExistentQueue`` is the modeled
    ``QueueDoesNotExist`` (the JSON protocol's query-compatible code, which botocore reports as ``QueryErrorCode``);
    the exception is named after the model's shape."""

    def from_client_error(self, client: Any, exc: ClientError) -> TaskFailed:
        failed = super().from_client_error(client, exc)
        query_code = exc.response.get("Error", {}).get("QueryErrorCode")
        if query_code:
            return TaskFailed(self.name_for(client, str(query_code)), failed.cause)
        return failed


ERRORS = _SqsErrors(prefix="SQS", base="AmazonSQSException", sdk_service="AmazonSQS")


def send_message(call: Call) -> Any:
    params = parameters(call)
    if "MessageBody" not in params:
        raise TaskFailed(f"{ERRORS.prefix}.{ERRORS.base}",
                         ERRORS.cause("The request must contain the parameter MessageBody.", 400, "MissingParameter",
                                      str(uuid.uuid4())))
    response, operation = invoke(call, "sqs", "SendMessage", ERRORS, params)
    return respond(call, response, operation)
