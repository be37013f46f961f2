"""retrain: automated retraining and deployment of an XGBoost churn model with the AWS Step Functions Data
Science SDK, on AWS or on the local AWS-compatible cloud.

The notebooks under ``notebooks/`` import these helpers; ``retrain run`` chains the notebooks headless.
"""

from __future__ import annotations

import logging
import os
import warnings

# The SDKs are noisy on import: sagemaker prints a v2 banner and two config INFO lines, stepfunctions imports the
# deprecated pkg_resources. None of it is actionable for a learner, so it is silenced once, here.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)

from retrain.errors import ParamsError, RetrainError  # noqa: E402
from retrain.lazy import defer_iri_grammar  # noqa: E402

defer_iri_grammar()  # saves 0.7-1.3 s of CPU per process (kernels, runner); see retrain.lazy

__all__ = ["ParamsError", "RetrainError", "__version__", "plain_tracebacks"]
__version__ = "0.1.0"


def plain_tracebacks() -> None:
    """Undo the ``rich`` traceback hook that importing ``sagemaker`` installs.

    It replaces IPython's error output with an HTML drawing, so notebooks lose the plain ``error`` output that
    papermill reports (exception name and message) and the HTML reports become hard to read.
    """
    import sys

    sys.excepthook = sys.__excepthook__
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    shell = get_ipython()
    if shell is not None:
        for name in ("showtraceback", "_showtraceback"):
            if name in vars(shell):  # an instance attribute shadowing the class's method
                delattr(shell, name)
