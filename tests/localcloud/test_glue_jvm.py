"""The warm Spark driver's JVM flags: the speed-minded default, replaced or emptied by LOCALCLOUD_GLUE_JAVA_OPTIONS."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.core.context import ServerContext
from localcloud.services.glue.spark import DEFAULT_JAVA_OPTIONS, spark_conf


def _java(tmp_path: Path) -> str:
    return spark_conf(ServerContext(endpoint_url="http://127.0.0.1:1", home=tmp_path, port=1))[
        "spark.driver.extraJavaOptions"]


def test_default_flags_follow_the_log_and_derby_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALCLOUD_GLUE_JAVA_OPTIONS", raising=False)
    java = _java(tmp_path)
    assert java.startswith(f"-Dderby.system.home={tmp_path / 'glue' / 'derby'} -Dlog4j2.configurationFile=file:")
    assert java.endswith(" " + DEFAULT_JAVA_OPTIONS) and "-XX:+UseSerialGC" in java


def test_the_flags_can_be_replaced_or_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_GLUE_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1")
    assert _java(tmp_path).endswith("log4j2.properties -XX:TieredStopAtLevel=1")
    monkeypatch.setenv("LOCALCLOUD_GLUE_JAVA_OPTIONS", "")
    assert _java(tmp_path).endswith("log4j2.properties") and "-XX" not in _java(tmp_path)
