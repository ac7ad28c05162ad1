"""Control errors: each names the device and parameter and says what was expected."""

from __future__ import annotations

from ..core.errors import UfoError, UsageError


class ControlError(UfoError):
    """A device refused or failed an operation."""


class UnitError(UsageError):
    """A value in a unit that does not convert to the parameter's (a time given for a length)."""


class LimitError(UsageError):
    """A value outside a parameter's soft limits; the device was not moved."""


class TransitionError(ControlError):
    """An operation not allowed in the device's current state."""


class LockError(ControlError):
    """A locked parameter was set."""
