"""CloudWatch (signing name ``monitoring``) on the AWS JSON 1.0 protocol, ``X-Amz-Target:
GraniteServiceVersion20100801.<Operation>`` — what botocore sends (its cloudwatch model lists
smithy-rpc-v2-cbor, json and query; botocore without a CBOR codec picks json). Errors are query-compatible: the
query code in ``x-amzn-query-error`` (see :mod:`.checks`)."""

from __future__ import annotations

from typing import Any

from localcloud.core.protocol import AWSRequest, AWSResponse, JsonService
from localcloud.services.cloudwatch.backend import CloudWatchBackend
from localcloud.services.cloudwatch.checks import JSON_TYPES


class CloudWatchAPI(JsonService):
    """Metrics (put, statistics, data, list) and metric alarms."""

    signing_names = ("monitoring",)
    target_prefixes = ("GraniteServiceVersion20100801",)
    service_label = "CloudWatch"
    content_type = "application/x-amz-json-1.0"

    def __init__(self, backend: CloudWatchBackend) -> None:
        self.backend = backend

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    def handle(self, request: AWSRequest) -> AWSResponse:
        response = super().handle(request)
        code = response.headers.get("x-amzn-ErrorType")
        if code:  # query-compatible: the query code in a header, the JSON type in the body
            kind = "Receiver" if response.status >= 500 else "Sender"
            response.headers["x-amzn-query-error"] = f"{code};{kind}"
            response.body = response.body.replace(f'"__type":"{code}"'.encode(),
                                                  f'"__type":"{JSON_TYPES.get(code, code)}"'.encode(), 1)
        return response

    # metrics
    def put_metric_data(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.metrics.put_metric_data(params, request.region)

    def get_metric_statistics(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.metrics.get_metric_statistics(params, request.region)

    def get_metric_data(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.metrics.get_metric_data(params, request.region)

    def list_metrics(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.metrics.list_metrics(params, request.region)

    # alarms
    def put_metric_alarm(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.put_metric_alarm(params, request.region)

    def describe_alarms(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_alarms(params, request.region)

    def describe_alarms_for_metric(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_alarms_for_metric(params, request.region)

    def describe_alarm_history(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_alarm_history(params, request.region)

    def delete_alarms(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.delete_alarms(params, request.region)

    def set_alarm_state(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.set_alarm_state(params, request.region)

    def enable_alarm_actions(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.set_actions(params, request.region, True)

    def disable_alarm_actions(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.set_actions(params, request.region, False)

    # tags
    def list_tags_for_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.list_tags(params)

    def tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tag(params)

    def untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.untag(params)

