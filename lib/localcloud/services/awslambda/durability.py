"""What of Lambda outlives a restart: functions (configuration, tags, revision) and their code.

A function's package is kept as the zip file it was created or updated with (written whole and fsynced, see
:func:`localcloud.services.awslambda.code.unpack`); its extracted folder is made again from the zip when it is
missing. Warm execution environments do not outlive the server: the first invocation after a restart starts one.
"""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger(__name__)


def state(backend: Any) -> tuple[dict[str, Any], None]:
    with backend._lock:
        return {"functions": dict(backend._functions)}, None


def restore(backend: Any, saved: dict[str, Any]) -> None:
    from localcloud.services.awslambda import code

    functions = {}
    for key, fn in saved["functions"].items():
        if not fn.code.root.is_dir():
            if not fn.code.zip_path.is_file():
                LOG.error("the code of Lambda function %s is gone (%s); the function is not restored", fn.name,
                          fn.code.zip_path)
                continue
            code.unpack(fn.code.zip_path.read_bytes(), fn.code.zip_path.parent)
        functions[key] = fn
    with backend._lock:
        backend._functions.update(functions)
