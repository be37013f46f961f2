"""localcloud's AWS Glue: job definitions and job runs of real PySpark scripts in a warm Spark worker.

``api`` (wire) → ``backend`` (state) → ``runner`` (one run) → ``workers`` (warm Spark processes running
``worker_main``) and ``staging`` (S3 paths to local folders and back). ``shim/awsglue`` is put on each script's path.
"""
