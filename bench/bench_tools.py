"""Measuring tools of the benchmark: peak RSS of process trees, state durations from a history, the bare floor."""

from __future__ import annotations

import json
import logging
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

#: The Spark settings of localcloud's warm Glue worker that matter for speed, so the floor runs the same Spark.
FLOOR_SPARK_CONF = {
    "spark.master": "local[*]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
#: The warm worker's JVM flags (``LOCALCLOUD_GLUE_JAVA_OPTIONS`` replaces them there and here).
FLOOR_JAVA_OPTIONS = ("-XX:+UseSerialGC -XX:Tier4InvocationThreshold=100000 -XX:Tier4CompileThreshold=120000 "
                      "-XX:Tier4BackEdgeThreshold=400000")


class PeakRss:
    """Samples the summed RSS of process trees on a thread; ``peak_bytes`` after the ``with`` block, and
    ``cpu_s``: the CPU seconds (user + system) of every process seen, each at its last sample (a process that
    ends between two samples loses at most one interval of its CPU)."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 0.2) -> None:
        self._roots = roots
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    @property
    def cpu_s(self) -> float:
        return round(sum(self.cpu.values()), 2)

    def sample(self) -> int:
        """The summed RSS of every process under the roots now (each process counted once)."""
        import psutil

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
                    with proc.oneshot():
                        total += proc.memory_info().rss
                        times = proc.cpu_times()
                        self.cpu[(proc.pid, proc.create_time())] = times.user + times.system
                except psutil.Error:
                    pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_scaled_cloud(port: int, home: Path, clock: str, time_scale: float) -> str:
    """A local cloud on ``port`` (memory only) whose clock ``clock`` (the environment variable that scales it, e.g.
    ``LOCALCLOUD_EVENTS_TIME_SCALE``) runs at ``time_scale``; its URL. Refuses a cloud already answering there:
    its clock is not known."""
    import localcloud

    saved = os.environ.get(clock)
    os.environ[clock] = str(time_scale)
    try:
        url, started = localcloud.ensure_running(port, home=home, persist=False)
    finally:
        if saved is None:
            os.environ.pop(clock, None)
        else:
            os.environ[clock] = saved
    if not started:
        raise RuntimeError(f"a local cloud already answers on port {port}; its clock ({clock}) is not known")
    return str(url)


def client(port: int, service: str) -> Any:
    """A boto3 client for ``service`` on the local cloud at ``port``."""
    import boto3

    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                 region_name="us-east-1").client(service, endpoint_url=f"http://127.0.0.1:{port}")


def state_durations(sfn: Any, execution_arn: str) -> dict[str, float]:
    """Seconds spent in each state of an execution, from its history (entered → exited, summed over visits)."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return durations_from_events(events)


def durations_from_events(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per state name from ``*StateEntered`` / ``*StateExited`` pairs of a history."""
    entered: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for event in events:
        if event["type"].endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                seconds = (event["timestamp"] - entered.pop(name)).total_seconds()
                durations[name] = round(durations.get(name, 0.0) + seconds, 3)
    return durations


def run_floor(root: Path, data: Path, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The bare floor in a fresh Python process: its wall time counts interpreter, imports and Spark start-up,
    as a cold run pays them."""
    load = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    with subprocess.Popen([sys.executable, str(Path(__file__).with_name("bench.py")), "floor", str(data),
                           json.dumps(hyperparameters)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=root) as proc:
        with PeakRss(lambda: [proc.pid]) as rss:  # its CPU seconds, Spark's JVM included
            stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the floor process failed: {stderr[-2000:]}")
    inner = json.loads(stdout.strip().splitlines()[-1])
    return {"total_s": round(wall, 3), "cpu_s": rss.cpu_s, **inner, "load_avg": [load, round(os.getloadavg()[0], 2)]}


def floor_main(data: str, hyperparameters: str) -> None:
    """Body of the floor process: the Glue script under Spark, XGBoost training, one prediction; prints JSON."""
    started = time.perf_counter()
    import localcloud

    os.environ.setdefault("JAVA_HOME", localcloud.java_home())
    sys.path.insert(0, str(localcloud.awsglue_shim_path()))
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    java = os.environ.get("LOCALCLOUD_GLUE_JAVA_OPTIONS", FLOOR_JAVA_OPTIONS).strip()
    for key, value in {**FLOOR_SPARK_CONF, **({"spark.driver.extraJavaOptions": java} if java else {})}.items():
        builder = builder.config(key, value)
    t_import = time.perf_counter()
    spark = builder.getOrCreate()  # the script's SparkContext.getOrCreate() finds it
    spark.sparkContext.setLogLevel("ERROR")
    t_spark = time.perf_counter()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "code"))  # the modules the Glue job brings with it (--extra-py-files)
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out"
        sys.argv = ["glue_etl.py", "--JOB_NAME", "floor", "--S3_SOURCE", data, "--S3_DEST", f"{dest}/",
                    "--TRAIN_KEY", "train/", "--VAL_KEY", "validation/"]
        runpy.run_path(str(root / "code" / "glue_etl.py"), run_name="__main__")
        t_etl = time.perf_counter()
        import numpy as np
        import xgboost as xgb

        def load(folder: Path) -> Any:
            parts = [np.loadtxt(p, delimiter=",", ndmin=2) for p in sorted(folder.glob("part-*"))]
            return np.vstack([p for p in parts if p.size])

        train, val = load(dest / "train"), load(dest / "validation")
        hp = json.loads(hyperparameters)
        rounds = int(hp.pop("num_round", 100))
        booster = xgb.train(hp, xgb.DMatrix(train[:, 1:], label=train[:, 0]), num_boost_round=rounds)
        t_train = time.perf_counter()
        booster.inplace_predict(val[:1, 1:])
        t_pred = time.perf_counter()
    print(json.dumps({"inner_s": round(t_pred - started, 3), "imports_s": round(t_import - started, 3),
                      "spark_start_s": round(t_spark - t_import, 3), "etl_s": round(t_etl - t_spark, 3),
                      "train_s": round(t_train - t_etl, 3), "predict_s": round(t_pred - t_train, 4)}))
