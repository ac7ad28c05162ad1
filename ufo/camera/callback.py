"""Frame callbacks (`Camera.start_grab_callback`): a thread grabs frames and calls the user's
function with each, and keeps what went wrong for the caller.

An exception in a thread of its own reaches nobody: the thread would end, frames would stop
arriving, and the one who registered the callback would never know. Here an exception of the
callback is kept (`camera.callback_errors`), warned about once per recording
(`CallbackWarning`), and delivery goes on with the next frame: one bad frame does not end an
acquisition. An error of the camera itself while grabbing ends delivery and is kept too.
`stop_recording()` stops the camera, then raises a CameraError whose cause is the first error.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import CallbackWarning, CameraError, EndOfFrames, FrameTimeout

if TYPE_CHECKING:
    from .base import Camera

KEPT_ERRORS = 16  # errors kept per recording: a callback failing on every frame must not fill the memory


class FrameCallback:
    """The thread behind `start_grab_callback` and the errors it met (see the module's doc)."""

    def __init__(self, camera: Camera, callback: Callable[[Any], Any]):
        self.camera = camera
        self.callback = callback
        self.errors: list[BaseException] = []  # the first KEPT_ERRORS
        self.failures = 0  # every error, kept or not
        self.frames = 0  # frames handed to the callback
        self.thread = threading.Thread(target=self._loop, name=f"ufo:camera-callback:{camera.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _keep(self, exc: BaseException, what: str) -> None:
        self.failures += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(exc)
        if self.failures == 1:
            warnings.warn(f"camera '{self.camera.name}': {what} raised {type(exc).__name__}: {exc}; "
                          "stop_recording() will raise it", CallbackWarning, stacklevel=2)

    def _loop(self) -> None:
        stop = self.camera._stop_event
        while not stop.is_set():
            try:
                frame = self.camera.grab(timeout=0.5)
            except FrameTimeout:
                continue  # no frame yet (not triggered, slow camera): look again
            except EndOfFrames:
                return  # a finite camera has delivered all its frames
            except Exception as exc:  # noqa: BLE001 - kept for the caller, see the module's doc
                if not stop.is_set():  # stopping interrupts a grab; that is no error
                    self._keep(exc, "grabbing for the frame callback")
                return
            self.frames += 1
            try:
                self.callback(frame)
            except Exception as exc:  # noqa: BLE001 - kept for the caller; delivery goes on
                self._keep(exc, f"the frame callback (frame {frame.meta.get('frame_number')})")

    def join(self, timeout: float) -> None:
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def error(self) -> CameraError | None:
        """What `stop_recording()` raises: the count and the first error (its cause), or None (also
        when the callback itself stops the recording: in this thread nobody would see it)."""
        if not self.errors or self.thread is threading.current_thread():
            return None
        first = self.errors[0]
        error = CameraError(f"camera '{self.camera.name}': {self.failures} error(s) delivering {self.frames} "
                            f"frame(s) to the callback; the first: {type(first).__name__}: {first} "
                            "(see camera.callback_errors)")
        error.__cause__ = first
        return error
