"""DynamoDB: ``arn:aws:states:::dynamodb:getItem|putItem|updateItem|deleteItem`` (request/response only).

The optimized integration offers these four actions and no ``.sync`` or ``.waitForTaskToken`` pattern ("Call
DynamoDB APIs with Step Functions", Step Functions developer guide; ``dynamodb:query`` is refused at
CreateStateMachine, recorded on AWS: localstack snapshot
``tests/aws/services/stepfunctions/v2/services/test_dynamodb_task_service.snapshot.json``,
``test_invalid_integration``). The result is the API response with ``SdkHttpMetadata`` and ``SdkResponseMetadata``
(``{}`` plus metadata for putItem; ``Item`` for getItem; ``Attributes`` for updateItem with ReturnValues; recorded
in the same file, ``test_base_integrations``). Errors are ``DynamoDB.<modeled exception>``
(``DynamoDB.ResourceNotFoundException``, cause ``... (Service: AmazonDynamoDBv2; Status Code: 400; Error Code:
ResourceNotFoundException; ...)``) or ``DynamoDB.AmazonDynamoDBException`` for validation errors (recorded on AWS:
``.../error_handling/test_task_service_dynamodb.snapshot.json``).
"""

from __future__ import annotations

from typing import Any

from localcloud.asl.integrations.base import Call, ErrorNaming
from localcloud.asl.integrations.requestresponse import invoke, respond

ERRORS = ErrorNaming(prefix="DynamoDB", base="AmazonDynamoDBException", sdk_service="AmazonDynamoDBv2")
#: Step Functions action → DynamoDB API action
ACTIONS = {"getItem": "GetItem", "putItem": "PutItem", "updateItem": "UpdateItem", "deleteItem": "DeleteItem"}


def run(call: Call) -> Any:
    """One of the four item actions."""
    response, operation = invoke(call, "dynamodb", ACTIONS[call.action], ERRORS)
    return respond(call, response, operation)
