"""Camera errors: what went wrong and what to do about it."""

from __future__ import annotations

from ..core.errors import InputError, UfoError


class CameraError(UfoError):
    """A camera refused or failed an operation (wrong state, hardware or server problem)."""


class EndOfFrames(InputError):
    """A finite camera (file replay) has no more frames."""


class FrameTimeout(CameraError):
    """No frame arrived within the timeout of `grab` (the camera may still deliver later)."""


class CallbackWarning(RuntimeWarning):
    """A frame callback raised; frames keep coming, and `stop_recording()` raises the error."""
