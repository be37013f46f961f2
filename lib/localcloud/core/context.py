"""What every service knows about the server it runs in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from localcloud.core.events import EventHub
from localcloud.core.metrics import MetricHub
from localcloud.core.sessions import RoleSessions


@dataclass(frozen=True)
class ServerContext:
    """The running server: its URL (for calls back into localcloud), its state folder and its role sessions."""

    endpoint_url: str
    home: Path
    port: int
    #: every call made with a role (a task, a job, a handler) is checked against the role's IAM policies
    enforce_iam: bool = False
    #: credentials of the roles the services act with (see :mod:`localcloud.core.sessions`)
    sessions: RoleSessions = field(default_factory=RoleSessions, compare=False, hash=False)
    #: services' own metrics (SageMaker's endpoint metrics) on their way to CloudWatch
    metrics: MetricHub = field(default_factory=MetricHub, compare=False, hash=False)
    #: services' own events (Step Functions' execution status changes) on their way to EventBridge
    events: EventHub = field(default_factory=EventHub, compare=False, hash=False)

    def workdir(self, *parts: str) -> Path:
        """A folder under this server's state folder, created on first use."""
        path = self.home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
