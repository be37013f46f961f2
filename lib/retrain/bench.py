"""``make bench``: how fast the local target is, against the targets the project holds itself to.

One run measures, on this machine:

* ``cold``: ``retrain run`` end to end on the default data with a freshly started localcloud (time per notebook and
  per workflow state);
* ``floor``: one Python process doing the same Spark ETL, XGBoost training and a prediction with no orchestration,
  and the ratio cold/floor;
* ``warm``: a second execution of the existing state machine on the running localcloud;
* ``endpoint``: single-row InvokeEndpoint latency over plain HTTP and through boto3, requests/s with 4 concurrent
  clients, rows/s for 1,000-row CSV batches, each against in-process ``predict`` on the same rows;
* ``scale``: the pipeline on 100k and 1M generated rows: wall time and peak RSS of all processes.

Results go to ``reports/bench/bench.json`` (machine-readable, comparable between runs) and ``bench.md`` (a table).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import logging
import multiprocessing
import os
import platform
import runpy
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

#: target name → (comparison, value, unit); checked by :func:`verdicts`.
TARGETS: dict[str, tuple[str, float, str]] = {
    "cold.total_s": ("<=", 25.0, "s"),
    "cold.ratio_to_floor": ("<=", 2.0, "x"),
    "warm.execution_s": ("<=", 5.0, "s"),
    "endpoint.http_p50_ms": ("<=", 2.0, "ms"),
    "endpoint.concurrent_rps": (">=", 1000.0, "req/s"),
    "endpoint.batch_rows_per_s": (">=", 200_000.0, "rows/s"),
    "endpoint.batch_vs_inprocess": ("<=", 1.5, "x"),
    "scale.1000000.total_s": ("<=", 180.0, "s"),
    "scale.1000000.peak_rss_gb": ("<=", 6.0, "GB"),
    "scale.ratio_1m_to_100k": ("<=", 12.0, "x"),
}


# ------------------------------------------------------------------------------------------------ helpers


class PeakRss:
    """Samples the summed RSS of a set of process trees on a thread; ``peak_bytes`` after ``stop()``."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 0.2) -> None:
        self._roots = roots
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            seen: set[int] = set()
            total = 0
            for pid in self._roots():
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for proc in procs:
                    if proc.pid in seen:
                        continue
                    seen.add(proc.pid)
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _cloud_pid(port: int) -> list[int]:
    import localcloud

    info = localcloud.health(port)
    return [int(info["pid"])] if info else []


@dataclass
class PipelineRun:
    total_s: float
    summary: dict[str, Any]
    peak_rss_bytes: int


def run_pipeline(port: int, out: Path, *overrides: str) -> PipelineRun:
    """``retrain run`` on the local target against the localcloud on ``port``; wall time, summary, peak RSS."""
    cmd = [_venv_bin("retrain"), "run", "--params", str(ROOT / "params" / "local.yaml"), "--out", str(out),
           "-p", f"localcloud_port={port}", "-p", "keep_endpoint=true"]
    for item in overrides:
        cmd += ["-p", item]
    t0 = time.perf_counter()
    with PeakRss(lambda: [os.getpid(), *_cloud_pid(port)]) as rss:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if proc.returncode != 0:
        raise RuntimeError(f"retrain run exited {proc.returncode}: {proc.stderr[-2000:]}")
    return PipelineRun(total_s=elapsed, summary=summary, peak_rss_bytes=rss.peak_bytes)


def state_durations(sfn: Any, execution_arn: str) -> dict[str, float]:
    """Seconds spent in each state of an execution, from its history (entered → exited)."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for event in events:
        if event["type"].endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            entered[details["name"]] = event["timestamp"]
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                durations[name] = round(durations.get(name, 0.0)
                                        + (event["timestamp"] - entered.pop(name)).total_seconds(), 3)
    return durations


def _client(port: int, service: str) -> Any:
    import boto3

    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                 region_name="us-east-1").client(service, endpoint_url=f"http://127.0.0.1:{port}")


# ------------------------------------------------------------------------------------------------ sections


def bench_warm(port: int, execution_arn: str) -> dict[str, Any]:
    """Start the same state machine again with fresh per-execution names; time until it ends."""
    sfn = _client(port, "stepfunctions")
    previous = sfn.describe_execution(executionArn=execution_arn)
    old_name = previous["name"]
    new_name = f"{old_name[:60]}-warm"
    payload = previous["input"].replace(old_name, new_name)
    t0 = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=previous["stateMachineArn"], name=new_name, input=payload)["executionArn"]
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    return {"execution_s": round(elapsed, 3), "status": status, "states_s": state_durations(sfn, arn)}


def bench_floor(data: Path, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The bare floor, in a fresh Python process so that Spark's start-up is counted as in a cold run."""
    proc = subprocess.run([sys.executable, "-m", "retrain.bench", "floor", str(data), json.dumps(hyperparameters)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"floor failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _floor_main(data: str, hyperparameters: str) -> None:
    """Body of the floor process: Spark ETL (the project's Glue script), XGBoost training, one prediction."""
    import localcloud

    t0 = time.perf_counter()
    os.environ.setdefault("JAVA_HOME", localcloud.java_home())
    sys.path.insert(0, str(localcloud.awsglue_shim_path()))
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out"
        sys.argv = ["glue_etl.py", "--JOB_NAME", "floor", "--S3_SOURCE", data, "--S3_DEST", f"{dest}/",
                    "--TRAIN_KEY", "train/", "--VAL_KEY", "validation/"]
        runpy.run_path(str(ROOT / "code" / "glue_etl.py"), run_name="__main__")
        t_etl = time.perf_counter()
        import numpy as np
        import xgboost as xgb

        def load(folder: Path) -> Any:
            parts = [np.loadtxt(p, delimiter=",", ndmin=2) for p in sorted(folder.glob("part-*"))]
            return np.vstack([p for p in parts if p.size])

        train, val = load(dest / "train"), load(dest / "validation")
        hp = json.loads(hyperparameters)
        rounds = int(hp.pop("num_round", 100))
        booster = xgb.train({k: v for k, v in hp.items()}, xgb.DMatrix(train[:, 1:], label=train[:, 0]),
                            num_boost_round=rounds)
        t_train = time.perf_counter()
        booster.inplace_predict(val[:1, 1:])
        t_pred = time.perf_counter()
    print(json.dumps({"total_s": round(t_pred - t0, 3), "etl_s": round(t_etl - t0, 3),
                      "train_s": round(t_train - t_etl, 3), "predict_s": round(t_pred - t_train, 4)}))


def _http_invoke(port: int, path: str, body: bytes, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        times.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise RuntimeError(f"InvokeEndpoint answered {resp.status}")
    conn.close()
    return times


def _concurrent_worker(args: tuple[int, str, bytes, float]) -> int:
    port, path, body, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/csv"})
        resp = conn.getresponse()
        resp.read()
        done += resp.status == 200
    return done


def bench_endpoint(port: int, endpoint: str, rows: list[str]) -> dict[str, Any]:
    """Latency and throughput of InvokeEndpoint against in-process predict of the same model and rows."""
    import numpy as np
    import xgboost as xgb

    path = f"/endpoints/{endpoint}/invocations"
    one = rows[0].encode()
    _http_invoke(port, path, one, 50)  # warm up
    http_ms = sorted(t * 1000 for t in _http_invoke(port, path, one, 2000))
    runtime = _client(port, "sagemaker-runtime")
    boto_ms = []
    for _ in range(300):
        t0 = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=one)["Body"].read()
        boto_ms.append((time.perf_counter() - t0) * 1000)
    boto_ms.sort()
    seconds = 5.0
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        counts = pool.map(_concurrent_worker, [(port, path, one, seconds)] * 4)
    batch_rows = (rows * (1000 // len(rows) + 1))[:1000]
    batch = "\n".join(batch_rows).encode()
    batches = 50
    batch_s = sum(_http_invoke(port, path, batch, batches))
    # in-process: the very model the endpoint serves
    sm = _client(port, "sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    bucket, key = model["PrimaryContainer"]["ModelDataUrl"].removeprefix("s3://").split("/", 1)
    blob = _client(port, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    matrix = np.array([[float(v) for v in r.split(",")] for r in batch_rows])
    t0 = time.perf_counter()
    for _ in range(batches):
        booster.inplace_predict(matrix)
    inproc_s = time.perf_counter() - t0
    single = matrix[:1]
    t0 = time.perf_counter()
    for _ in range(2000):
        booster.inplace_predict(single)
    inproc_one_ms = (time.perf_counter() - t0) / 2000 * 1000
    batch_rps = batches * 1000 / batch_s
    inproc_rps = batches * 1000 / inproc_s
    return {
        "http_p50_ms": round(statistics.median(http_ms), 3),
        "http_p99_ms": round(http_ms[int(len(http_ms) * 0.99) - 1], 3),
        "boto3_p50_ms": round(statistics.median(boto_ms), 3),
        "boto3_p99_ms": round(boto_ms[int(len(boto_ms) * 0.99) - 1], 3),
        "inprocess_single_ms": round(inproc_one_ms, 4),
        "concurrent_clients": 4,
        "concurrent_rps": round(sum(counts) / seconds, 1),
        "batch_rows_per_s": round(batch_rps),
        "inprocess_rows_per_s": round(inproc_rps),
        "batch_vs_inprocess": round(inproc_rps / batch_rps, 2),
    }


# ------------------------------------------------------------------------------------------------ report


def lookup(results: dict[str, Any], dotted: str) -> Any:
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, (op, target, unit) in TARGETS.items():
        value = lookup(results, name)
        met = None if value is None else (value <= target if op == "<=" else value >= target)
        rows.append({"metric": name, "target": f"{op} {target:g} {unit}", "value": value, "met": met})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| metric | target | measured | met |", "|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "not measured"}[row["met"]]
        value = "—" if row["value"] is None else f"{row['value']:g}"
        lines.append(f"| {row['metric']} | {row['target']} | {value} | {met} |")
    return "\n".join(lines)


def _holdout_rows(port: int, summary: dict[str, Any]) -> list[str]:
    """Feature rows (no label) for invoking the endpoint: the prepared validation split of the cold run."""
    s3 = _client(port, "s3")
    dest = summary.get("data", {}).get("validation_uri")
    if not dest:
        raise RuntimeError("summary.json has no data.validation_uri to take endpoint rows from")
    bucket, prefix = dest.removeprefix("s3://").split("/", 1)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        if obj["Key"].rsplit("/", 1)[-1].startswith("part-") and obj["Size"]:
            text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            return [line.split(",", 1)[1] for line in text.splitlines()[:200] if line]
    raise RuntimeError(f"no validation rows under {dest}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:
        _floor_main(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(prog="python -m retrain.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    parser.add_argument("--port", type=int, default=4599, help="port of the localcloud the bench starts")
    parser.add_argument("--scale", default="100000,1000000", help="row counts for the scale runs ('' to skip)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    import localcloud
    from retrain.config import load_params
    from retrain.data import generate, write_csv

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    params = load_params(ROOT / "params" / "local.yaml")
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    localcloud.stop(args.port)
    try:
        LOG.info("cold run: fresh localcloud + retrain run")
        t0 = time.perf_counter()
        localcloud.ensure_running(args.port)
        started_s = time.perf_counter() - t0
        cold = run_pipeline(args.port, out / "cold")
        execution_arn = cold.summary["execution"]["arn"]
        results["cold"] = {
            "total_s": round(started_s + cold.total_s, 3),
            "localcloud_start_s": round(started_s, 3),
            "notebooks_s": {nb["name"]: nb["duration_s"] for nb in cold.summary.get("notebooks", [])},
            "states_s": state_durations(_client(args.port, "stepfunctions"), execution_arn),
            "status": cold.summary.get("status"),
        }
        LOG.info("floor: one process, no orchestration")
        results["floor"] = bench_floor(ROOT / params.data_path, dict(params.hyperparameters))
        results["cold"]["ratio_to_floor"] = round(results["cold"]["total_s"] / results["floor"]["total_s"], 2)
        LOG.info("warm retrain on the running localcloud")
        results["warm"] = bench_warm(args.port, execution_arn)
        LOG.info("endpoint latency and throughput")
        results["endpoint"] = bench_endpoint(args.port, params.endpoint_name, _holdout_rows(args.port, cold.summary))
        scale: dict[str, Any] = {}
        for rows in [int(r) for r in args.scale.split(",") if r.strip()]:
            data = out / "data" / f"churn-{rows}.csv"
            if not data.exists():
                data.parent.mkdir(parents=True, exist_ok=True)
                write_csv(generate(rows, params.seed), data)
            LOG.info("scale: %d rows", rows)
            localcloud.stop(args.port)
            t0 = time.perf_counter()
            localcloud.ensure_running(args.port)
            run = run_pipeline(args.port, out / f"scale-{rows}", f"data_path={data}")
            scale[str(rows)] = {"total_s": round(time.perf_counter() - t0, 3),
                                "peak_rss_gb": round(run.peak_rss_bytes / 1e9, 3),
                                "status": run.summary.get("status")}
        if "100000" in scale and "1000000" in scale:
            scale["ratio_1m_to_100k"] = round(scale["1000000"]["total_s"] / scale["100000"]["total_s"], 2)
        results["scale"] = scale
    finally:
        localcloud.stop(args.port)
    rows = verdicts(results)
    results["targets"] = rows
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    text = table(rows)
    (out / "bench.md").write_text(text + "\n")
    print(text)
    print(f"\nwrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
