"""The root exception of localcloud and the AWS-style service error every service raises."""

from __future__ import annotations


class LocalCloudError(Exception):
    """Root of every error localcloud raises; the message says what went wrong and what to do."""


class AWSError(LocalCloudError):
    """An error that goes out on the wire in the AWS format of the service's protocol.

    ``code`` is the AWS error code botocore exposes as ``ClientError.response['Error']['Code']``.
    """

    def __init__(self, code: str, message: str, status: int = 400, *, sender_fault: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault

    def __repr__(self) -> str:
        return f"AWSError({self.code!r}, {self.message!r}, {self.status})"


def validation_error(message: str) -> AWSError:
    """The generic 400 ``ValidationException`` most AWS JSON services use for bad requests."""
    return AWSError("ValidationException", message)
