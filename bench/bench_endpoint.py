"""The endpoint section of the benchmark: InvokeEndpoint latency and throughput against in-process prediction.

* single row over plain HTTP (one kept-alive connection) and through boto3: p50/p99 in ms;
* 4 client processes, each on its own connection, for a fixed time: requests/s;
* 1,000-row CSV batches: rows/s of the median batch, compared with the same work in this process — CSV text to
  scores (parse, predict, format) — and with bare ``inplace_predict`` on rows already parsed, both with the
  project's xgboost; and with ``inplace_predict`` of the library the endpoint serves with (xgboost 1.7.4 in the
  XGBoost image's environment, timed in a process of that environment), where the model server's own steps on
  the same body are timed too (``server_*_ms``; ``outside_model_server_ms`` is the rest of a batch's time).

:data:`FULL` and :data:`QUICK` say how many requests each measurement makes.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import multiprocessing
import statistics
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_tools import client

LOG = logging.getLogger(__name__)

CONCURRENT_CLIENTS = 4
BATCH_ROWS = 1000


@dataclass(frozen=True)
class Counts:
    """How much one endpoint measurement sends."""

    single: int  # one-row requests over plain HTTP (p50/p99 of these)
    boto3: int  # one-row requests through boto3
    concurrent_s: float  # seconds the concurrent clients run
    batches: int  # 1,000-row batches (the median one counts), and in-process repetitions


FULL = Counts(single=2000, boto3=300, concurrent_s=5.0, batches=200)
QUICK = Counts(single=500, boto3=100, concurrent_s=2.0, batches=50)

#: times ``inplace_predict`` of the served model in the image's environment (xgboost 1.7.4); prints JSON
_SERVED_PREDICT = """
import json, statistics, sys, time
import numpy as np, xgboost as xgb
model, rows, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
booster = xgb.Booster()
booster.load_model(model)
booster.set_param({"nthread": 1})
matrix = np.load(rows)
def median(work):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
batch = median(lambda: booster.inplace_predict(matrix))
one = median(lambda: booster.inplace_predict(matrix[:1]))
# the model server's own work on the same body, step by step (localcloud's serve module, as the endpoint runs it)
import os
from localcloud.images.builtin_xgboost import serve
serve.prepare()
serve.load(os.path.dirname(model), {})
body = open(sys.argv[4], "rb").read()
rows = serve.parse_payload(body, "text/csv")
scores = serve.predict(rows)
server = {"parse_s": median(lambda: serve.parse_payload(body, "text/csv")),
          "predict_s": median(lambda: serve.predict(rows)),
          "encode_s": median(lambda: serve.encode(scores, "text/csv")),
          "invoke_s": median(lambda: serve.invoke(body, "text/csv", "text/csv"))}
print(json.dumps({"xgboost": xgb.__version__, "batch_s": batch, "single_s": one, "server": server}))
"""


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


def _served_model(port: int, endpoint: str) -> bytes:
    """The ``xgboost-model`` file the endpoint serves, from its model artifact."""
    sm = client(port, "sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    url = container.get("ModelDataUrl")
    if not url and container.get("ModelPackageName"):  # a model made from a registry version serves its artifact
        package = sm.describe_model_package(ModelPackageName=container["ModelPackageName"])
        url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = str(url).removeprefix("s3://").split("/", 1)
    blob = client(port, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        member = tar.extractfile("xgboost-model")
        if member is None:
            raise RuntimeError(f"s3://{bucket}/{key} holds no xgboost-model")
        return member.read()


def _served_predict(model: bytes, matrix: Any, body: bytes, count: int) -> dict[str, Any]:
    """Median seconds of ``inplace_predict`` (the batch, one row) with the library the endpoint serves with, and
    of the model server's own steps on the batch's body (``server``: parse, predict, encode, the whole invoke)."""
    import numpy as np

    from localcloud import images

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model").mkdir()  # the model server loads every file of the model's folder
        (Path(tmp) / "model" / "xgboost-model").write_bytes(model)
        np.save(Path(tmp) / "rows.npy", matrix)
        (Path(tmp) / "body.csv").write_bytes(body)
        done = subprocess.run([images.python(images.XGBOOST), "-c", _SERVED_PREDICT,
                               str(Path(tmp) / "model" / "xgboost-model"),
                               str(Path(tmp) / "rows.npy"), str(count), str(Path(tmp) / "body.csv")],
                              capture_output=True, text=True, timeout=600,
                              env={"OMP_NUM_THREADS": "1", "PYTHONPATH": images.pythonpath(images.XGBOOST)})
    if done.returncode != 0:
        raise RuntimeError(f"timing the served library failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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


def _latencies(port: int, endpoint: str, one: bytes, counts: Counts) -> dict[str, Any]:
    """One-row latency over plain HTTP and through boto3 (ms), and requests/s of concurrent clients."""
    path = f"/endpoints/{endpoint}/invocations"
    _http_invoke(port, path, one, 100)  # warm up the connection path
    http_ms = sorted(t * 1000 for t in _http_invoke(port, path, one, counts.single))
    runtime = client(port, "sagemaker-runtime")
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=one)["Body"].read()
    boto_ms = []
    for _ in range(counts.boto3):
        t0 = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=one)["Body"].read()
        boto_ms.append((time.perf_counter() - t0) * 1000)
    boto_ms.sort()
    start_at = time.time() + 1.0  # every client connected and waiting
    with multiprocessing.get_context("spawn").Pool(CONCURRENT_CLIENTS) as pool:
        done = pool.map(_concurrent_client,
                        [(port, path, one, start_at, counts.concurrent_s)] * CONCURRENT_CLIENTS)
    return {
        "http_p50_ms": round(statistics.median(http_ms), 3),
        "http_p99_ms": round(_percentile(http_ms, 0.99), 3),
        "boto3_p50_ms": round(statistics.median(boto_ms), 3),
        "boto3_p99_ms": round(_percentile(boto_ms, 0.99), 3),
        "concurrent_clients": CONCURRENT_CLIENTS,
        "concurrent_rps": round(sum(done) / counts.concurrent_s, 1),
    }


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, int(len(ordered) * share) - 1)]


def bench_endpoint(port: int, endpoint: str, rows: list[str], counts: Counts = FULL) -> dict[str, Any]:
    """Latency and throughput of InvokeEndpoint against in-process prediction of the same model and rows."""
    import numpy as np
    import xgboost as xgb

    path = f"/endpoints/{endpoint}/invocations"
    figures = _latencies(port, endpoint, rows[0].encode(), counts)
    batch_rows = (rows * (BATCH_ROWS // len(rows) + 1))[:BATCH_ROWS]
    batch = "\n".join(batch_rows).encode()
    _http_invoke(port, path, batch, 5)
    batch_s = statistics.median(_http_invoke(port, path, batch, counts.batches))  # the median batch: one hiccup
    # of a busy machine does not decide the figure

    model = _served_model(port, endpoint)
    booster = xgb.Booster()
    booster.load_model(bytearray(model))
    booster.set_param({"nthread": 1})  # as the model server runs it

    def csv_to_scores() -> None:  # the same work without HTTP
        matrix = np.loadtxt(io.StringIO(batch.decode()), delimiter=",", dtype=np.float32, ndmin=2)
        ",".join(map(repr, booster.inplace_predict(matrix).tolist())).encode()

    inproc_csv_s = _median_time(csv_to_scores, counts.batches)
    matrix = np.loadtxt(io.StringIO(batch.decode()), delimiter=",", dtype=np.float32, ndmin=2)
    inproc_predict_s = _median_time(lambda: booster.inplace_predict(matrix), counts.batches)
    inproc_one_s = _median_time(lambda: booster.inplace_predict(matrix[:1]), counts.single)
    served = _served_predict(model, matrix, batch, counts.batches)
    server = served["server"]

    batch_rps = _per_second(BATCH_ROWS, batch_s)
    csv_rps = _per_second(BATCH_ROWS, inproc_csv_s)
    predict_rps = _per_second(BATCH_ROWS, inproc_predict_s)
    served_rps = _per_second(BATCH_ROWS, served["batch_s"])
    return {
        **figures,
        "inprocess_single_ms": round(inproc_one_s * 1000, 4),
        "served_single_ms": round(served["single_s"] * 1000, 4),
        "batch_rows": BATCH_ROWS,
        "batch_ms": round(batch_s * 1000, 3),
        "batch_rows_per_s": round(batch_rps),
        "inprocess_csv_rows_per_s": round(csv_rps),
        "inprocess_predict_rows_per_s": round(predict_rps),
        "served_predict_rows_per_s": round(served_rps),
        "batch_vs_inprocess": round(csv_rps / batch_rps, 2),
        "batch_vs_predict_only": round(predict_rps / batch_rps, 2),
        "batch_vs_served_predict": round(served_rps / batch_rps, 2),
        # where the batch's time goes: the model server's steps in its own process, and the rest (HTTP, the
        # server's routing, metrics and capture, the hop to the model server's process and back)
        "server_parse_ms": round(server["parse_s"] * 1000, 3),
        "server_predict_ms": round(server["predict_s"] * 1000, 3),
        "server_encode_ms": round(server["encode_s"] * 1000, 3),
        "server_invoke_ms": round(server["invoke_s"] * 1000, 3),
        "outside_model_server_ms": round(batch_s * 1000 - server["invoke_s"] * 1000, 3),
        "xgboost": {"project": xgb.__version__, "served": served["xgboost"]},
    }
