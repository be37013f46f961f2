"""Data capture: an endpoint config's ``DataCaptureConfig`` makes the endpoint write the requests and responses it
samples to S3 as JSON Lines, one folder per endpoint, variant and hour.

What it follows (SageMaker Developer Guide, "Capture data from real-time endpoint", section "View Captured Data";
API Reference / botocore's sagemaker model: ``DataCaptureConfig``, ``CaptureOption``, ``CaptureContentTypeHeader``,
``DataCaptureConfigSummary``):

- the key: ``{DestinationS3Uri}/{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/filename.jsonl``, by the hour of the
  invocation (UTC). The file name ``mm-ss-mmm-<uuid>.jsonl`` (minute, second and millisecond of the file's first
  record) is the form of a capture key in a public S3 event of a capture upload (``.../AllTraffic/2020/03/11/12/
  32-18-648-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl``, Hydrosphere's SageMaker traffic-shadowing tests);
- one line per invocation: ``{"captureData": {"endpointInput": {...}, "endpointOutput": {...}}, "eventMetadata":
  {"eventId", "inferenceTime"}, "eventVersion": "0"}``, each side with ``observedContentType``, ``mode``
  (``INPUT``/``OUTPUT``), ``data`` and ``encoding``; ``inferenceId`` in ``eventMetadata`` when the request gave
  one (botocore's sagemaker-runtime model, InvokeEndpoint ``InferenceId``: "it is added to the captured data");
- ``encoding``: ``CSV`` / ``JSON`` for a content type listed in ``CsvContentTypes`` / ``JsonContentTypes``, else
  ``BASE64`` ("If no headers are specified Amazon SageMaker AI will by default base64 encode":
  CaptureContentTypeHeader). The guide's sample captures ``text/csv; charset=utf-8`` as CSV with ``text/csv``
  listed, so the match is on the media type, parameters aside;
- ``CaptureMode`` ``Input`` / ``Output`` / ``InputAndOutput`` choose the sides; ``InitialSamplingPercentage`` the
  share of invocations sampled; ``EnableCapture`` false (default true) turns it off;
- shadow variants: "You can also optionally turn on Data Capture to log requests and responses of your production
  and shadow variants" ("Create a shadow test"): a shadow's copy is captured under its own variant name, with the
  answer the caller never saw.

Timing differs from AWS: AWS delivers "within a couple of minutes"; localcloud buffers records per file and writes
them every ``FLUSH_SECONDS`` (scaled by ``LOCALCLOUD_MONITORING_TIME_SCALE``), when :meth:`CaptureWriter.flush` is
called, and when the server stops. Files are written with the S3 client of the captured variant's model execution
role (the role SageMaker acts as for the endpoint: not named by the AWS pages; public reports say capture fails
without ``s3:PutObject`` for "the role you provided in the SageMaker Model behind this Endpoint", github
slalom/dataops-infra pull 113), so a server enforcing IAM needs ``s3:PutObject`` on the destination for that role.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.services.sagemaker.validation import constraint, invalid

LOG = logging.getLogger(__name__)

#: how often buffered records are written (seconds, before the monitoring time scale)
FLUSH_SECONDS = 60.0
#: botocore: DestinationS3Uri pattern and length, SamplingPercentage 0-100, CaptureOptionList 1-32
DESTINATION = re.compile(r"(https|s3)://([^/])/?(.*)")
MODES = ("Input", "Output", "InputAndOutput")


@dataclass(frozen=True)
class Capture:
    """One endpoint config's capture settings."""

    destination: str
    percent: int
    inputs: bool
    outputs: bool
    csv_types: tuple[str, ...] = ()
    json_types: tuple[str, ...] = ()

    def sampled(self) -> bool:
        return self.percent >= 100 or random.random() * 100 < self.percent

    def encode(self, body: bytes, content_type: str | None) -> tuple[str, str]:
        """``(data, encoding)`` of one side."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media and (media in self.csv_types or media in self.json_types):
            try:
                return body.decode("utf-8"), "CSV" if media in self.csv_types else "JSON"
            except UnicodeDecodeError:
                pass
        return base64.b64encode(body).decode("ascii"), "BASE64"


def check(config: Any) -> None:
    """A ``DataCaptureConfig`` of CreateEndpointConfig, as botocore's model constrains it."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("DataCaptureConfig must be an object.")
    percent = config.get("InitialSamplingPercentage")
    if percent is None:
        raise constraint(None, "dataCaptureConfig.initialSamplingPercentage", "not be null")
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise constraint(percent, "dataCaptureConfig.initialSamplingPercentage",
                         "have value less than or equal to 100")
    uri = config.get("DestinationS3Uri")
    if not uri:
        raise constraint(None, "dataCaptureConfig.destinationS3Uri", "not be null")
    if not isinstance(uri, str) or len(uri) > 512 or not DESTINATION.fullmatch(uri):
        raise constraint(uri, "dataCaptureConfig.destinationS3Uri",
                         "satisfy regular expression pattern: (https|s3)://([^/])/?(.*)")
    options = config.get("CaptureOptions")
    if not isinstance(options, list) or not 1 <= len(options) <= 32:
        raise constraint(options, "dataCaptureConfig.captureOptions",
                         "have length greater than or equal to 1")
    for option in options:
        mode = option.get("CaptureMode") if isinstance(option, dict) else None
        if mode not in MODES:
            raise constraint(mode, "dataCaptureConfig.captureOptions.member.captureMode",
                             f"satisfy enum value set: [{', '.join(MODES)}]")


def settings(config: dict[str, Any] | None) -> Capture | None:
    """The capture an endpoint config asks for (None when off)."""
    if not config or config.get("EnableCapture") is False:
        return None
    modes = {str(o.get("CaptureMode")) for o in config.get("CaptureOptions") or [] if isinstance(o, dict)}
    header = config.get("CaptureContentTypeHeader") or {}
    return Capture(destination=str(config["DestinationS3Uri"]).rstrip("/"),
                   percent=int(config.get("InitialSamplingPercentage") or 0),
                   inputs=bool(modes & {"Input", "InputAndOutput"}),
                   outputs=bool(modes & {"Output", "InputAndOutput"}),
                   csv_types=tuple(t.lower() for t in header.get("CsvContentTypes") or []),
                   json_types=tuple(t.lower() for t in header.get("JsonContentTypes") or []))


def summary(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's ``DataCaptureConfig`` (a DataCaptureConfigSummary) for the config in service."""
    if not config:
        return None
    enabled = config.get("EnableCapture") is not False
    return {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage") or 0),
            "DestinationS3Uri": config.get("DestinationS3Uri", ""), "KmsKeyId": config.get("KmsKeyId", "")}


@dataclass(frozen=True)
class Invocation:
    """What one variant saw and answered."""

    endpoint: str
    variant: str
    body: bytes
    content_type: str | None
    answer: bytes
    answer_type: str | None
    when: datetime
    inference_id: str | None = None


def record(capture: Capture, call: Invocation) -> dict[str, Any]:
    """The JSON Lines record of one invocation."""
    data: dict[str, Any] = {}
    if capture.inputs:
        text, encoding = capture.encode(call.body, call.content_type)
        data["endpointInput"] = {"observedContentType": call.content_type or "", "mode": "INPUT", "data": text,
                                 "encoding": encoding}
    if capture.outputs:
        text, encoding = capture.encode(call.answer, call.answer_type)
        data["endpointOutput"] = {"observedContentType": call.answer_type or "", "mode": "OUTPUT", "data": text,
                                  "encoding": encoding}
    meta: dict[str, Any] = {"eventId": str(uuid.uuid4())}
    if call.inference_id:
        meta["inferenceId"] = call.inference_id
    meta["inferenceTime"] = call.when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"captureData": data, "eventMetadata": meta, "eventVersion": "0"}


class CaptureWriter:
    """Buffers capture records per file and writes them to S3. ``s3(region, role)`` makes the client."""

    def __init__(self, s3: Callable[[str, str | None], Any], interval: float) -> None:
        self.s3 = s3
        self.interval = interval
        self._lock = threading.Lock()
        #: (region, role, bucket, key) -> lines
        self._files: dict[tuple[str, str | None, str, str], list[str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, capture: Capture, call: Invocation, region: str, role: str | None) -> None:
        """Buffer one invocation's record (when sampled)."""
        if not capture.sampled():
            return
        line = json.dumps(record(capture, call), separators=(",", ":"))
        rest = capture.destination.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        hour = call.when.strftime("%Y/%m/%d/%H")
        folder = "/".join(p for p in (prefix, call.endpoint, call.variant, hour) if p)
        with self._lock:
            for (r, who, b, key), lines in self._files.items():
                if (r, who, b) == (region, role, bucket) and key.startswith(folder + "/"):
                    lines.append(line)
                    break
            else:
                name = f"{call.when.strftime('%M-%S')}-{call.when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                self._files[(region, role, bucket, f"{folder}/{name}")] = [line]
            self._start()

    def _start(self) -> None:
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> int:
        """Write every buffered file; returns how many were written (a failed write is logged and dropped, as
        AWS stops capturing rather than hold up inference)."""
        with self._lock:
            files, self._files = self._files, {}
        for (region, role, bucket, key), lines in files.items():
            try:
                self.s3(region, role).put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode(),
                                                 ContentType="application/jsonl")
            except Exception as exc:  # noqa: BLE001 - capture never fails an invocation
                LOG.warning("data capture to s3://%s/%s failed: %s", bucket, key, exc)
        return len(files)

    def close(self) -> None:
        self._stop.set()
        self.flush()
