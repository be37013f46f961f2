"""The one exception tree of the ``retrain`` package.

Every error says what went wrong and what to do about it. ``exit_code`` is what ``retrain run`` exits with
when the error reaches the command line.
"""

from __future__ import annotations


class RetrainError(Exception):
    """Root of every error raised by ``retrain``."""

    exit_code = 1


class ParamsError(RetrainError):
    """A parameter file or override is malformed or holds a bad value (exit code 2)."""

    exit_code = 2


class StateError(RetrainError):
    """The run state file lacks what an earlier notebook should have written."""


class CloudError(RetrainError):
    """The target cloud could not be reached or refused a request."""


class WorkflowError(RetrainError):
    """The workflow definition is invalid or the state machine could not be created or run."""


class ExecutionFailed(RetrainError):
    """A workflow execution ended in a status other than SUCCEEDED (and was not a gate rejection)."""


class RunRefused(RetrainError):
    """A run cannot be redriven or resumed as asked: unknown, not redrivable, or other parameters (exit code 2)."""

    exit_code = 2


class NotebookFailed(RetrainError):
    """A notebook of the chain raised; the message names the notebook and the cell."""
