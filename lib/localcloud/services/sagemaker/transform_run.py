"""One batch transform job: the model's server started with the batch variables, every input object cut into
requests, the answers assembled into ``<key>.out`` objects under the output path.

Following "Use Batch Transform" and "Use Your Own Inference Code with Batch Transform" (SageMaker developer
guide) and the API model (``sagemaker/2017-07-24``):

* the container gets ``SAGEMAKER_BATCH=true`` and, when the request sets them, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``,
  ``SAGEMAKER_BATCH_STRATEGY`` (``SINGLE_RECORD``/``MULTI_RECORD``) and ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``,
  with the job's ``Environment`` over the model's; unset values come from its ``execution-parameters`` route, else
  the defaults (:data:`.batching.DEFAULTS`);
* each object is processed separately, its requests carry ``ContentType`` and ``Accept``; a failed request is
  retried ``InvocationsMaxRetries`` times (default 3) within ``InvocationsTimeoutInSeconds`` (default 600);
* "for the input data stored at s3://bucket-name/input-name-prefix/dataset01/data.csv, batch transform stores the
  transformed data at ... data.csv.out": the key relative to the input prefix, ``.out`` appended, under
  ``S3OutputPath``; an object that fails gets no output and the others go on ("When your dataset has multiple input
  files, a transform job continues to process input files even if it fails to process one"), then the job fails:
  ``ClientError: See job logs for more information`` when the container refused a request (4xx),
  ``AlgorithmError: See job logs for more information`` otherwise (the reasons transform jobs report on AWS; the
  detail is in the job's data log);
* a stopped job uploads nothing more ("When you stop a batch transform job before it is completed, Amazon
  SageMaker doesn't store the job's output in Amazon S3").

Logs: ``/aws/sagemaker/TransformJobs``, the container's output in ``<job>/<instance>-<epoch>``, SageMaker's own
lines (``[sagemaker logs]: <bucket>/<key>: ...``) in ``<job>/<instance>-<epoch>/data-log``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.services.sagemaker import batching, dataproc, hosting, s3io
from localcloud.services.sagemaker.jobmodels import TransformJob
from localcloud.services.sagemaker.jobrun import JobFailed, JobRunner

LOG = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TransformJobs"
CLIENT_FAILED = "ClientError: See job logs for more information"
ALGORITHM_FAILED = "AlgorithmError: See job logs for more information"
STRATEGY_ENV = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}
LINE_TYPES = ("text/csv", "application/jsonlines", "application/json-lines", "application/x-jsonlines")


class ObjectFailed(Exception):
    """One input object could not be transformed; ``client`` when the container refused a request."""

    def __init__(self, message: str, client: bool) -> None:
        super().__init__(message)
        self.client = client


def instance(job: TransformJob) -> str:
    """The instance part of the job's log streams (an EC2 instance id and the job's creation second)."""
    digest = hashlib.sha256(job.arn.encode()).hexdigest()[:17]
    return f"i-{digest}-{int(job.created.timestamp())}"


class TransformRunner(JobRunner):
    kind = "transform"
    log_group = LOG_GROUP

    def execute(self, job: TransformJob, folder: Path) -> None:  # type: ignore[override]
        request = job.request
        settings = self._settings(request)
        env = {"SAGEMAKER_BATCH": "true", **{str(k): str(v) for k, v in (request.get("Environment") or {}).items()}}
        for key, name in (("MaxPayloadInMB", "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
                          ("MaxConcurrentTransforms", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS")):
            if request.get(key):
                env[name] = str(request[key])
        if request.get("BatchStrategy"):
            env["SAGEMAKER_BATCH_STRATEGY"] = STRATEGY_ENV[request["BatchStrategy"]]
        stream = f"{job.name}/{instance(job)}"
        s3 = self.s3(job.region, job.model.request.get("ExecutionRoleArn") if job.model else None)
        try:
            loaded = hosting.load_model(s3, job.model, "AllTraffic", folder / "model", env,
                                        log_path=self.log_path(job))
        except hosting.DeploymentError as exc:
            self.logs.lines(job.region, LOG_GROUP, f"{stream}/data-log", str(exc))
            raise JobFailed(f"ClientError: {exc}") from None
        follower = self.logs.follow(job.region, LOG_GROUP, stream, self.log_path(job))
        self.children[job.name] = loaded.child
        try:
            self._fill_defaults(loaded, request, settings)
            self._data_log(job, stream, f"MaxConcurrentTransforms={settings['MaxConcurrentTransforms']}, "
                                        f"MaxPayloadInMB={settings['MaxPayloadInMB']}, BatchStrategy="
                                        f"{STRATEGY_ENV[settings['BatchStrategy']]}")
            self._objects(job, loaded, settings, stream)
        finally:
            self.children.pop(job.name, None)
            loaded.close()
            self.logs.unfollow(follower)

    @staticmethod
    def _settings(request: dict[str, Any]) -> dict[str, Any]:
        out = dict(batching.DEFAULTS)
        out.update({k: request[k] for k in batching.DEFAULTS if request.get(k)})
        client = request.get("ModelClientConfig") or {}
        out["timeout"] = float(client.get("InvocationsTimeoutInSeconds") or 600)
        out["retries"] = int(client.get("InvocationsMaxRetries", 3))
        out["explicit"] = {k for k in batching.DEFAULTS if request.get(k)}
        return out

    @staticmethod
    def _fill_defaults(loaded: hosting.LoadedModel, request: dict[str, Any], settings: dict[str, Any]) -> None:
        """Values the request leaves unset come from the container's ``execution-parameters`` when it has them."""
        if settings["explicit"] == set(batching.DEFAULTS):
            return
        if loaded.kind == "xgboost":  # algorithm_mode/serve.py: MULTI_RECORD and its 6 MB content limit
            offered: dict[str, Any] = {"BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
        else:
            status, body = loaded.request("execution-parameters")
            try:
                offered = json.loads(body) if status == 200 else {}
            except ValueError:
                offered = {}
        for key in set(batching.DEFAULTS) - settings["explicit"]:
            if key in offered:
                value = offered[key]
                settings[key] = {"SINGLE_RECORD": "SingleRecord", "MULTI_RECORD": "MultiRecord"}.get(value, value)

    def _data_log(self, job: TransformJob, stream: str, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        self.logs.lines(job.region, LOG_GROUP, f"{stream}/data-log", f"{stamp}:[sagemaker logs]: {text}")

    def _objects(self, job: TransformJob, loaded: hosting.LoadedModel, settings: dict[str, Any],
                 stream: str) -> None:
        source = job.request["TransformInput"]["DataSource"]["S3DataSource"]
        s3 = self.s3(job.region, job.model.request.get("ExecutionRoleArn") if job.model else None)
        objects = self._list(s3, source)
        failures: list[ObjectFailed] = []
        for bucket, key, relative in objects:
            self.check(job, None)
            try:
                body = self._transform(job, loaded, settings, s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except ObjectFailed as failed:
                self._data_log(job, stream, f"{bucket}/{key}: {failed}")
                failures.append(failed)
                continue
            self.check(job, None)
            self._put(s3, f"{job.request['TransformOutput']['S3OutputPath'].rstrip('/')}/{relative}.out", body)
        if failures:
            raise JobFailed(CLIENT_FAILED if any(f.client for f in failures) else ALGORITHM_FAILED)

    def _list(self, s3: Any, source: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(bucket, key, key relative to the input prefix) of every input object, in key order."""
        uri = str(source.get("S3Uri", ""))
        try:
            bucket, prefix = s3io.split_uri(uri)
            if source.get("S3DataType") == "ManifestFile":
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix)["Body"].read())
                base_bucket, base = s3io.split_uri(manifest[0]["prefix"])
                return [(base_bucket, base + str(rel), str(rel)) for rel in manifest[1:]]
            keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                    for o in page.get("Contents", []) if s3io.is_object_key(o["Key"])]
        except (ClientError, BotoCoreError, s3io.TransferError, ValueError, KeyError, IndexError) as exc:
            raise JobFailed(f"ClientError: Could not read the input data at {uri}: {exc}") from None
        if not keys:
            raise JobFailed(f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source.')
        # the key below the input prefix (an object named exactly: its name), as training channels are laid out
        return [(bucket, k, k[len(prefix):].lstrip("/") or k.rsplit("/", 1)[-1]) for k in sorted(keys)]

    def _put(self, s3: Any, uri: str, body: bytes) -> None:
        try:
            bucket, key = s3io.split_uri(uri)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError, s3io.TransferError) as exc:
            raise JobFailed(f"ClientError: Failed to upload the output to {uri}: {exc}") from None

    def _transform(self, job: TransformJob, loaded: hosting.LoadedModel, settings: dict[str, Any],
                   data: bytes) -> bytes:
        """One object's ``.out`` body (raises ObjectFailed)."""
        request = job.request
        source = request["TransformInput"]
        if (source.get("CompressionType") or "None") == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ObjectFailed(f"ClientError: the object is not gzip data: {exc}", client=True) from None
        processing = request.get("DataProcessing") or {}
        content_type = (source.get("ContentType") or "").split(";")[0].strip()
        csv_format = content_type == "text/csv"
        rows = content_type in LINE_TYPES or source.get("SplitType") == "Line"  # a record per line
        records = batching.split(data, source.get("SplitType"))
        try:
            filtered = [self._filter_in(r, processing.get("InputFilter"), csv_format, rows) for r in records]
            groups = list(batching.batches(filtered, settings["BatchStrategy"], int(settings["MaxPayloadInMB"])))
        except (batching.PayloadTooLarge, dataproc.DataProcessingError) as exc:
            raise ObjectFailed(f"ClientError: {exc}", client=True) from None
        answers, position = [], 0
        for group in groups:
            self.check(job, None)
            answer = self._invoke(loaded, b"".join(group), source, request.get("TransformOutput") or {}, settings)
            originals = records[position:position + len(group)]
            position += len(group)
            if rows:
                originals = [row for record in originals for row in batching.split(record, "Line")]
            answers.extend(self._join(answer, originals, processing, csv_format, rows))
        return batching.assemble(answers, (request.get("TransformOutput") or {}).get("AssembleWith"))

    @staticmethod
    def _filter_in(record: bytes, path: str | None, csv_format: bool, rows: bool) -> bytes:
        """The record the model gets (``InputFilter`` applied to each of its rows)."""
        if dataproc.is_identity(path):
            return record
        parts = batching.split(record, "Line") if rows else [record]
        out = []
        for part in parts:
            ending = part[len(part.rstrip(b"\r\n")):]
            value = dataproc.apply(str(path), dataproc.decode(part.decode().rstrip("\r\n"), csv_format))
            out.append(dataproc.encode(value, csv_format).encode() + ending)
        return b"".join(out)

    def _invoke(self, loaded: hosting.LoadedModel, payload: bytes, source: dict[str, Any],
                output: dict[str, Any], settings: dict[str, Any]) -> bytes:
        status, body = 0, b""
        for _ in range(1 + max(0, settings["retries"])):
            status, _, body = loaded.invoke(payload, source.get("ContentType"), output.get("Accept"),
                                            timeout=settings["timeout"])
            if status == 200:
                return body
        kind = "ClientError" if 400 <= status < 500 else "ServerError"
        message = body.decode("utf-8", errors="replace")
        raise ObjectFailed(f"{kind}: {status}\nMessage:\n{message}", client=400 <= status < 500)

    @staticmethod
    def _join(answer: bytes, originals: list[bytes], processing: dict[str, Any], csv_format: bool,
              rows: bool) -> list[bytes]:
        """The answer of one request, joined with its input records and filtered when asked."""
        join = (processing.get("JoinSource") or "None") == "Input"
        out_filter = processing.get("OutputFilter")
        if not join and dataproc.is_identity(out_filter):
            return [answer]
        text = answer.decode("utf-8", errors="replace")
        lines = [a for a in text.splitlines() if a.strip()] if rows else [text.strip()]
        if join and len(lines) != len(originals):
            raise ObjectFailed(f"ClientError: the model answered {len(lines)} records for {len(originals)} input "
                               "records; JoinSource Input needs one answer per record", client=True)
        joined = []
        try:
            for index, line in enumerate(lines):
                value = dataproc.decode(line, csv_format)
                if join:
                    original = originals[index].decode().rstrip("\r\n")
                    value = dataproc.join(dataproc.decode(original, csv_format), value, csv_format)
                if not dataproc.is_identity(out_filter):
                    value = dataproc.apply(str(out_filter), value)
                joined.append((dataproc.encode(value, csv_format) + "\n").encode())
        except dataproc.DataProcessingError as exc:
            raise ObjectFailed(f"ClientError: {exc}", client=True) from None
        return joined
