"""What every service knows about the server it runs in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerContext:
    """The running server: its URL (for calls back into localcloud) and its state folder."""

    endpoint_url: str
    home: Path
    port: int
    #: Step Functions authorizes integration calls against the state machine role's policies
    enforce_iam: bool = False

    def workdir(self, *parts: str) -> Path:
        """A folder under this server's state folder, created on first use."""
        path = self.home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
