"""A small stand-in for AWS Glue's ``awsglue`` library, for running Glue job scripts under plain PySpark.

What job scripts commonly use: ``awsglue.utils.getResolvedOptions``, ``awsglue.context.GlueContext``
(``spark_session``, ``get_logger()``, ``create_dynamic_frame``/``write_dynamic_frame`` ``from_options`` on S3 in
csv, json and parquet), ``awsglue.dynamicframe.DynamicFrame`` (``fromDF``/``toDF``, ``count``, ``select_fields``,
``drop_fields``, ``rename_field``, ``apply_mapping``, ...), the matching ``awsglue.transforms`` and
``awsglue.job.Job`` (``init``, ``commit``). The Data Catalog, connections, choice types and job bookmarks are not
here: a script that needs them fails with a message saying so instead of silently doing something else.
localcloud's Glue service puts the folder holding this package first on the job's ``sys.path``.
"""

from typing import Any

__all__ = ["__version__"]
__version__ = "5.0-local"


def __getattr__(name: str) -> Any:
    """``from awsglue import DynamicFrame`` works on Glue too; imported on use (a Python shell job has no Spark)."""
    if name in ("DynamicFrame", "DynamicFrameCollection"):
        from awsglue import dynamicframe

        return getattr(dynamicframe, name)
    raise AttributeError(f"module 'awsglue' has no attribute '{name}'")
