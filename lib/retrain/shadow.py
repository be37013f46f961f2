"""Shadow testing: a candidate that passed the gate runs beside the model in production, gets a copy of every live
request and answers into data capture only; the run's report compares its answers with production's.

With ``shadow: true``, when a champion serves, the workflow's endpoint config is production = the champion's model
(variant ``AllTraffic``) and ``ShadowProductionVariants`` = the candidate (variant ``Shadow``), with data capture
of both to the run's own prefix (``<run prefix>capture/``). SageMaker "routes a copy of the inference requests to
it in real time within the same endpoint. Only the responses of the production variant are returned to the
calling application" (SageMaker Developer Guide, "Shadow tests"; one production and at most one shadow variant:
"Create a shadow test"), and Data Capture logs "requests and responses of your production and shadow variants"
(same page) under ``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/`` ("Capture data from real-time
endpoint", "View Captured Data"). The SDK's ``EndpointConfigStep`` takes neither shadow variants nor data capture,
so the state is an AWS SDK integration (``aws-sdk:sagemaker:createEndpointConfig``), which sends the request as
botocore's model has it. On a first run (no champion) the candidate is deployed alone, as without shadow.

:func:`compare` sends rows to the endpoint, each request with an ``InferenceId`` (InvokeEndpoint: "it is added to
the captured data"), reads the capture files and pairs production's and the shadow's answers to each request by
it: agreement (same class at the cut-off, or the same argmax), score differences, and the latency of each variant
from CloudWatch (``ModelLatency`` of namespace ``AWS/SageMaker`` per variant: "Monitor Amazon SageMaker with
Amazon CloudWatch"), not from capture timing (a record's ``inferenceTime`` has one-second resolution).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from retrain.deploy import parse_scores, split_s3_uri, to_csv_payload
from retrain.deployment import VARIANT
from retrain.errors import CloudError

if TYPE_CHECKING:
    from retrain.parameters import Params

#: the candidate's variant name beside production's ``AllTraffic``
SHADOW_VARIANT = "Shadow"
CAPTURE_FOLDER = "capture"


def capture_config(destination: str | None = None) -> dict[str, Any]:
    """The endpoint config's ``DataCaptureConfig`` (botocore's sagemaker model): every request, both sides, CSV kept
    as text; ``DestinationS3Uri.$`` the run's capture prefix when ``destination`` is not given."""
    where = {"DestinationS3Uri": destination} if destination else \
        {"DestinationS3Uri.$": f"States.Format('{{}}{CAPTURE_FOLDER}', $.Run.DataPrefix)"}
    return {"EnableCapture": True, "InitialSamplingPercentage": 100, **where,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}


def shadow_config_request(params: Params) -> dict[str, Any]:
    """``Create Shadow Endpoint Config``'s Parameters: the champion (``$.Champion.Payload.ModelName``, from the
    ``Find Champion`` Lambda) in production, this run's model as the shadow."""
    variant = {"InstanceType": params.endpoint_instance_type, "InitialInstanceCount": params.endpoint_instance_count,
               "InitialVariantWeight": 1.0}
    return {
        "EndpointConfigName.$": "$.Run.EndpointConfigName",
        "ProductionVariants": [{"VariantName": VARIANT, "ModelName.$": "$.Champion.Payload.ModelName", **variant}],
        "ShadowProductionVariants": [{"VariantName": SHADOW_VARIANT, "ModelName.$": "$.Run.ModelName", **variant}],
        "DataCaptureConfig": capture_config(),
        "Tags": [{"Key": k, "Value": v} for k, v in params.tags.items()],
    }


def shadow_config_steps(params: Params, alone: Any) -> dict[str, Any]:
    """``Shadow Test?`` (a champion serves: the shadow config; else ``alone``, the candidate's own config) and
    ``Create Shadow Endpoint Config``. Both end where ``alone`` goes next."""
    from stepfunctions import steps

    from retrain.workflow import TaskWithSelector, transient_retry

    choice = steps.Choice("Shadow Test?")
    config = TaskWithSelector("Create Shadow Endpoint Config",
                              resource="arn:aws:states:::aws-sdk:sagemaker:createEndpointConfig",
                              parameters=shadow_config_request(params), result_path="$.EndpointConfig",
                              result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn"})
    config.add_retry(transient_retry("sagemaker", attempts=3))
    choice.add_choice(steps.ChoiceRule.BooleanEquals(variable="$.Champion.Payload.exists", value=True),
                      next_step=config)
    choice.default_choice(alone)
    return {"choice": choice, "config": config}


def shadowing(sm: Any, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's config when it runs a shadow variant with data capture, else None."""
    desc = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    if not config.get("ShadowProductionVariants") or not config.get("DataCaptureConfig"):
        return None
    return config


def send(runtime: Any, endpoint: str, rows: np.ndarray, *, batch: int = 20, tag: str | None = None) -> dict[str, int]:
    """Invoke ``endpoint`` with ``rows`` in batches, each request with its own ``InferenceId``; returns
    ``{inference id: first row index}``."""
    tag = tag or uuid.uuid4().hex[:8]
    sent: dict[str, int] = {}
    for start in range(0, len(rows), batch):
        inference_id = f"{tag}-{start}"
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                                InferenceId=inference_id,
                                Body=to_csv_payload(rows[start:start + batch]).encode("utf-8"))
        sent[inference_id] = start
    return sent


def read_capture(s3: Any, destination: str, endpoint: str, since: datetime) -> dict[str, dict[str, np.ndarray]]:
    """``{variant: {inference id: scores}}`` from the capture files under ``destination`` written since
    ``since`` (the hour folders from then on)."""
    bucket, prefix = split_s3_uri(destination.rstrip("/") + "/")
    out: dict[str, dict[str, np.ndarray]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}{endpoint}/"):
        for item in page.get("Contents", []):
            parts = item["Key"][len(prefix):].split("/")
            if len(parts) != 7 or "/".join(parts[2:6]) < since.strftime("%Y/%m/%d/%H"):
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")
            for line in body.splitlines():
                record = json.loads(line)
                inference_id = record.get("eventMetadata", {}).get("inferenceId")
                answer = record.get("captureData", {}).get("endpointOutput")
                if inference_id and answer and answer.get("encoding") == "CSV":
                    out.setdefault(parts[1], {})[inference_id] = parse_scores(answer["data"])
    return out


@dataclass
class ShadowComparison:
    """Production's and the shadow's answers to the same requests."""

    production: np.ndarray
    shadow: np.ndarray
    task: str = "binary"
    cutoff: float = 0.5
    requests: int = 0
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(len(self.production))

    def _classes(self, scores: np.ndarray) -> np.ndarray:
        if self.task == "multiclass":
            return scores.argmax(axis=1) if scores.ndim == 2 else scores.astype(int)
        return (scores > self.cutoff).astype(int)

    @property
    def agreement(self) -> float | None:
        """The share of rows both models put in the same class (None for regression)."""
        if not self.rows or self.task == "regression":
            return None
        return float((self._classes(self.production) == self._classes(self.shadow)).mean())

    @property
    def differences(self) -> np.ndarray:
        """Shadow minus production, per row (every class probability for softprob)."""
        return (self.shadow - self.production).ravel()

    def to_summary(self) -> dict[str, Any]:
        diffs = np.abs(self.differences)
        agreement = self.agreement
        return {"requests": self.requests, "rows": self.rows, "task": self.task,
                "agreement": None if agreement is None else round(agreement, 4),
                "score_diff": {"mean_abs": round(float(diffs.mean()), 6) if diffs.size else None,
                               "max_abs": round(float(diffs.max()), 6) if diffs.size else None},
                "latency_ms": self.latency_ms,
                "latency_source": "CloudWatch AWS/SageMaker ModelLatency (Average, per variant)"}


def pair(captured: dict[str, dict[str, np.ndarray]], sent: dict[str, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Production's and the shadow's scores for the requests both captured, in sending order."""
    prod, shadow = captured.get(VARIANT, {}), captured.get(SHADOW_VARIANT, {})
    both = [i for i in sorted(sent, key=sent.__getitem__) if i in prod and i in shadow]
    if not both:
        return np.array([]), np.array([]), 0
    return np.concatenate([prod[i] for i in both]), np.concatenate([shadow[i] for i in both]), len(both)


def latency(cw: Any, endpoint: str, config: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Average and maximum ``ModelLatency`` (ms) and the request count of each variant of ``config``."""
    out: dict[str, dict[str, Any]] = {}
    for variant in (VARIANT, SHADOW_VARIANT):
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName="ModelLatency", StartTime=start, EndTime=end, Period=60,
            Statistics=["Average", "Maximum", "SampleCount"],
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant},
                        {"Name": "EndpointConfigName", "Value": config}])["Datapoints"]
        count = sum(p["SampleCount"] for p in points)
        out[variant] = {
            "average": round(sum(p["Average"] * p["SampleCount"] for p in points) / count / 1000, 3) if count
            else None,
            "maximum": round(max(p["Maximum"] for p in points) / 1000, 3) if points else None,
            "requests": int(count)}
    return out


def compare(cloud: Any, endpoint: str, rows: np.ndarray, *, task: str = "binary", timeout: float = 300,
            poll: float = 2) -> ShadowComparison:
    """Send ``rows`` through ``endpoint`` (which runs a shadow with data capture), wait for the capture of both
    variants (AWS delivers it "within a couple of minutes"), pair the answers and read the latencies."""
    sm, s3, cw = cloud.client("sagemaker"), cloud.client("s3"), cloud.client("cloudwatch")
    config = shadowing(sm, endpoint)
    if config is None:
        raise CloudError(f"endpoint {endpoint} runs no shadow variant with data capture.")
    started = datetime.now(UTC) - timedelta(seconds=5)
    sent = send(cloud.client("sagemaker-runtime"), endpoint, rows)
    destination = config["DataCaptureConfig"]["DestinationS3Uri"]
    deadline = time.monotonic() + timeout
    while True:
        production, shadow, paired = pair(read_capture(s3, destination, endpoint, started), sent)
        if paired == len(sent) or time.monotonic() > deadline:
            break
        time.sleep(poll)
    if not paired:
        raise CloudError(f"no captured answers of both variants under {destination} after {timeout:.0f}s.")
    found = ShadowComparison(production, shadow, task=task, requests=paired)
    while True:  # CloudWatch takes a moment more
        found.latency_ms = latency(cw, endpoint, config["EndpointConfigName"], started,
                                   datetime.now(UTC) + timedelta(minutes=1))
        if all(v["requests"] >= paired for v in found.latency_ms.values()) or time.monotonic() > deadline:
            return found
        time.sleep(poll)


def plot_differences(found: ShadowComparison) -> Any:
    """A histogram of shadow minus production scores."""
    from retrain.reports import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(found.differences, bins=30, color="#5c6bc0")
    ax.set_xlabel("shadow score - production score")
    ax.set_ylabel("rows")
    ax.set_title(f"Shadow against production ({found.rows} rows)")
    fig.tight_layout()
    return fig


def differences_alt(found: ShadowComparison) -> str:
    """What the histogram says, for readers who cannot see it."""
    summary = found.to_summary()
    agreement = summary["agreement"]
    said = f"agree on {agreement:.1%} of rows; " if agreement is not None else ""
    return (f"Histogram of shadow minus production scores over {found.rows} rows: the models {said}mean absolute "
            f"difference {summary['score_diff']['mean_abs']}, largest {summary['score_diff']['max_abs']}.")
