"""Started by every Python process of a localcloud script job (this folder is first on its ``PYTHONPATH``): with
``LOCALCLOUD_OPT_ML`` set, ``/opt/ml`` paths mean the job folder (:mod:`localcloud.images.scriptmode.pathmap`)."""

import os

if os.environ.get("LOCALCLOUD_OPT_ML"):
    from localcloud.images.scriptmode import pathmap

    pathmap.install(os.environ["LOCALCLOUD_OPT_ML"])
    pathmap.virtual_argv()
