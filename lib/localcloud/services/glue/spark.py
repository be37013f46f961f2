"""The Spark every Glue worker runs: Java, the session's settings, the JVM flags and the worker's environment.

Environment knobs (read when the worker pool is made): ``LOCALCLOUD_GLUE_DRIVER_MEMORY`` (default ``2g``),
``LOCALCLOUD_GLUE_SHUFFLE_PARTITIONS`` (default 4), ``LOCALCLOUD_GLUE_SPARK_MASTER`` (default ``local[*]``),
``LOCALCLOUD_GLUE_JAVA_OPTIONS`` (the driver's JVM flags, see :data:`DEFAULT_JAVA_OPTIONS`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from localcloud.core.context import ServerContext
from localcloud.settings import java_home

#: Spark's own log: warnings and errors to stderr (the worker's log), Parquet's and Hadoop's noise off
LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
"""


def spark_conf(ctx: ServerContext) -> dict[str, str]:
    """The settings of every warm SparkSession: local, quiet, UI off, state under ``<home>/glue``."""
    log4j = ctx.workdir("glue") / "log4j2.properties"
    log4j.write_text(LOG4J2)
    derby = ctx.workdir("glue", "derby")
    return {
        "spark.master": os.environ.get("LOCALCLOUD_GLUE_SPARK_MASTER", "local[*]"),
        "spark.app.name": "localcloud-glue",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": os.environ.get("LOCALCLOUD_GLUE_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.warehouse.dir": str(ctx.workdir("glue", "spark-warehouse")),
        "spark.local.dir": str(ctx.workdir("glue", "spark-tmp")),
        "spark.driver.memory": os.environ.get("LOCALCLOUD_GLUE_DRIVER_MEMORY", "2g"),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={derby} -Dlog4j2.configurationFile=file:{log4j} "
                                         f"{java_options()}".rstrip(),
    }


#: JVM flags of the warm Spark driver. Local Glue jobs run on a few cores next to everything else: the serial
#: collector and a later start of the optimising JIT compiler (C2, at ~7x its usual call counts) leave the cores to
#: the job instead of to background compiling and collecting. On 2 cores that takes ~40 % off a first small run
#: (the default data) while a 1M-row run keeps the speed of fully optimised code (C1-only JIT would halve it).
#: ``LOCALCLOUD_GLUE_JAVA_OPTIONS`` replaces them (an empty value gives the JVM's defaults).
DEFAULT_JAVA_OPTIONS = ("-XX:+UseSerialGC -XX:Tier4InvocationThreshold=100000 -XX:Tier4CompileThreshold=120000 "
                        "-XX:Tier4BackEdgeThreshold=400000")


def java_options() -> str:
    """The driver JVM flags beyond log and Derby settings (``LOCALCLOUD_GLUE_JAVA_OPTIONS`` or the default)."""
    return os.environ.get("LOCALCLOUD_GLUE_JAVA_OPTIONS", DEFAULT_JAVA_OPTIONS).strip()


def worker_env() -> dict[str, str]:
    """The base environment of a worker: this one without AWS settings (each run brings its own), plus Java."""
    env = {k: val for k, val in os.environ.items() if not k.startswith("AWS_")}
    lib = str(Path(__file__).resolve().parents[3])
    env.update(
        JAVA_HOME=java_home(),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (lib, env.get("PYTHONPATH", "")) if p),
    )
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    if not os.path.isdir(env.get("SPARK_HOME", "")):
        env.pop("SPARK_HOME", None)
    return env
