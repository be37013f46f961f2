"""``glue_context.create_dynamic_frame`` and ``write_dynamic_frame`` for Amazon S3 (``connection_type="s3"``).

As the AWS Glue developer guide describes them ("DynamicFrameReader class", "DynamicFrameWriter class",
"Connection types and options for ETL": the s3 connection; "Format options for ETL inputs and outputs"):

- reading takes ``connection_options={"paths": [...]}`` (and ``recurse``) with ``format`` ``csv``, ``json`` or
  ``parquet``; CSV ``format_options``: ``separator`` (default ``,``), ``quoteChar`` (default ``"``, ``-1`` for no
  quoting), ``escaper``, ``withHeader`` (default false), ``multiLine``, ``skipFirst``; JSON: ``multiLine``;
- writing takes ``connection_options={"path": ..., "partitionKeys": [...]}``; CSV ``separator``, ``quoteChar``,
  ``writeHeader`` (default true); Parquet ``compression``. A write adds files under the path (nothing there is
  replaced), as Glue's S3 sink does.

Paths are ``s3://`` (or ``s3a://``) URIs, or the local folders localcloud's runner staged a job argument's S3 path
into. An S3 path the runner did not stage (written in the script itself) is read through S3 with the job's
credentials into the run's working folder, and a write to one is uploaded when Spark has written it. Without a
header, CSV columns are named ``col0``, ``col1``, ... as Glue names them. Other connection types, the Data Catalog
and options not listed fail with a message saying so.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrameReader

from awsglue.dynamicframe import DynamicFrame

LOG = logging.getLogger(__name__)

__all__ = ["DynamicFrameReader", "DynamicFrameWriter"]

S3_SCHEMES = ("s3://", "s3a://")
FORMATS = ("csv", "json", "parquet")


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _s3() -> Any:
    import boto3

    return boto3.client("s3")  # the job's credentials and endpoint, from the run's environment


def _scratch(kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"dynamicframe-{kind}-", dir=os.getcwd()))


def _download(uri: str) -> str:
    """An S3 object or prefix the runner did not stage, copied into the run's working folder."""
    bucket, key = _split_s3(uri)
    s3, folder = _s3(), _scratch("read")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    exact = key in keys
    for name in keys:
        if exact and name != key:
            continue
        relative = Path(name).name if exact else name[len(key):].lstrip("/")
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, name, str(target))
    return str(folder / Path(key).name) if exact else str(folder)


def _local_paths(paths: Sequence[str]) -> list[str]:
    return [_download(p) if p.startswith(S3_SCHEMES) else p for p in paths]


def _csv_reader(reader: DataFrameReader, options: dict[str, Any]) -> tuple[DataFrameReader, bool]:
    """Spark CSV options for Glue's; whether columns are to be named ``col<n>``."""
    header, skip_first = _flag(options.get("withHeader", False)), _flag(options.get("skipFirst", False))
    if header and skip_first:
        raise NotImplementedError("localcloud's CSV reader cannot skip a data line after the header "
                                  "(withHeader with skipFirst)")
    quote = str(options.get("quoteChar", '"'))
    reader = reader.option("sep", str(options.get("separator", ","))).option(
        "quote", "\u0000" if quote == "-1" else quote).option("inferSchema", True)
    reader = reader.option("header", header or skip_first)  # skipFirst: the first line read as a header, dropped
    if options.get("escaper") not in (None, "", "none"):
        reader = reader.option("escape", str(options["escaper"]))
    if _flag(options.get("multiLine", options.get("multiline", False))):
        reader = reader.option("multiLine", True)
    return reader, not header


class DynamicFrameReader:
    """``glue_context.create_dynamic_frame``."""

    def __init__(self, glue_context: Any) -> None:
        self._glue_context = glue_context

    def from_options(self, connection_type: str, connection_options: dict[str, Any] | None = None,
                     format: str | None = None, format_options: dict[str, Any] | None = None,  # noqa: A002
                     transformation_ctx: str = "", **kwargs: Any) -> DynamicFrame:
        """A DynamicFrame of the files under ``connection_options["paths"]``."""
        options, formats = dict(connection_options or {}), dict(format_options or {})
        _check_connection(connection_type)
        paths = options.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not paths:
            raise ValueError('connection_options for connection_type "s3" need "paths": a list of S3 paths')
        if options.get("exclusions"):
            raise NotImplementedError("localcloud's S3 reader does not apply exclusions; list the paths to read")
        reader = self._glue_context.spark_session.read
        if _flag(options.get("recurse", False)):
            reader = reader.option("recursiveFileLookup", True)
        kind = _format(format)
        rename = False
        if kind == "csv":
            reader, rename = _csv_reader(reader, formats)
        elif kind == "json":
            if formats.get("jsonPath"):
                raise NotImplementedError("localcloud's JSON reader reads whole records; jsonPath is not supported")
            if _flag(formats.get("multiLine", formats.get("multiline", False))):
                reader = reader.option("multiLine", True)
        df = reader.format(kind).load(_local_paths(list(paths)))
        if rename:
            df = df.toDF(*[f"col{i}" for i in range(len(df.columns))])
        return DynamicFrame(df, self._glue_context, transformation_ctx)

    def from_catalog(self, *args: Any, **kwargs: Any) -> DynamicFrame:
        raise NotImplementedError("The Glue Data Catalog is not available when the job runs locally: read the "
                                  "table's S3 location with create_dynamic_frame.from_options")

    def from_rdd(self, data: Any, name: str, schema: Any = None, sampleRatio: Any = None) -> DynamicFrame:  # noqa: N803
        spark = self._glue_context.spark_session
        return DynamicFrame(spark.createDataFrame(data, schema, sampleRatio), self._glue_context, name)


class DynamicFrameWriter:
    """``glue_context.write_dynamic_frame``."""

    def __init__(self, glue_context: Any) -> None:
        self._glue_context = glue_context

    def from_options(self, frame: DynamicFrame, connection_type: str,
                     connection_options: dict[str, Any] | None = None, format: str | None = None,  # noqa: A002
                     format_options: dict[str, Any] | None = None, transformation_ctx: str = "",
                     **kwargs: Any) -> DynamicFrame:
        """Write ``frame`` under ``connection_options["path"]`` (new files beside what is there)."""
        options, formats = dict(connection_options or {}), dict(format_options or {})
        _check_connection(connection_type)
        path = options.get("path")
        if not path:
            raise ValueError('connection_options for connection_type "s3" need "path": the S3 path to write to')
        kind = "parquet" if format == "glueparquet" else _format(format)
        writer = frame.toDF().write.mode("append").format(kind)
        if options.get("partitionKeys"):
            writer = writer.partitionBy(*options["partitionKeys"])
        if kind == "csv":
            quote = str(formats.get("quoteChar", '"'))
            writer = writer.option("sep", str(formats.get("separator", ","))).option(
                "quote", "\u0000" if quote == "-1" else quote).option(
                "header", _flag(formats.get("writeHeader", True)))
        elif kind == "parquet" and formats.get("compression"):
            writer = writer.option("compression", str(formats["compression"]))
        target = str(_scratch("write")) if path.startswith(S3_SCHEMES) else path
        self._save(writer, target)
        if path.startswith(S3_SCHEMES):
            _upload(Path(target), path)
        return frame

    def _save(self, writer: Any, target: str) -> None:
        """Save without Hadoop's ``_SUCCESS`` marker (a DynamicFrame sink writes only the data files)."""
        conf = self._glue_context.spark_session.sparkContext._jsc.hadoopConfiguration()
        key = "mapreduce.fileoutputcommitter.marksuccessfuljobs"
        before = conf.get(key)
        conf.set(key, "false")
        try:
            writer.save(target)
        finally:
            if before is None:
                conf.unset(key)
            else:
                conf.set(key, before)

    def from_catalog(self, *args: Any, **kwargs: Any) -> DynamicFrame:
        raise NotImplementedError("The Glue Data Catalog is not available when the job runs locally: write to the "
                                  "table's S3 location with write_dynamic_frame.from_options")

    def from_jdbc_conf(self, *args: Any, **kwargs: Any) -> DynamicFrame:
        raise NotImplementedError("Glue connections (JDBC) are not available when the job runs locally")


def _upload(folder: Path, uri: str) -> None:
    bucket, prefix = _split_s3(uri)
    prefix = prefix.rstrip("/")
    s3 = _s3()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        if file.name.startswith((".", "_")):  # Spark's .crc checksums and markers
            continue
        key = f"{prefix}/{file.relative_to(folder).as_posix()}" if prefix else file.relative_to(folder).as_posix()
        s3.upload_file(str(file), bucket, key)


def _check_connection(connection_type: str) -> None:
    if connection_type != "s3":
        raise NotImplementedError(f'connection_type "{connection_type}" is not available when the job runs '
                                  'locally: localcloud reads and writes DynamicFrames on "s3"')


def _format(value: str | None) -> str:
    kind = (value or "").lower()
    if kind not in FORMATS:
        raise NotImplementedError(f"format {json.dumps(value)} is not available when the job runs locally: "
                                  f"localcloud reads and writes {', '.join(FORMATS)}")
    return kind

