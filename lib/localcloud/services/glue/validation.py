"""Request validation against botocore's Glue service model, plus the Glue rules the model does not carry."""

from __future__ import annotations

import re
import threading
from typing import Any

from botocore.validate import ParamValidator

from localcloud.errors import AWSError

from .models import COMMANDS, MAX_TIMEOUT_MINUTES, WORKER_DPU

_LOCK = threading.Lock()
_MODEL: Any = None
GLUE_VERSION = re.compile(r"^((\w+\.)+\w+|auto)$")


def invalid(message: str) -> AWSError:
    return AWSError("InvalidInputException", message)


def service_model() -> Any:
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            import botocore.session

            _MODEL = botocore.session.get_session().get_service_model("glue")
        return _MODEL


def validate_shape(operation: str, params: dict[str, Any]) -> None:
    """Types, required members and lengths as botocore checks them client-side; unknown members are ignored."""
    shape = service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    errors = [e for e in report._errors if e[0] != "unknown field"]  # noqa: SLF001 - botocore keeps them there
    if errors:
        report._errors = errors  # noqa: SLF001
        raise invalid(f"{len(errors)} validation error(s) detected: " + report.generate_report().replace("\n", "; "))


def check_name(value: Any, what: str = "Name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{what} should not be null or empty.")
    if len(value) > 255:
        raise invalid(f"{what} must be at most 255 characters long.")
    return value


def check_timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"Timeout must be a whole number of minutes, got {value!r}.")
    if not 1 <= value <= MAX_TIMEOUT_MINUTES:
        raise invalid(f"Timeout must be between 1 and {MAX_TIMEOUT_MINUTES} minutes (7 days), got {value}.")
    return value


def check_capacity(fields: dict[str, Any]) -> None:
    """WorkerType and NumberOfWorkers go together, and exclude MaxCapacity."""
    worker_type, workers = fields.get("WorkerType"), fields.get("NumberOfWorkers")
    if (worker_type is None) != (workers is None):
        raise invalid("Please set both Worker Type and Number of Workers.")
    if worker_type is not None:
        if worker_type not in WORKER_DPU:
            raise invalid(f"Worker Type {worker_type!r} is not valid; use one of {', '.join(WORKER_DPU)}.")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise invalid(f"Number of Workers must be a positive whole number, got {workers!r}.")
        if fields.get("MaxCapacity") is not None:
            raise invalid("Please do not set Max Capacity if using Worker Type and Number of Workers.")


def check_command(command: Any) -> dict[str, Any]:
    if not isinstance(command, dict):
        raise invalid("Command should not be null.")
    out = dict(command)
    name = out.setdefault("Name", "glueetl")
    if name not in COMMANDS:
        raise invalid(f"Command name {name!r} is not valid; use one of {', '.join(COMMANDS)}.")
    out.setdefault("PythonVersion", "3")
    return out


def check_glue_version(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not GLUE_VERSION.match(value):
        raise invalid(f"GlueVersion {value!r} is not valid: use a version such as 5.0, or auto.")
    return value


def check_arguments(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid(f"{what} must map argument names to string values.")
    return dict(value)
