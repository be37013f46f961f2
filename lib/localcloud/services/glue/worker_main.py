"""The Glue job worker process: holds one SparkSession and runs job scripts in it, one at a time.

A :mod:`localcloud.core.childmain` handler module, started by :mod:`localcloud.services.glue.workers` as
``python -m localcloud.core.childmain localcloud.services.glue.worker_main R W``; it never imports the server.
:func:`prepare` starts Spark once (mode ``spark``, from ``LOCALCLOUD_GLUE_WORKER_MODE``, with the settings in
``LOCALCLOUD_GLUE_SPARK_CONF``) and warms it up; mode ``python`` (Glue ``pythonshell`` jobs) runs scripts without
Spark. Each ``{"op": "run"}`` request (:func:`handle`) names a script, its ``sys.argv``, environment and log file;
the script runs with :func:`runpy.run_path` in fresh globals, its stdout/stderr going to the run's log. Spark is
reused: ``SparkContext()`` and ``SparkContext.getOrCreate()`` both return the running context, and ``stop()`` on
the context or the session is ignored while a script runs; after each answer (:func:`after`) Spark's state of the
run is reset, and :func:`close` stops Spark when the worker is told to exit.

A run ends with ``{"event": "result", "ok": true}`` or ``{"event": "result", "ok": false, "error": <Glue-style
ErrorMessage>, ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOG = logging.getLogger("localcloud.glue.worker")
ERROR_CATEGORY = "UNCLASSIFIED_ERROR"
#: the worker's settings, given by the server in its environment (and removed before any script runs)
MODE_VARIABLE = "LOCALCLOUD_GLUE_WORKER_MODE"
SPARK_CONF_VARIABLE = "LOCALCLOUD_GLUE_SPARK_CONF"
MAX_MESSAGE = 4000


class _State:
    """What the worker holds between runs."""

    spark: Any = None
    running = False
    runs = 0


STATE = _State()


# ------------------------------------------------------------------------------------------------ Spark


def start_spark(conf: dict[str, str]) -> Any:
    """Start the one SparkSession of this worker and make scripts share it."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _share_context(spark)
    return spark


def _share_context(spark: Any) -> None:
    """Make ``SparkContext()`` return the running context and ``stop()`` a no-op during runs."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    sc = spark.sparkContext
    sc._localcloud_warm = True  # noqa: SLF001 - marks the shared context
    original_init = SparkContext.__init__
    original_sc_stop = SparkContext.stop
    original_session_stop = SparkSession.stop

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        active = SparkContext._active_spark_context  # noqa: SLF001
        if active is not None and STATE.running:
            return active
        return object.__new__(cls)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        if getattr(self, "_localcloud_warm", False):
            return
        original_init(self, *args, **kwargs)

    def sc_stop(self: Any) -> None:
        if STATE.running and getattr(self, "_localcloud_warm", False):
            LOG.info("SparkContext.stop() ignored: the local Glue worker keeps Spark running between job runs")
            return
        original_sc_stop(self)

    def session_stop(self: Any) -> None:
        if STATE.running:
            LOG.info("SparkSession.stop() ignored: the local Glue worker keeps Spark running between job runs")
            return
        original_session_stop(self)

    SparkContext.__new__ = __new__  # type: ignore[method-assign]
    SparkContext.__init__ = __init__  # type: ignore[method-assign]
    SparkContext.stop = sc_stop  # type: ignore[method-assign]
    SparkSession.stop = session_stop  # type: ignore[method-assign]


def warm_up(spark: Any) -> float:
    """Run a tiny CSV job (read, aggregate, split, write, re-read) so the first real run finds the JVM warm."""
    import shutil
    import tempfile

    from pyspark.sql import functions as F

    started = time.monotonic()
    folder = tempfile.mkdtemp(prefix="warmup-", dir=os.getcwd())
    try:
        source = os.path.join(folder, "in.csv")
        with open(source, "w", encoding="utf-8") as fh:
            fh.write("k,x,y,label\n")
            fh.writelines(f"k{i % 7},{i},{i * 0.5},{'True.' if i % 5 else 'False.'}\n" for i in range(500))
        df = spark.read.csv(source, header=True)
        df.agg(F.count(F.lit(1)), F.sum(F.col("x").cast("double").isNull().cast("long"))).first()
        df.groupBy("k").count().orderBy(F.desc("count")).limit(3).collect()
        out = df.select(F.when(F.col("label") == "True.", 1).otherwise(0).alias("label"),
                        F.col("x").cast("double"), *[(F.col("k") == f"k{i}").cast("int") for i in range(7)])
        for i, part in enumerate(out.randomSplit([0.7, 0.3], 42)):
            target = os.path.join(folder, f"out{i}")
            part.coalesce(1).write.mode("overwrite").csv(target, header=False)
            spark.read.text(target).count()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return time.monotonic() - started


def _spark_alive(spark: Any) -> bool:
    """Whether the JVM still answers and the context is not stopped (else this worker must be replaced)."""
    try:
        return not spark.sparkContext._jsc.sc().isStopped()  # noqa: SLF001
    except Exception:
        return False


def _reset_spark(spark: Any) -> None:
    """Leave no state of one run to the next: cached data, temporary views, runtime SQL settings."""
    try:
        spark.sparkContext.cancelAllJobs()
        spark.catalog.clearCache()
        for table in spark.catalog.listTables():
            if table.isTemporary:
                spark.catalog.dropTempView(table.name)
        spark.sql("RESET")
    except Exception:  # the next run must still get its chance
        LOG.exception("resetting Spark after a run failed")


# ------------------------------------------------------------------------------------------------ errors


def _failed_line(exc: BaseException, script: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == script:
            line = frame.lineno
    return line


def _exception_text(exc: BaseException) -> str:
    """``Type: message`` as Glue shows it (Py4J errors as ``An error occurred while calling ...``)."""
    kind = type(exc).__name__
    if kind == "Py4JJavaError":
        head = str(getattr(exc, "errmsg", "")).strip()
        try:
            detail = str(exc.java_exception.getMessage())  # type: ignore[attr-defined]
        except Exception:
            detail = ""
        return f"{head} {detail}".strip()
    message = str(exc).strip()
    if kind == "SystemExit":
        return f"SystemExit: {exc.code}"
    return f"{kind}: {message}" if message else kind


def describe(exc: BaseException, script: str) -> str:
    """The ErrorMessage of a run whose script raised ``exc``."""
    parts = [f"Error Category: {ERROR_CATEGORY}"]
    line = _failed_line(exc, script)
    if line is not None:
        parts.append(f"Failed Line Number: {line}")
    parts.append(_exception_text(exc))
    text = "; ".join(parts)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


# ------------------------------------------------------------------------------------------------ a run


@contextmanager
def _redirected(log_path: str) -> Iterator[None]:
    """Send this process's fd 1/2 (Python and native writes) to ``log_path`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forget_modules(before: set[str], roots: list[str]) -> None:
    """Unload modules a script imported from its own folders and the ``awsglue`` shim (fresh next run)."""
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        path = str(getattr(module, "__file__", "") or "")
        if name == "awsglue" or name.startswith("awsglue.") or any(path.startswith(r) for r in roots):
            sys.modules.pop(name, None)


def run_script(request: dict[str, Any]) -> dict[str, Any]:
    """Run one job script; report success or the Glue-style error."""
    script = os.path.abspath(request["script"])
    paths: list[str] = [os.path.abspath(p) for p in request.get("paths", [])]
    roots = [os.path.dirname(script), *paths]
    saved_argv, saved_path, saved_cwd = list(sys.argv), list(sys.path), os.getcwd()
    modules_before = set(sys.modules)
    started = time.monotonic()
    STATE.runs += 1
    result: dict[str, Any] = {"ok": True}
    with _redirected(request["log"]), _environment(request.get("env", {})):
        print(f"[localcloud] run {request.get('run_id')} in worker pid {os.getpid()} "
              f"(run #{STATE.runs} of this worker)", flush=True)
        try:
            sys.argv = [script, *request.get("argv", [])]
            sys.path[:0] = [p for p in (os.path.dirname(script), *paths) if p not in sys.path]
            os.chdir(request.get("cwd") or os.path.dirname(script))
            STATE.running = True
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                traceback.print_exc()
                result = {"ok": False, "error": describe(exc, script), "type": "SystemExit"}
        except BaseException as exc:  # noqa: BLE001 - every failure of the script is the run's failure
            traceback.print_exc()
            result = {"ok": False, "error": describe(exc, script), "type": type(exc).__name__}
        finally:
            STATE.running = False
            sys.argv, sys.path[:] = saved_argv, saved_path
            os.chdir(saved_cwd)
            _forget_modules(modules_before, roots)
            boto3 = sys.modules.get("boto3")
            if boto3 is not None:  # its default session caches region and credentials of this run
                boto3.DEFAULT_SESSION = None
            if STATE.spark is not None:
                result["spark_ok"] = _spark_alive(STATE.spark)
            logging.getLogger().handlers[:] = _ROOT_HANDLERS
            print(f"[localcloud] script finished in {time.monotonic() - started:.2f} s: "
                  f"{'succeeded' if result['ok'] else 'failed'}", flush=True)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


# ------------------------------------------------------------------------------------------------ the child

_ROOT_HANDLERS: list[logging.Handler] = []


class SparkStartError(RuntimeError):
    """Spark could not start; the message is the error as Glue would word it."""


def prepare() -> dict[str, Any]:
    """Set up logging, then (mode ``spark``) start Spark and warm it up; the worker's info for "ready"."""
    mode = os.environ.pop(MODE_VARIABLE, "spark")
    conf = json.loads(os.environ.pop(SPARK_CONF_VARIABLE, "{}"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    _ROOT_HANDLERS[:] = list(logging.getLogger().handlers)
    for noisy in ("py4j", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic()
    info: dict[str, Any] = {"mode": mode}
    if mode == "spark":
        try:
            STATE.spark = start_spark(conf)
        except BaseException as exc:  # noqa: BLE001 - reported to the server, which fails the run clearly
            raise SparkStartError(_exception_text(exc)) from exc
        info["spark_version"] = STATE.spark.version
        info["spark_start_s"] = round(time.monotonic() - started, 3)
        if os.environ.get("LOCALCLOUD_GLUE_WARMUP", "1") != "0":
            try:
                info["warmup_s"] = round(warm_up(STATE.spark), 3)
            except Exception:  # a failed warm-up only costs speed
                LOG.exception("Spark warm-up failed")
    LOG.info("worker ready: %s", info)
    return info


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    """One ``{"op": "run", ...}`` request: run the script, answer how it ended."""
    if message.get("op") != "run":
        raise ValueError(f"the Glue worker runs scripts ({{'op': 'run'}}), not {message.get('op')!r}")
    return {"event": "result", **run_script(message)}, None


def after(message: dict[str, Any], answer: dict[str, Any]) -> None:
    """Once the run's end is answered: reset Spark for the next run (which waits for it; this run does not)."""
    if STATE.spark is not None and answer.get("spark_ok"):
        _reset_spark(STATE.spark)


def close() -> None:
    """The worker was told to exit: stop Spark cleanly."""
    if STATE.spark is not None:
        STATE.spark.stop()
