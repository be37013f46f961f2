"""The Amazon States Language engine (JSONPath mode): validate definitions, run executions, record history.

The core knows no AWS service: a Task's resource is only a string handed to an :class:`Integrations` registry.
"""

from localcloud.asl.engine import Execution, ExecutionResult, StateMachine
from localcloud.asl.env import Integrations, TaskContext, TokenRegistry
from localcloud.asl.errors import (
    InvalidDefinition,
    InvalidOutput,
    InvalidToken,
    StatesError,
    StatesErrorName,
    TaskDoesNotExist,
    TaskFailed,
    TaskTimedOut,
    TokenError,
)
from localcloud.asl.parse import validate_definition

__all__ = [
    "Execution",
    "ExecutionResult",
    "Integrations",
    "InvalidDefinition",
    "InvalidOutput",
    "InvalidToken",
    "StateMachine",
    "StatesError",
    "StatesErrorName",
    "TaskContext",
    "TaskDoesNotExist",
    "TaskFailed",
    "TaskTimedOut",
    "TokenError",
    "TokenRegistry",
    "validate_definition",
]
