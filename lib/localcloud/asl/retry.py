"""Retry and Catch: which retrier or catcher matches an error, and how long to back off."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from localcloud.asl.errors import StatesErrorName

LOG = logging.getLogger(__name__)

#: errors no Retrier or Catcher can handle ("A States.Runtime error isn't retriable, and will always cause
#: the execution to fail. A retry or catch on States.ALL won't catch States.Runtime errors.")
UNCATCHABLE = frozenset({StatesErrorName.RUNTIME.value})


def error_matches(error_equals: list[str], error: str) -> bool:
    """Whether ``error`` is named by ``error_equals`` (with the States.ALL / States.TaskFailed wildcards)."""
    if error in UNCATCHABLE:
        return False
    for name in error_equals:
        if name == error or name == StatesErrorName.ALL:
            return True
        # "States.TaskFailed acts as a wildcard that matches any known error name except for States.Timeout."
        if name == StatesErrorName.TASK_FAILED and error != StatesErrorName.TIMEOUT:
            return True
    return False


@dataclass
class Retrier:
    """One element of a state's Retry array."""

    error_equals: list[str]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter_strategy: str = "NONE"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Retrier:
        return cls(
            error_equals=list(raw["ErrorEquals"]),
            interval_seconds=raw.get("IntervalSeconds", 1),
            max_attempts=raw.get("MaxAttempts", 3),
            backoff_rate=raw.get("BackoffRate", 2.0),
            max_delay_seconds=raw.get("MaxDelaySeconds"),
            jitter_strategy=raw.get("JitterStrategy", "NONE"),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) of this retrier."""
        delay = self.interval_seconds * (self.backoff_rate**attempt)
        if self.max_delay_seconds is not None:
            delay = min(delay, self.max_delay_seconds)
        if self.jitter_strategy == "FULL":
            delay = random.uniform(0, delay)
        return delay


@dataclass
class Catcher:
    """One element of a state's Catch array; ``raw`` keeps the fields its query language reads (ResultPath)."""

    error_equals: list[str]
    next: str
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Catcher:
        return cls(list(raw["ErrorEquals"]), raw["Next"], raw)


class RetryPolicy:
    """The retry state of one state visit: attempts are counted per retrier."""

    def __init__(self, retriers: list[Retrier]) -> None:
        self.retriers = retriers
        self.attempts = [0] * len(retriers)
        self.total = 0

    def next_delay(self, error: str) -> float | None:
        """The delay before the next attempt, or None when no retrier grants one for ``error``."""
        for i, retrier in enumerate(self.retriers):
            if error_matches(retrier.error_equals, error):
                if self.attempts[i] >= retrier.max_attempts:
                    return None
                delay = retrier.delay(self.attempts[i])
                self.attempts[i] += 1
                self.total += 1
                return delay
        return None


def find_catcher(catchers: list[Catcher], error: str) -> Catcher | None:
    """The first catcher whose ErrorEquals matches ``error``."""
    for catcher in catchers:
        if error_matches(catcher.error_equals, error):
            return catcher
    return None
