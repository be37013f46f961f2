"""Which requests change state, read from the request line and headers alone (nothing here reads a body that the
wire protocol does not need read).

AWS names its read operations with a small set of verbs (Get, List, Describe, ...: the operation names of
botocore's service models); everything else may change state. By protocol:

- ``X-Amz-Target: <Service>.<Operation>`` (JSON protocols): the operation name;
- query protocol (IAM, STS, SNS, SQS): the ``Action`` parameter, in the query string or the form body;
- REST protocols (S3, Lambda, Scheduler, SageMaker Runtime): GET, HEAD and OPTIONS read; an invocation
  (``POST .../invocations``: Lambda Invoke, SageMaker Runtime InvokeEndpoint) changes no stored state either.
"""

from __future__ import annotations

from urllib.parse import parse_qs

#: operation-name prefixes of AWS read operations
READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "BatchDescribe", "Query", "Scan", "Search",
                 "Filter", "Simulate", "Test", "Validate", "Lookup", "Select")
#: read operations whose names start otherwise
READ_OPERATIONS = frozenset({"InvokeEndpoint", "InvokeEndpointWithResponseStream", "InvokeEndpointAsync",
                             "Invoke", "StartQuery", "ValidateStateMachineDefinition", "TestState"})
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def is_read(operation: str) -> bool:
    return operation in READ_OPERATIONS or operation.startswith(READ_PREFIXES)


def changes_state(method: str, path: str, target: str | None, query: str, form: bytes | None) -> bool:
    """Whether a request may change stored state. ``form``: the body of a form-encoded (query protocol) request,
    else None."""
    if target:
        return not is_read(target.rsplit(".", 1)[-1])
    action = _action(query, form)
    if action:
        return not is_read(action)
    if method.upper() in READ_METHODS:
        return False
    return not path.rstrip("/").endswith(("/invocations", "/invocations-response-stream"))


def _action(query: str, form: bytes | None) -> str:
    for text in (query, form.decode("utf-8", "replace") if form else ""):
        if "Action=" in text:
            values = parse_qs(text).get("Action")
            if values:
                return values[0]
    return ""
