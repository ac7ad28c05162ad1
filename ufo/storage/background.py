"""A writer in its own thread behind a bounded queue: the producer never waits for one frame's latency.

Graphs do not need it (the `write` task already has its own thread and input queue); code
that writes frames by itself (walkers, acquisition loops) does. Errors reach the producer
at its next `write` or at `close`, and nothing queued before an error is dropped silently.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..core.channel import Channel
from ..core.errors import Cancelled
from ..core.frame import EOS
from .writers import FrameWriter


class BackgroundWriter:
    """Wraps a `FrameWriter`; `write` hands the frame over (copied unless `copy=False`)."""

    def __init__(self, writer: FrameWriter, queue_frames: int = 16, copy: bool = True):
        self.writer = writer
        self.path = writer.path
        self.copy = copy
        self._queue = Channel(queue_frames)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name=f"ufo:writer:{writer.path}", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        return self.writer.frames

    def _drain(self) -> None:
        try:
            while (item := self._queue.get()) is not EOS:
                self.writer.write(*item)
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the producer
            self._error = exc
            self._queue.cancel()

    def write(self, frame: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._queue.put((np.array(frame, copy=True) if self.copy else frame, dict(meta or {})))
        except Cancelled as err:
            if self._error is not None:
                # the writer's own error, raised as it is: a `from` clause here would replace its own cause
                raise self._error  # the cancelled queue is only how it showed
            raise RuntimeError("the writer stopped") from err

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put_force(EOS)
            self._thread.join()
        try:
            self.writer.close()
        finally:
            if self._error is not None:
                raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
