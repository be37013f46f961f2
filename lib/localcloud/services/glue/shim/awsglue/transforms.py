"""``awsglue.transforms``: the DynamicFrame transforms localcloud has, so ``from awsglue.transforms import *`` (in
many Glue scripts) imports them.

Each is called as on Glue ("PySpark transforms reference", AWS Glue developer guide): ``ApplyMapping.apply(frame=...,
mappings=[...])`` or an instance called with the same arguments, and delegates to the frame's own method. Glue's
other transforms (ResolveChoice, Relationalize, Join, ...) are not here: use the Spark DataFrame API
(``frame.toDF()``), which runs the same on Glue.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApplyMapping", "DropFields", "GlueTransform", "RenameField", "SelectFields"]


class GlueTransform:
    """The base of the transforms: ``Transform.apply(**kwargs)`` is ``Transform()(**kwargs)``."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        return cls()(*args, **kwargs)

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - every transform defines it
        raise NotImplementedError


class ApplyMapping(GlueTransform):
    def __call__(self, frame: Any, mappings: Any, transformation_ctx: str = "", info: str = "",
                 stageThreshold: int = 0, totalThreshold: int = 0, **kwargs: Any) -> Any:  # noqa: N803
        return frame.apply_mapping(mappings, transformation_ctx=transformation_ctx, **kwargs)


class SelectFields(GlueTransform):
    def __call__(self, frame: Any, paths: Any, transformation_ctx: str = "", info: str = "",
                 stageThreshold: int = 0, totalThreshold: int = 0) -> Any:  # noqa: N803
        return frame.select_fields(paths, transformation_ctx=transformation_ctx)


class DropFields(GlueTransform):
    def __call__(self, frame: Any, paths: Any, transformation_ctx: str = "", info: str = "",
                 stageThreshold: int = 0, totalThreshold: int = 0) -> Any:  # noqa: N803
        return frame.drop_fields(paths, transformation_ctx=transformation_ctx)


class RenameField(GlueTransform):
    def __call__(self, frame: Any, old_name: str, new_name: str, transformation_ctx: str = "", info: str = "",
                 stageThreshold: int = 0, totalThreshold: int = 0) -> Any:  # noqa: N803
        return frame.rename_field(old_name, new_name, transformation_ctx=transformation_ctx)
