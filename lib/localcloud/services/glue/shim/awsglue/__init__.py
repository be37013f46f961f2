"""A small stand-in for AWS Glue's ``awsglue`` library, for running Glue job scripts under plain PySpark.

Only what job scripts commonly use at the edges of a job is here: ``awsglue.utils.getResolvedOptions``,
``awsglue.context.GlueContext`` (``spark_session``, ``get_logger()``) and ``awsglue.job.Job`` (``init``,
``commit``). DynamicFrames, the Data Catalog, connections and job bookmarks are not: a script that needs them fails
at import or attribute access instead of silently doing something else. localcloud's Glue service puts the folder
holding this package first on the job's ``sys.path``.
"""

__all__ = ["__version__"]
__version__ = "5.0-local"
