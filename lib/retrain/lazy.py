"""Defer a costly import that every process of a run pays for and none uses.

``jsonschema`` (imported by sagemaker's config loader, nbformat and papermill) imports ``rfc3987_syntax`` to check
the ``iri`` string formats, and that package builds an Earley parser from its grammar at import: 0.7-1.3 s of CPU
in each process (the runner and every notebook kernel), for a check nothing here asks for.
:func:`defer_iri_grammar` puts a stand-in module in its place whose ``is_valid_syntax`` (the one name jsonschema
takes) and every other attribute import the real package on first use, so behaviour is unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

IRI_MODULE = "rfc3987_syntax"
_LOCK = threading.Lock()


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is used; then the real module replaces it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(self), name)


def _real(stand_in: types.ModuleType) -> types.ModuleType:
    with _LOCK:
        if sys.modules.get(stand_in.__name__) is stand_in:
            del sys.modules[stand_in.__name__]
        return importlib.import_module(stand_in.__name__)


def defer_iri_grammar() -> bool:
    """Install the stand-in for ``rfc3987_syntax`` unless it is imported already or absent; True when installed."""
    if IRI_MODULE in sys.modules or importlib.util.find_spec(IRI_MODULE) is None:
        return False
    stand_in = _Deferred(IRI_MODULE, "rfc3987_syntax, imported on first use (see retrain.lazy)")

    def is_valid_syntax(term: str, value: str) -> bool:
        return bool(_real(stand_in).is_valid_syntax(term, value))

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[IRI_MODULE] = stand_in
    return True
