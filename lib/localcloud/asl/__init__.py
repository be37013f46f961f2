"""The Amazon States Language engine: validate definitions, run executions, record history.

The core knows no AWS service: a Task's resource is only a string handed to an :class:`Integrations` registry.
Modules import only downward (``tests/test_import_cycles.py`` and ``tests/asl/test_asl_layers.py`` hold them to it):

- bottom: ``errors`` (States.* names, exceptions) · ``values`` (JSON text, numbers, timestamps) ·
  ``query`` (the QueryLanguage interface) · ``variables`` (scopes, names, limits) · ``history`` · ``retry`` ·
  ``env`` (execution, frames and their variable scopes, tokens)
- JSONPath: ``paths`` → ``varpaths`` ($name) → ``intrinsic_functions`` → ``intrinsics`` → ``templates`` ·
  ``choice`` (rules) → ``jsonpath``
- JSONata: ``jsonata_functions`` (what Step Functions adds) → ``jsonata_eval`` ({% %} fields) →
  ``jsonata_check`` (definition checks) · ``jsonata_lang``
- ``languages``: QueryLanguage name → implementation
- states: ``states`` (shared parts, Pass/Succeed/Fail/Wait/Choice) → ``task`` · ``concurrent`` (Parallel, Map) ·
  ``distributed`` (the Distributed Map: ``mapruns``, ``itemreader``, ``resultwriter``)
- definitions: ``checker`` (the walk) → ``querychecks`` (languages, Assign) → ``checks`` (one per state type,
  ``distributed_checks``) →
  ``parse`` (validate, build the tree) · ``references`` (the variables each state reads)
- ``redrive`` (the journal a redrive resumes from) · ``teststate`` (one state, run once, inspected)
- ``engine``: StateMachine and Execution, the public face
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
from localcloud.asl.parse import definition_problems, validate_definition
from localcloud.asl.references import variable_references

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
    "definition_problems",
    "validate_definition",
    "variable_references",
]
