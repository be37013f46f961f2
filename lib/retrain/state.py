"""The run state file: what each notebook built (role ARNs, bucket, names, the execution and its verdict), so that
each notebook can run on its own after the earlier ones, and ``retrain run`` can write its summary."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrain.errors import StateError


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus four random hex digits, e.g. ``20260101-120000-1a2b``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class RunState:
    """A small JSON document shared by the notebooks of one run (what 01 created, what 04 measured, ...).

    Every :meth:`update` writes the file at once (atomically), so a notebook that fails leaves what it had done.
    """

    def __init__(self, path: str | os.PathLike[str], data: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = data if data is not None else {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunState:
        """Read the state at ``path`` (an empty state when the file does not exist yet)."""
        file = Path(path)
        if not file.exists():
            return cls(file)
        try:
            data = json.loads(file.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as exc:
            raise StateError(f"run state file {file} is not valid JSON ({exc}); delete it and run notebook 01 "
                             f"again.") from exc
        if not isinstance(data, dict):
            raise StateError(f"run state file {file} does not hold a JSON object; delete it and start at notebook 01.")
        return cls(file, data)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.require(key)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def require(self, key: str, produced_by: str | None = None) -> Any:
        """The value of ``key``, or a :class:`StateError` saying which notebook to run first."""
        if key not in self.data:
            hint = f"run {produced_by} first" if produced_by else "run the earlier notebooks first"
            raise StateError(f"run state {self.path} has no {key!r}: {hint} (with the same params and state file).")
        return self.data[key]

    def update(self, **values: Any) -> None:
        """Merge ``values`` into the state and write the file."""
        self.data.update(values)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.data, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
        os.replace(tmp, self.path)

    def __repr__(self) -> str:
        return f"RunState({str(self.path)!r}, keys={sorted(self.data)})"
