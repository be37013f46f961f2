"""The query language of a state: how it reads its input, shapes its output and evaluates its expressions.

Each state runs under one language, named by its ``QueryLanguage`` field, else the state machine's, else
"JSONPath".  States call only this interface: JSONPath (:mod:`.jsonpath`) and JSONata (:mod:`.jsonata_lang`)
are the two modules listed in :mod:`.languages`.  ``fields`` is where Output and Assign come from: the state
itself, or a matched Choice rule or Catcher, whose location ``where`` prefixes the field's name in an error
(``Choices[0]/Assign/x``, ``Catch[1]/Output``).  Variables are evaluated with the values they had when the
state was entered and stored when it exits.
Layer: the bottom of the engine, next to :mod:`.values` (it imports nothing from the engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol


class _Absent:
    """The type of :data:`ABSENT`."""

    def __repr__(self) -> str:
        return "ABSENT"


#: what :meth:`QueryLanguage.expression` returns for a field the state does not give as an expression
ABSENT: Final = _Absent()


class StateView(Protocol):
    """What a query language sees of one visit of a state."""

    @property
    def raw(self) -> dict[str, Any]:
        """The state's definition."""
        ...

    @property
    def input(self) -> Any:
        """The state's input, as the previous state handed it over."""
        ...

    def context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context object (``$$``), with ``extra`` members (``Task``, ``Map``) added."""
        ...

    # a view may also offer ``variables``: the workflow variables in scope (Mapping[str, Any]); none when absent


def variables_of(visit: StateView) -> Mapping[str, Any]:
    """The workflow variables a visit sees (a view without ``variables`` sees none)."""
    return getattr(visit, "variables", None) or {}


class QueryLanguage(Protocol):
    """Input and output processing of a state, and the expressions in its fields."""

    name: str

    def state_input(self, visit: StateView, *, arguments: bool = False,
                    extra: dict[str, Any] | None = None) -> Any:
        """The data the state works on; with ``arguments``, what it hands to its task, branches or result
        (JSONPath: InputPath, then Parameters evaluated with ``extra`` in the context object)."""
        ...

    def finish(self, visit: StateView, result: Any, fields: dict[str, Any] | None = None,
               where: str = "") -> tuple[Any, dict[str, Any] | None]:
        """The state's output from its result, and the variables ``fields``' Assign sets (None without one),
        each evaluated in the language's documented order; the state stores the variables once it exits.
        (JSONPath: ResultSelector, Assign, ResultPath, OutputPath; JSONata: Assign and Output.)"""
        ...

    def catch(self, visit: StateView, catcher: dict[str, Any], error_output: dict[str, Any],
              where: str = "") -> tuple[Any, dict[str, Any] | None]:
        """What a Catcher (at ``where``) hands to its Next state, and the variables its Assign sets
        (JSONPath: the catcher's ResultPath over the input; JSONata: its Output, else the error output)."""
        ...

    def state_output(self, visit: StateView, result: Any) -> Any:
        """The output alone (:meth:`finish` without variables)."""
        ...

    def items(self, visit: StateView, data: Any) -> list[Any]:
        """The items a Map state iterates over (JSONPath: ItemsPath over the state's data)."""
        ...

    def item_input(self, visit: StateView, data: Any, item: Any, extra: dict[str, Any]) -> Any:
        """The input of one Map iteration (JSONPath: ItemSelector or Parameters if given, else the item)."""
        ...

    def expression_field(self, field: str) -> str:
        """The name of the field that gives ``field`` as an expression (JSONPath: ``<field>Path``)."""
        ...

    def expression(self, visit: StateView, field: str, label: str | None = None) -> Any:
        """The run-time value of ``field`` given as an expression, or :data:`ABSENT`; ``label`` names the field
        in an error (default: :meth:`expression_field`)."""
        ...

    def matches(self, visit: StateView, rule: dict[str, Any], data: Any, where: str = "") -> bool:
        """Whether a Choice rule (at ``where``, e.g. ``Choices[0]``) holds for the Choice state's data."""
        ...
