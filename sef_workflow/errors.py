"""The exception tree. Every error the product raises on purpose is a :class:`SefError`.

::

    SefError                     exit code 1
    ├── ConfigError              3  a setting is missing, unknown or of the wrong type
    ├── DefinitionError          9  a workflow file is invalid (file and key named)
    ├── NotFound                 4  an id or reference that does not exist
    ├── InvalidInput             8  bad input to a command: a CSV row, a date, a missing input
    ├── PermissionDenied         7  the actor's role may not do this
    ├── TransitionNotAllowed     5  the trigger is not allowed in the current state
    │   └── GuardFailed          5  a named guard refused the trigger
    ├── ConcurrentUpdate         6  someone else changed the record first; nothing was written
    └── DeliveryError           10  the mail server did not take a message

The CLI maps each to its exit code and prints one line; the web layer maps them to
HTTP statuses.
"""

from __future__ import annotations


class SefError(Exception):
    """Root of every deliberate error in sef-workflow."""

    exit_code = 1


class ConfigError(SefError):
    """The configuration file or environment is invalid."""

    exit_code = 3


class DefinitionError(SefError):
    """A workflow definition is invalid; the message names the file and key."""

    exit_code = 9


class NotFound(SefError):
    """An id or reference does not exist."""

    exit_code = 4


class InvalidInput(SefError):
    """Input to a command is invalid; nothing was changed."""

    exit_code = 8


class PermissionDenied(SefError):
    """The actor's role does not allow this action."""

    exit_code = 7


class TransitionNotAllowed(SefError):
    """The trigger cannot fire in the record's current state."""

    exit_code = 5


class GuardFailed(TransitionNotAllowed):
    """A named guard refused the transition."""


class ConcurrentUpdate(SefError):
    """The record changed since it was read; nothing was written."""

    exit_code = 6


class DeliveryError(SefError):
    """The mail server did not accept a message; ``permanent`` says whether retrying helps."""

    exit_code = 10

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
