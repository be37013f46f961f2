"""``DynamicFrame``: Glue's frame, here a thin wrapper around a Spark ``DataFrame`` ("DynamicFrame class", AWS Glue
developer guide, PySpark extensions).

What is here: ``fromDF``/``toDF``, ``count``, ``schema``/``printSchema``/``show``, ``repartition``/``coalesce``,
``select_fields``, ``drop_fields``, ``rename_field``, ``apply_mapping`` and ``write``, plus
``DynamicFrameCollection``. A DynamicFrame here has the fixed schema of its DataFrame: Glue's per-record schemas and
choice types (``resolveChoice``, ``unbox``) and the error records (``errorsCount`` is always 0) are not modelled;
a method that is not here fails with AttributeError naming what to use instead.

Field paths follow the guide: ``a.b`` is the field ``b`` of the struct ``a``; a name holding dots is quoted with
back-ticks (```this.old.name```).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (Spark's own idiom)

LOG = logging.getLogger(__name__)

__all__ = ["DynamicFrame", "DynamicFrameCollection"]


def split_path(path: str) -> list[str]:
    """``a.b`` → ``["a", "b"]``; back-ticked parts keep their dots (```a.b`.c`` → ``["a.b", "c"]``)."""
    parts, current, quoted = [], "", False
    for char in path:
        if char == "`":
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _column(path: str) -> Column:
    parts = split_path(path)
    column = F.col(f"`{parts[0]}`")
    for part in parts[1:]:
        column = column.getField(part)
    return column


def _has(df: DataFrame, path: str) -> bool:
    fields = df.schema
    for part in split_path(path):
        names = {f.name: f for f in getattr(fields, "fields", [])}
        if part not in names:
            return False
        fields = names[part].dataType
    return True


class DynamicFrame:
    """A named frame of records over a Spark ``DataFrame``."""

    def __init__(self, jdf: Any, glue_ctx: Any, name: str = "") -> None:
        if not isinstance(jdf, DataFrame):
            raise TypeError("localcloud's DynamicFrame wraps a pyspark DataFrame: use DynamicFrame.fromDF(df, "
                            "glue_context, name)")
        self._df = jdf
        self.glue_ctx = glue_ctx
        self.name = name

    # ---------------------------------------------------------------------------------------- construction
    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx: Any, name: str) -> DynamicFrame:  # noqa: N802 (Glue's name)
        """The DynamicFrame of a Spark DataFrame."""
        return cls(dataframe, glue_ctx, name)

    def toDF(self, options: Sequence[Any] | None = None) -> DataFrame:  # noqa: N802 (Glue's name)
        """The Spark DataFrame (``options`` resolve choice types, which a frame here never has)."""
        return self._df

    def _new(self, df: DataFrame, transformation_ctx: str = "") -> DynamicFrame:
        return DynamicFrame(df, self.glue_ctx, transformation_ctx or self.name)

    # ---------------------------------------------------------------------------------------- information
    def count(self) -> int:
        return self._df.count()

    def schema(self) -> Any:
        return self._df.schema

    def printSchema(self) -> None:  # noqa: N802 (Glue's name)
        self._df.printSchema()

    def show(self, num_rows: int = 20) -> None:
        self._df.show(num_rows)

    def repartition(self, num_partitions: int, transformation_ctx: str = "", **_: Any) -> DynamicFrame:
        return self._new(self._df.repartition(num_partitions), transformation_ctx)

    def coalesce(self, num_partitions: int, shuffle: bool = False, transformation_ctx: str = "",
                 **_: Any) -> DynamicFrame:
        return self._new(self._df.coalesce(num_partitions), transformation_ctx)

    def errorsCount(self) -> int:  # noqa: N802 (Glue's name)
        """Records that failed a transform: none here (Spark's casts give null instead of an error record)."""
        return 0

    def stageErrorsCount(self) -> int:  # noqa: N802 (Glue's name)
        return 0

    # ---------------------------------------------------------------------------------------- transforms
    def select_fields(self, paths: Sequence[str], transformation_ctx: str = "", **_: Any) -> DynamicFrame:
        """Only the given top-level fields (paths the frame lacks are left out)."""
        columns = [_column(p).alias(split_path(p)[-1]) for p in paths if _has(self._df, p)]
        return self._new(self._df.select(*columns), transformation_ctx)

    def drop_fields(self, paths: Sequence[str], transformation_ctx: str = "", **_: Any) -> DynamicFrame:
        """Without the given fields; a nested path drops the field inside its struct."""
        df = self._df
        for path in paths:
            if not _has(df, path):
                continue
            parts = split_path(path)
            if len(parts) == 1:
                df = df.drop(parts[0])
            else:
                df = df.withColumn(parts[0], F.col(f"`{parts[0]}`").dropFields(".".join(parts[1:])))
        return self._new(df, transformation_ctx)

    def rename_field(self, oldName: str, newName: str, transformation_ctx: str = "",  # noqa: N803 (Glue's names)
                     **_: Any) -> DynamicFrame:
        """The top-level field ``oldName`` renamed ``newName`` (back-ticks quote a name holding dots)."""
        old, new = split_path(oldName), split_path(newName)
        if len(old) != 1 or len(new) != 1:
            raise NotImplementedError("localcloud's rename_field renames top-level fields; for a nested field use "
                                      "apply_mapping or the DataFrame API")
        return self._new(self._df.withColumnRenamed(old[0], new[0]), transformation_ctx)

    def apply_mapping(self, mappings: Sequence[Sequence[str]], case_sensitive: bool = False,
                      transformation_ctx: str = "", **_: Any) -> DynamicFrame:
        """``(source path, source type, target name, target type)`` tuples: the frame holds only the mapped
        fields, each cast to its target type (a source the frame lacks is left out, a value that does not cast
        is null)."""
        columns = []
        for mapping in mappings:
            if len(mapping) != 4:
                raise ValueError(f"Mapping {mapping!r} must be (source, source type, target, target type)")
            source, _, target, target_type = mapping
            path = source if case_sensitive else self._case_insensitive(source)
            if path is None:
                continue
            names = split_path(target)
            if len(names) != 1:
                raise NotImplementedError(f"localcloud's apply_mapping maps to top-level fields; '{target}' is "
                                          "nested: build the struct with the DataFrame API (toDF())")
            columns.append(_column(path).cast(_spark_type(target_type)).alias(names[0]))
        return self._new(self._df.select(*columns), transformation_ctx)

    def _case_insensitive(self, path: str) -> str | None:
        if _has(self._df, path):
            return path
        names = {f.name.lower(): f.name for f in self._df.schema.fields}
        parts = split_path(path)
        found = names.get(parts[0].lower())
        if found is None:
            return None
        candidate = ".".join([f"`{found}`", *parts[1:]])
        return candidate if _has(self._df, candidate) else None

    def write(self, connection_type: str, connection_options: dict[str, Any] | None = None,
              format: str | None = None, format_options: dict[str, Any] | None = None,  # noqa: A002 (Glue's name)
              accumulator_size: int = 0) -> DynamicFrame:
        """Write through the context's writer (``glue_ctx.write_dynamic_frame.from_options``)."""
        return self.glue_ctx.write_dynamic_frame.from_options(
            frame=self, connection_type=connection_type, connection_options=connection_options or {},
            format=format, format_options=format_options or {})

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"DynamicFrame.{name} is not available when the job runs locally: localcloud's DynamicFrame has "
            "fromDF/toDF, count, schema, printSchema, show, repartition, coalesce, select_fields, drop_fields, "
            "rename_field, apply_mapping and write; use toDF() and the Spark DataFrame API for the rest")


#: Glue type names as Spark casts them (Glue's ``long`` is Spark's ``bigint``; both accept the rest as written)
_TYPES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


def _spark_type(glue_type: str) -> str:
    return _TYPES.get(glue_type.strip().lower(), glue_type.strip().lower())


class DynamicFrameCollection:
    """Named DynamicFrames, as Glue's multi-output transforms return them."""

    def __init__(self, dynamic_frames: dict[str, DynamicFrame], glue_ctx: Any) -> None:
        self._frames = dict(dynamic_frames)
        self.glue_ctx = glue_ctx

    def __getitem__(self, key: str) -> DynamicFrame:
        return self._frames[key]

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def keys(self) -> Iterable[str]:
        return self._frames.keys()

    def values(self) -> Iterable[DynamicFrame]:
        return self._frames.values()

    def select(self, key: str, transformation_ctx: str = "") -> DynamicFrame:
        return self._frames[key]
