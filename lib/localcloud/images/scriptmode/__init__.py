"""What a SageMaker framework container does around the user's code, as localcloud runs it in an image's own
environment: the training toolkit (:mod:`.toolkit`, :mod:`.train`), a processing container's command
(:mod:`.process`), the model server with the Scikit-learn container's default handlers (:mod:`.serve`,
:mod:`.encoders`), and the ``/opt/ml`` path mapping every process of such a job runs with (:mod:`.pathmap`).

The modules run as child processes of the server (:mod:`localcloud.core.childmain`) in the image's interpreter;
they import only the standard library at module level (the model server imports numpy and scipy when it loads).
"""

from pathlib import Path

#: the folder put first on a job process's ``PYTHONPATH``: its ``sitecustomize`` installs the path mapping
STARTUP_DIR = str(Path(__file__).resolve().parent / "startup")
