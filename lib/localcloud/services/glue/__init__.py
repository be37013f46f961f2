"""localcloud's AWS Glue: job definitions and job runs of real PySpark scripts in a warm Spark worker.

``api`` (wire) → ``backend`` (state) → ``runner`` (one run, reporting back through its ``RunCallbacks``) →
``workers`` (warm Spark processes, :mod:`localcloud.core.children` running ``worker_main``, with the settings of
``spark``) and ``staging`` (S3 paths to local folders and back). ``shim/awsglue`` is put on each script's path.
"""
