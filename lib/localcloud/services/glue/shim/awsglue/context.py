"""``GlueContext``: the Spark session of a Glue job and its logger."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.context import SparkContext
from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)


class GlueLogger:
    """The logger ``GlueContext.get_logger()`` returns: ``info``/``warn``/``error`` as on Glue (Python logging)."""

    def __init__(self, name: str = "GlueLogger") -> None:
        self._log = logging.getLogger(name)

    def info(self, message: str) -> None:
        self._log.info(message)

    def warn(self, message: str) -> None:
        self._log.warning(message)

    def error(self, message: str) -> None:
        self._log.error(message)


class GlueContext:
    """Wraps a ``SparkContext`` the way Glue's context does, without DynamicFrames or the Data Catalog."""

    def __init__(self, sparkContext: SparkContext, **options: Any) -> None:  # noqa: N803 (Glue's signature)
        self._sc = sparkContext
        self._options = options
        self.spark_session: SparkSession = SparkSession(sparkContext)
        self._logger = GlueLogger()

    @property
    def sparkContext(self) -> SparkContext:  # noqa: N802 (Glue's name)
        """The ``SparkContext`` this context wraps."""
        return self._sc

    def get_logger(self) -> GlueLogger:
        """The job's logger (``info``, ``warn``, ``error``)."""
        return self._logger

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"GlueContext.{name} is not available when the job runs locally: only spark_session, sparkContext and "
            "get_logger() are; use the Spark DataFrame API (glue_context.spark_session) instead"
        )
