"""``awsglue.transforms``: present so that ``from awsglue.transforms import *`` (in many Glue scripts) imports.

Glue's DynamicFrame transforms (ApplyMapping, ResolveChoice, ...) are not available locally; use the Spark
DataFrame API, which runs the same on Glue.
"""

__all__: list[str] = []
