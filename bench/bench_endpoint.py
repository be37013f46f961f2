"""The endpoint section of the benchmark: InvokeEndpoint latency and throughput against in-process prediction.

* single row over plain HTTP (one kept-alive connection) and through boto3: p50/p99 in ms;
* 4 client processes, each on its own connection, for a fixed time: requests/s;
* 1,000-row CSV batches: rows/s of the median batch, compared with the same work in this process — CSV text to scores (parse,
  predict, format) — and with bare ``inplace_predict`` on rows already parsed.
"""

from __future__ import annotations

import http.client
import io
import logging
import multiprocessing
import statistics
import tarfile
import time
from typing import Any

from bench_tools import client

LOG = logging.getLogger(__name__)

SINGLE_REQUESTS = 2000
BOTO3_REQUESTS = 300
CONCURRENT_CLIENTS = 4
CONCURRENT_SECONDS = 5.0
BATCH_ROWS = 1000
BATCHES = 200


def holdout_rows(s3: Any, validation_uri: str | None, limit: int = 200) -> list[str]:
    """Feature rows (label dropped) of the prepared validation split under ``validation_uri``."""
    if not validation_uri:
        raise RuntimeError("the cold run's summary has no data.validation_uri to take endpoint rows from")
    bucket, prefix = validation_uri.removeprefix("s3://").split("/", 1)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        if obj["Key"].rsplit("/", 1)[-1].startswith("part-") and obj["Size"]:
            text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            return [line.split(",", 1)[1] for line in text.splitlines()[:limit] if line]
    raise RuntimeError(f"no validation rows under {validation_uri}")


def _http_invoke(port: int, path: str, body: bytes, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    times = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            times.append(time.perf_counter() - t0)
            if resp.status != 200:
                raise RuntimeError(f"InvokeEndpoint answered {resp.status}")
    finally:
        conn.close()
    return times


def _concurrent_client(args: tuple[int, str, bytes, float, float]) -> int:
    """One client process: requests on one connection from ``start_at`` for ``seconds``; how many succeeded."""
    port, path, body, start_at, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    done = 0
    while time.time() < deadline:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/csv"})
        resp = conn.getresponse()
        resp.read()
        done += resp.status == 200
    conn.close()
    return done


def _served_booster(port: int, endpoint: str) -> Any:
    """The XGBoost booster the endpoint serves, loaded here from its model artifact."""
    import xgboost as xgb

    sm = client(port, "sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    bucket, key = model["PrimaryContainer"]["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    blob = client(port, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        member = tar.extractfile("xgboost-model")
        if member is None:
            raise RuntimeError(f"s3://{bucket}/{key} holds no xgboost-model")
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    booster.set_param({"nthread": 1})  # as the model server runs it
    return booster


def _median_time(work: Any, count: int) -> float:
    """The median duration of ``count`` calls of ``work``."""
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_endpoint(port: int, endpoint: str, rows: list[str]) -> dict[str, Any]:
    """Latency and throughput of InvokeEndpoint against in-process prediction of the same model and rows."""
    import numpy as np

    path = f"/endpoints/{endpoint}/invocations"
    one = rows[0].encode()
    _http_invoke(port, path, one, 100)  # warm up the connection path
    http_ms = sorted(t * 1000 for t in _http_invoke(port, path, one, SINGLE_REQUESTS))
    runtime = client(port, "sagemaker-runtime")
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=one)["Body"].read()
    boto_ms = []
    for _ in range(BOTO3_REQUESTS):
        t0 = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=one)["Body"].read()
        boto_ms.append((time.perf_counter() - t0) * 1000)
    boto_ms.sort()
    start_at = time.time() + 1.0  # every client connected and waiting
    with multiprocessing.get_context("spawn").Pool(CONCURRENT_CLIENTS) as pool:
        counts = pool.map(_concurrent_client,
                          [(port, path, one, start_at, CONCURRENT_SECONDS)] * CONCURRENT_CLIENTS)
    batch_rows = (rows * (BATCH_ROWS // len(rows) + 1))[:BATCH_ROWS]
    batch = "\n".join(batch_rows).encode()
    _http_invoke(port, path, batch, 5)
    batch_s = statistics.median(_http_invoke(port, path, batch, BATCHES))  # the median batch: one hiccup of a
    # busy machine does not decide the figure

    booster = _served_booster(port, endpoint)

    def csv_to_scores() -> None:  # the same work without HTTP
        matrix = np.loadtxt(io.StringIO(batch.decode()), delimiter=",", dtype=np.float32, ndmin=2)
        ",".join(map(repr, booster.inplace_predict(matrix).tolist())).encode()

    inproc_csv_s = _median_time(csv_to_scores, BATCHES)
    matrix = np.loadtxt(io.StringIO(batch.decode()), delimiter=",", dtype=np.float32, ndmin=2)
    inproc_predict_s = _median_time(lambda: booster.inplace_predict(matrix), BATCHES)
    single = matrix[:1]
    t0 = time.perf_counter()
    for _ in range(SINGLE_REQUESTS):
        booster.inplace_predict(single)
    inproc_one_ms = (time.perf_counter() - t0) / SINGLE_REQUESTS * 1000

    batch_rps = _per_second(BATCH_ROWS, batch_s)
    csv_rps = _per_second(BATCH_ROWS, inproc_csv_s)
    predict_rps = _per_second(BATCH_ROWS, inproc_predict_s)
    return {
        "http_p50_ms": round(statistics.median(http_ms), 3),
        "http_p99_ms": round(http_ms[int(len(http_ms) * 0.99) - 1], 3),
        "boto3_p50_ms": round(statistics.median(boto_ms), 3),
        "boto3_p99_ms": round(boto_ms[int(len(boto_ms) * 0.99) - 1], 3),
        "inprocess_single_ms": round(inproc_one_ms, 4),
        "concurrent_clients": CONCURRENT_CLIENTS,
        "concurrent_rps": round(sum(counts) / CONCURRENT_SECONDS, 1),
        "batch_rows": BATCH_ROWS,
        "batch_rows_per_s": round(batch_rps),
        "inprocess_csv_rows_per_s": round(csv_rps),
        "inprocess_predict_rows_per_s": round(predict_rps),
        "batch_vs_inprocess": round(csv_rps / batch_rps, 2),
        "batch_vs_predict_only": round(predict_rps / batch_rps, 2),
    }
