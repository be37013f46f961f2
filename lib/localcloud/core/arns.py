"""ARN building and parsing."""

from __future__ import annotations

from dataclasses import dataclass

from localcloud import settings


def arn(service: str, region: str, resource: str, account: str | None = None) -> str:
    """``arn:aws:<service>:<region>:<account>:<resource>``."""
    return f"arn:aws:{service}:{region}:{account or settings.ACCOUNT_ID}:{resource}"


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_name(self) -> str:
        """The part after the resource type (``function:NAME`` → ``NAME``; ``stateMachine:X`` → ``X``)."""
        for sep in (":", "/"):
            if sep in self.resource:
                return self.resource.split(sep, 1)[1]
        return self.resource


def parse_arn(value: str) -> Arn | None:
    """Parse an ARN, or None when ``value`` is not one."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(*parts[1:])
