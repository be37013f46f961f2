"""Workflow variables: the scopes they live in, the rules for their names and sizes, how history shows them.

"Passing data between states with variables" (Step Functions developer guide, workflow-variables): a state's
``Assign`` stores variables that any later state of the same scope reads as ``$name``; the states of a Parallel
branch or a Map iteration run in an inner scope that reads the outer variables, and what they assign stays in it.
Layer: the bottom of the engine, next to :mod:`.values` (it imports nothing else of the engine).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from localcloud.asl.values import to_json

#: the one reserved variable, ``$states`` (developer guide, workflow-variables: Reserved variable $states)
RESERVED = "states"
#: the longest variable name (developer guide, workflow-variables: variable names)
MAX_NAME = 80
#: the size limits of the developer guide (workflow-variables: size limits): one variable, one Assign field,
#: every variable an execution holds
MAX_VARIABLE_BYTES = 256 * 1024
MAX_ASSIGN_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 10 * 1024 * 1024


class VariableError(Exception):
    """A variable that cannot be assigned (a size limit, an outer-scope name); the state reports it."""


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a variable name, or None.

    Names follow Unicode Standard Annex #31 (first character ID_Start or ``_``, the others ID_Continue), as
    JSONata variable names do; Python's identifiers follow the same annex.
    """
    if not isinstance(name, str) or not name:
        return "a variable name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"the variable name '{name}' is longer than {MAX_NAME} characters"
    if not name.isidentifier():
        return f"'{name}' is not a valid variable name (letters, digits and '_', not starting with a digit)"
    if name == RESERVED:
        return f"'${RESERVED}' is a reserved variable and cannot be assigned"
    return None


class Scope(Mapping[str, Any]):
    """The variables one path of an execution sees: its own, then those of the enclosing scopes (read only)."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self._own: dict[str, Any] = {}
        self._lock = threading.Lock()
        #: bytes of JSON every variable of the execution holds (shared by every scope of one execution)
        self._total: list[int] = parent._total if parent is not None else [0]

    def __getitem__(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            with scope._lock:
                if name in scope._own:
                    return scope._own[name]
            scope = scope.parent
        raise KeyError(name)

    def _names(self) -> dict[str, None]:
        names: dict[str, None] = {}
        scope: Scope | None = self
        while scope is not None:
            with scope._lock:
                names.update(dict.fromkeys(scope._own))
            scope = scope.parent
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def outer(self, name: str) -> bool:
        """Whether ``name`` belongs to an enclosing scope (and so cannot be assigned here)."""
        return self.parent is not None and name in self.parent and name not in self._own

    def assign(self, values: dict[str, Any]) -> None:
        """Store ``values`` in this scope, all at once, after checking the size limits and the scope rule.

        A Parallel branch or Map iteration reads the variables of the enclosing scopes but cannot write them
        (developer guide, workflow-variables: variable scope); writing one fails the state here.
        """
        sizes = {name: len(to_json(value).encode()) for name, value in values.items()}
        for name, size in sizes.items():
            if size > MAX_VARIABLE_BYTES:
                raise VariableError(f"The variable '{name}' is {size} bytes, above the {MAX_VARIABLE_BYTES} bytes "
                                    f"a single variable may hold.")
            if self.outer(name):
                raise VariableError(f"The variable '{name}' belongs to an outer scope and cannot be assigned in "
                                    f"a Parallel branch or Map iteration.")
        if sum(sizes.values()) > MAX_ASSIGN_BYTES:
            raise VariableError(f"The variables assigned by one Assign field are {sum(sizes.values())} bytes, "
                                f"above the {MAX_ASSIGN_BYTES} bytes allowed.")
        with self._lock:
            freed = sum(len(to_json(self._own[n]).encode()) for n in values if n in self._own)
            total = self._total[0] - freed + sum(sizes.values())
            if total > MAX_TOTAL_BYTES:
                raise VariableError(f"The variables of this execution would hold {total} bytes, above the "
                                    f"{MAX_TOTAL_BYTES} bytes allowed.")
            self._total[0] = total
            self._own.update(values)


def assigned_details(values: dict[str, Any]) -> dict[str, Any]:
    """The ``assignedVariables`` members of a ``*StateExited`` event: each value as its JSON text
    (StateExitedEventDetails: "Map of variable name and value as a serialized JSON representation";
    recorded on AWS: localstack snapshot v2/assign/test_assign_base.snapshot.json)."""
    return {"assignedVariables": {name: to_json(value) for name, value in values.items()},
            "assignedVariablesDetails": {"truncated": False}}
