"""What a redrive resumes from: a journal of every path of an execution, and the program that keeps it.

RedriveExecution "continues the failed execution from the unsuccessful step and uses the same input. Step Functions
preserves the results and execution history of the successful steps, and doesn't rerun these steps"; "For
workflows that include an Inline Map or Parallel state, RedriveExecution API action reschedules and redrives only
the iterations and branches that failed or aborted" (RedriveExecution, API reference).

So every path of an execution (the main flow ``""``, a Parallel branch ``/P/Branches[1]``, a Map iteration
``/M/Iterations[3]``, nested as deep as the definition goes) records the state it entered last and that state's
input, or the output it ended with. :func:`track` wraps a program so that:

- every state notes its entry (and the end of its path) in the :class:`Journal`;
- every program starts with an invisible *resume* step: on the first run there is nothing to resume and it hands
  over to ``StartAt``; on a redrive it hands a path that ended back its output (the branch or iteration is not
  rerun) and sends a path that failed or was aborted straight to the state it was in, with that state's input.

The states themselves are untouched: a Parallel or Map state is copied with tracked branches / item processor.
Layer: above :mod:`.concurrent` (it knows Parallel and Map) and below :mod:`.engine`.
"""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Any

from localcloud.asl.concurrent import MapState, ParallelState
from localcloud.asl.env import Frame
from localcloud.asl.states import Program, State

LOG = logging.getLogger(__name__)

RESUME = "__resume__"

#: the index of the Map iteration whose input this thread made last (the iteration runs right after, here)
_ITERATION = threading.local()


@dataclass
class PathRecord:
    """Where one path of an execution stands."""

    state: str | None
    input: Any
    generation: int
    done: bool = False
    output: Any = None


class Journal:
    """Every path of one execution (thread-safe); ``generation`` counts the redrives."""

    def __init__(self) -> None:
        self._paths: dict[str, PathRecord] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def entered(self, path: str, state: str, data: Any) -> None:
        with self._lock:
            self._paths[path] = PathRecord(state, data, self.generation)

    def finished(self, path: str, output: Any) -> None:
        with self._lock:
            record = self._paths.get(path)
            if record is not None:
                record.done, record.output = True, output

    def take(self, path: str) -> PathRecord | None:
        """The record a redrive resumes ``path`` from, once per redrive (None: run the path from its start)."""
        with self._lock:
            record = self._paths.get(path)
            if record is None or record.generation == self.generation:
                return None
            record.generation = self.generation
            return copy.copy(record)

    def main(self) -> PathRecord | None:
        """The main flow's record."""
        with self._lock:
            return self._paths.get("")


def _path(frame: Frame, suffix: str, indexed: bool) -> str:
    """The path ``frame`` runs (computed once per frame from its enclosing path)."""
    if frame.path is None:
        parent = frame.parent
        while parent is not None and parent.path is None:
            parent = parent.parent
        base = parent.path if parent is not None and parent.path is not None else ""
        if indexed:
            index = getattr(_ITERATION, "index", None)
            suffix += f"[{index}]" if isinstance(index, int) else f"[?{id(frame)}]"
        frame.path = base + suffix
    return frame.path


class _Tracked:
    """A state that notes its entry (and the end of its path) in the journal; everything else is the state's."""

    def __init__(self, inner: State, journal: Journal, suffix: str, indexed: bool) -> None:
        self.inner = inner
        self._journal = journal
        self._where = (suffix, indexed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute(self, frame: Frame, data: Any) -> tuple[Any, str | None]:
        path = _path(frame, *self._where)
        self._journal.entered(path, self.inner.name, data)
        output, next_state = self.inner.execute(frame, data)
        if next_state is None:
            self._journal.finished(path, output)
        return output, next_state


class _Resume:
    """The invisible first step of every tracked program (records nothing)."""

    type = "Pass"
    name = RESUME
    raw: dict[str, Any] = {}
    next: str | None = None

    def __init__(self, start_at: str, journal: Journal, suffix: str, indexed: bool) -> None:
        self._start_at = start_at
        self._journal = journal
        self._where = (suffix, indexed)

    def execute(self, frame: Frame, data: Any) -> tuple[Any, str | None]:
        record = self._journal.take(_path(frame, *self._where))
        if record is None or record.state is None:
            return data, self._start_at
        if record.done:
            return record.output, None
        return record.input, record.state


class _IndexingLanguage:
    """A Map state's query language that notes, for this thread, which iteration's input it made."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def item_input(self, visit: Any, data: Any, item: Any, extra: dict[str, Any]) -> Any:
        index = ((extra or {}).get("Map") or {}).get("Item", {}).get("Index")
        _ITERATION.index = index
        return self._inner.item_input(visit, data, item, extra)


def track(program: Program, journal: Journal, suffix: str = "", indexed: bool = False) -> Program:
    """``program`` with every state (and every branch / item processor below) noting its path in ``journal``."""
    states: dict[str, Any] = {name: _Tracked(_with_tracked_children(state, journal), journal, suffix, indexed)
                              for name, state in program.states.items()}
    states[RESUME] = _Resume(program.start_at, journal, suffix, indexed)
    return Program(RESUME, states)


def _with_tracked_children(state: State, journal: Journal) -> State:
    if isinstance(state, ParallelState):
        clone = copy.copy(state)
        clone.branches = [track(branch, journal, f"/{state.name}/Branches[{i}]")
                          for i, branch in enumerate(state.branches)]
        return clone
    if isinstance(state, MapState):
        clone = copy.copy(state)
        clone.lang = _IndexingLanguage(state.lang)  # type: ignore[assignment]
        clone.processor = track(state.processor, journal, f"/{state.name}/Iterations", indexed=True)
        return clone
    return state
