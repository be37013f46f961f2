"""``GlueContext``: the Spark session of a Glue job, its logger, and DynamicFrames read from and written to S3."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pyspark.context import SparkContext
from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)


#: set by localcloud's Glue runner: the file whose lines become the run's ``/aws-glue/jobs/error`` log stream
LOGGER_FILE_ENV = "LOCALCLOUD_GLUE_LOGGER_FILE"


class GlueLogger:
    """The logger ``GlueContext.get_logger()`` returns: ``info``/``warn``/``error``.

    On Glue its messages go to the run's ``/aws-glue/jobs/error`` stream, not to the script's output ("Logging for
    AWS Glue jobs": "user AWS Glue Logger logs are written to the /aws-glue/jobs/error log group"); under
    localcloud's runner they go to the file it names for that stream, elsewhere to Python logging."""

    def __init__(self, name: str = "GlueLogger") -> None:
        self._log = logging.getLogger(name)

    def _write(self, level: int, message: str) -> None:
        target = os.environ.get(LOGGER_FILE_ENV)
        if not target:
            self._log.log(level, message)
            return
        stamp = time.strftime("%y/%m/%d %H:%M:%S", time.gmtime())
        with open(target, "a", encoding="utf-8") as out:
            out.write(f"{stamp} {logging.getLevelName(level)} GlueLogger: {message}\n")

    def info(self, message: str) -> None:
        self._write(logging.INFO, message)

    def warn(self, message: str) -> None:
        self._write(logging.WARNING, message)

    def error(self, message: str) -> None:
        self._write(logging.ERROR, message)


class GlueContext:
    """Wraps a ``SparkContext`` the way Glue's context does, with S3 DynamicFrames and without the Data Catalog."""

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

    @property
    def create_dynamic_frame(self) -> Any:
        """The DynamicFrame reader (``from_options`` on S3; :mod:`awsglue.s3frames`)."""
        from awsglue.s3frames import DynamicFrameReader

        return DynamicFrameReader(self)

    @property
    def write_dynamic_frame(self) -> Any:
        """The DynamicFrame writer (``from_options`` on S3; :mod:`awsglue.s3frames`)."""
        from awsglue.s3frames import DynamicFrameWriter

        return DynamicFrameWriter(self)

    def create_dynamic_frame_from_options(self, connection_type: str, connection_options: Any = None,
                                          format: str | None = None, format_options: Any = None,  # noqa: A002
                                          transformation_ctx: str = "", **kwargs: Any) -> Any:
        return self.create_dynamic_frame.from_options(connection_type, connection_options, format, format_options,
                                                      transformation_ctx, **kwargs)

    def write_dynamic_frame_from_options(self, frame: Any, connection_type: str, connection_options: Any = None,
                                         format: str | None = None, format_options: Any = None,  # noqa: A002
                                         transformation_ctx: str = "", **kwargs: Any) -> Any:
        return self.write_dynamic_frame.from_options(frame, connection_type, connection_options, format,
                                                     format_options, transformation_ctx, **kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"GlueContext.{name} is not available when the job runs locally: spark_session, sparkContext, "
            "get_logger(), create_dynamic_frame/write_dynamic_frame (from_options on S3) are; use the Spark "
            "DataFrame API (glue_context.spark_session) for the rest"
        )
