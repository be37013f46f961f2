"""The query language of a state: how it reads its input, shapes its output and evaluates its expressions.

Each state runs under one language, named by its ``QueryLanguage`` field (else its block's, else "JSONPath").
States call only this interface, so a second language (JSONata) is one more module listed in :mod:`.languages`.
Layer: the bottom of the engine, next to :mod:`.values` (it imports nothing from the engine).
"""

from __future__ import annotations

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


class QueryLanguage(Protocol):
    """Input and output processing of a state, and the expressions in its fields."""

    name: str

    def state_input(self, visit: StateView, *, arguments: bool = False,
                    extra: dict[str, Any] | None = None) -> Any:
        """The data the state works on; with ``arguments``, what it hands to its task, branches or result
        (JSONPath: InputPath, then Parameters evaluated with ``extra`` in the context object)."""
        ...

    def state_output(self, visit: StateView, result: Any) -> Any:
        """The state's output from its result (JSONPath: ResultSelector, ResultPath, OutputPath)."""
        ...

    def catch_output(self, visit: StateView, catcher: dict[str, Any], error_output: dict[str, Any]) -> Any:
        """What a Catcher hands to its Next state (JSONPath: the catcher's ResultPath over the state input)."""
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

    def matches(self, rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
        """Whether a Choice rule holds for the Choice state's data."""
        ...
