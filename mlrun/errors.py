"""One exception tree for mlrun.

Every error mlrun raises on purpose is an ``MLRunError``; errors caused by what a user
passed in are also ``ValueError`` so generic code can catch them the usual way.
"""
from __future__ import annotations


class MLRunError(Exception):
    """Root of all mlrun errors."""


class InvalidInputError(MLRunError, ValueError):
    """Something the user supplied (a parameter, spec, file, URL) is malformed or missing."""


class InvalidSpecError(InvalidInputError):
    """A run spec or record does not have the expected shape; ``field`` names the culprit."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class SecretError(InvalidInputError):
    """A secret source cannot be read."""


class StoreError(MLRunError):
    """A run store or data store failed to read or write."""


class NotFoundError(StoreError, KeyError):
    """The requested run, object or file does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""



class AccessDeniedError(MLRunError, PermissionError):
    """A request named a path, bucket or host outside what its operator allowed (HTTP 403)."""


class InvalidTransitionError(InvalidInputError):
    """A run was asked to change to a state it cannot reach from its own (``completed`` back to ``running``)."""


class LimitExceededError(InvalidInputError):
    """A body, spec, record or answer is larger or deeper than the configured limit (HTTP 413)."""


class UnknownFieldWarning(UserWarning):
    """A spec or record named a field the record model does not have: it was left out (``$MLRUN_STRICT_SPEC``
    refuses it instead)."""


#: MLRun 1.x's names: its code and tests catch these where this project raises the errors they alias
MLRunInvalidArgumentError = InvalidInputError
MLRunNotFoundError = NotFoundError


class RunError(MLRunError):
    """A run ended in state ``error`` (``fn.run()`` raises it after recording the run, as MLRun 1.x does);
    ``run`` is the run object."""

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run


def error_message(error: BaseException | str) -> str:
    """One line that says what went wrong: ``ZeroDivisionError: division by zero``."""
    if isinstance(error, BaseException):
        text = str(error)
        error = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return " ".join(str(error).split()) or "unknown error"
