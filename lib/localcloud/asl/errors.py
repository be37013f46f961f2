"""Error names of the Amazon States Language and the exceptions the engine raises."""

from __future__ import annotations

from enum import StrEnum

from localcloud.errors import AWSError, LocalCloudError


class StatesErrorName(StrEnum):
    """The predefined ``States.*`` error names (ASL spec, appendix A, and the Step Functions guide)."""

    ALL = "States.ALL"  # wildcard in ErrorEquals: any error (never States.Runtime); alone and last
    BRANCH_FAILED = "States.BranchFailed"  # in the spec; Step Functions reports the failing branch's own error
    DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"  # a result or payload above the 256 KiB quota
    EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"  # Map: too many items failed
    HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"  # no heartbeat within HeartbeatSeconds
    INTRINSIC_FAILURE = "States.IntrinsicFailure"  # an intrinsic function failed at run time
    ITEM_READER_FAILED = "States.ItemReaderFailed"  # Distributed Map ItemReader (not supported here)
    NO_CHOICE_MATCHED = "States.NoChoiceMatched"  # no Choice rule matched and no Default
    PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"  # in the spec; AWS reports States.Runtime instead
    PERMISSIONS = "States.Permissions"  # the role may not run the task
    RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"  # ResultPath cannot be applied to the input
    RESULT_WRITER_FAILED = "States.ResultWriterFailed"  # Distributed Map ResultWriter (not supported here)
    RUNTIME = "States.Runtime"  # a path or data error at run time: never retried, never caught
    TASK_FAILED = "States.TaskFailed"  # in ErrorEquals: any error except States.Timeout
    TIMEOUT = "States.Timeout"  # a task ran past TimeoutSeconds, or the execution past its TimeoutSeconds


class StatesError(LocalCloudError):
    """A failure that travels through a state machine: an error name and a cause, as Step Functions reports them."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = str(error)
        self.cause = str(cause)

    def as_output(self) -> dict[str, str]:
        """The error output a Catcher hands to its Next state."""
        return {"Error": self.error, "Cause": self.cause}


class EvaluationError(Exception):
    """A path, template or intrinsic that failed at run time; the state adds its own location to ``cause``."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(cause)
        self.error = str(error)
        self.cause = cause


class PathMissing(EvaluationError):
    """A ``*Path`` field whose path selects nothing in the state input; ``path`` is the field's path, so a state
    can word the error as Step Functions does for that field (Wait, Fail)."""

    def __init__(self, error: str, cause: str, path: str) -> None:
        super().__init__(error, cause)
        self.path = path


class TaskFailed(StatesError):
    """Raised by an integration when the work it started failed (``error`` e.g. ``SageMaker.AmazonSageMakerException``)."""


class InvalidDefinition(LocalCloudError):
    """A state machine definition that Step Functions would reject; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "Invalid State Machine Definition: "
            + "; ".join(self.problems)
            + ". Fix the definition and submit it again."
        )


class TokenError(AWSError):
    """A task-token call (SendTaskSuccess/Failure/Heartbeat) that cannot be honoured; ``code`` is the AWS error code."""

    code_name = "InvalidToken"

    def __init__(self, message: str) -> None:
        super().__init__(self.code_name, message, 400)


class InvalidToken(TokenError):
    """The token is not one Step Functions issued (malformed)."""

    code_name = "InvalidToken"


class TaskDoesNotExist(TokenError):
    """No task is known for this token."""

    code_name = "TaskDoesNotExist"


class TaskTimedOut(TokenError):
    """The token's task already closed: it timed out, completed, or its execution ended."""

    code_name = "TaskTimedOut"


class InvalidOutput(TokenError):
    """SendTaskSuccess output that is not valid JSON."""

    code_name = "InvalidOutput"


class ExecutionInterrupted(Exception):  # noqa: N818 - control flow, never leaves the engine
    """Unwinds a running path when its execution was stopped or timed out."""
