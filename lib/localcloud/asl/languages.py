"""The query languages this engine runs, by the name a definition's ``QueryLanguage`` field gives.

A new language is one module implementing :class:`~localcloud.asl.query.QueryLanguage` and one entry here.
Layer: above every language module; used by the definition checks and the tree builder.
"""

from __future__ import annotations

from typing import Any

from localcloud.asl.jsonata_lang import JSONata
from localcloud.asl.jsonpath import JSONPath
from localcloud.asl.query import QueryLanguage

#: the language of a state that names none, in a definition that names none ("JSONPath", as in AWS)
DEFAULT_LANGUAGE = "JSONPath"

#: the values of ``QueryLanguage`` (States Language: "JSONPath" or "JSONata")
LANGUAGES: dict[str, QueryLanguage] = {"JSONPath": JSONPath(), "JSONata": JSONata()}


def is_supported(name: Any) -> bool:
    """Whether ``name`` (the value of a ``QueryLanguage`` field, any JSON value) is a language this engine runs."""
    return isinstance(name, str) and name in LANGUAGES


def language(name: str) -> QueryLanguage:
    """The language called ``name`` (the definition was checked, so it is one of :data:`LANGUAGES`)."""
    return LANGUAGES[name]
