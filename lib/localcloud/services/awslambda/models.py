"""The Lambda function record and the limits and names AWS uses for it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from localcloud.core.arns import arn
from localcloud.core.jobs import utcnow

#: Runtimes localcloud accepts. Every one runs on the interpreter localcloud runs on (see ``runtime.py``).
SUPPORTED_RUNTIMES: tuple[str, ...] = (
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
)  # fmt: skip
LATEST = "$LATEST"
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
MAX_TIMEOUT = 900
MIN_MEMORY, MAX_MEMORY = 128, 10240
#: environment variables Lambda sets itself; a function's configuration may not set them
RESERVED_ENV_KEYS: frozenset[str] = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})  # fmt: skip
ENV_LIMIT_BYTES = 4096


def lambda_timestamp(when: datetime) -> str:
    """Lambda's ``LastModified`` form: ``2024-05-01T12:00:00.123+0000``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


@dataclass
class CodePackage:
    """An unpacked deployment package."""

    sha256: str  # base64 of the zip's SHA-256, as AWS reports it
    size: int  # bytes of the zip
    zip_path: Path
    root: Path  # the extracted files: LAMBDA_TASK_ROOT


@dataclass
class LambdaFunction:
    """One function (``$LATEST`` only: localcloud publishes no versions)."""

    name: str
    region: str
    role: str
    runtime: str
    handler: str
    code: CodePackage
    home: Path  # this function's state folder (code, log)
    description: str = ""
    timeout: int = DEFAULT_TIMEOUT
    memory_size: int = DEFAULT_MEMORY
    environment: dict[str, str] = field(default_factory=dict)
    architectures: list[str] = field(default_factory=lambda: ["x86_64"])
    ephemeral_storage: int = 512
    tracing_mode: str = "PassThrough"
    logging_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    last_modified: datetime = field(default_factory=utcnow)
    revision_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: bumped by every code or configuration change; a running environment of an older generation is retired
    generation: int = 0
    #: S3 object holding the zip for GetFunction's Code.Location, uploaded on first request (bucket, key, sha)
    published_code: tuple[str, str, str] | None = None

    @property
    def arn(self) -> str:
        return arn("lambda", self.region, f"function:{self.name}")

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def log_path(self) -> Path:
        """Every invocation's log (START/END/REPORT lines and the handler's output), appended in order."""
        return self.home / "function.log"

    def touch(self) -> None:
        """Record a change: new revision, new generation (warm environments of older ones retire)."""
        self.last_modified = utcnow()
        self.revision_id = str(uuid.uuid4())
        self.generation += 1

    def configuration(self) -> dict[str, Any]:
        """The ``FunctionConfiguration`` shape."""
        config: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": self.arn,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code.size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": lambda_timestamp(self.last_modified),
            "CodeSha256": self.code.sha256,
            "Version": LATEST,
            "TracingConfig": {"Mode": self.tracing_mode},
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": self.log_group, **self.logging_config},
        }
        if self.environment:
            config["Environment"] = {"Variables": dict(self.environment)}
        return config
