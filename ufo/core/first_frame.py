"""State a task estimates from the stream's first frame, shared by the replicas of its node.

Why: non-local-means (h=0) and find-large-spots estimate their noise from the first frame they
see and keep it. With replicas each thread saw a different first frame, so 12 of 16 frames came
out different from one replica's, and different again on the next run (exit 0, no word). A task
names the attributes it fills from its first frame (`Task.first_frame_state`); the replica that
takes the stream's first frame fills them, the others wait for it and take its values.
"""

from __future__ import annotations

import threading
from typing import Any


class FirstFrameShare:
    """The first frame's state of one node's run: filled by the replica of frame 0, read by the rest."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.ready = threading.Event()
        self.values: dict[str, Any] = {}

    def before(self, task: Any, seq: int, cancelled: threading.Event) -> None:
        """Before frame `seq`: past the first, wait for its state and take it."""
        if seq == 0 or not self.names:
            return
        while not self.ready.wait(0.1):
            if cancelled.is_set():
                return
        for name, value in self.values.items():
            setattr(task, name, value)

    def after(self, task: Any, seq: int) -> None:
        """After frame `seq` (also when it failed: the others must not wait for good)."""
        if seq == 0 and self.names:
            self.values = {name: getattr(task, name, None) for name in self.names}
            self.ready.set()


def first_frame_share(node: Any, task: Any) -> FirstFrameShare:
    """The node's share (one for its replicas); for a task without first-frame state (most) it
    shares nothing and never waits."""
    names = tuple(getattr(task, "first_frame_state", ()))
    return node.__dict__.setdefault("first_frame_share", FirstFrameShare(names))  # type: ignore[no-any-return]
