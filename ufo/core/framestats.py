"""What a stream of camera frames delivered: frames received and dropped, frames/s reached
against frames/s asked for, MB/s.

A frame is *dropped* when the camera took it but the consumer never received it: its
number is missing between the frames that arrived (frame numbers count every frame the
camera's clock produced, so the gap is the drop). `FrameStats.see(meta)` works from the
metadata alone, so the camera (`camera.stats`), an experiment and a file writer count the
same way. Frame numbers that start again at 0 (or lower) begin a new recording.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

# dropped runs kept with their frame numbers (the count is always exact): a recording needs at least
# 2 frames a run, so 10 000 (before) was 5 minutes of a camera at 100 frames/s dropping every other frame;
# a million is 2 million frames (22 TB of 2560 x 2160 x 16 bit), at most ~250 MB of runs
MAX_RUNS = 1_000_000


class DroppedFramesWarning(UserWarning):
    """A camera dropped frames: the consumer (pipeline, writer, network) did not keep up."""


def describe_runs(runs: list[tuple[int, int]], limit: int = 6) -> str:
    """'12-15, 40, 77-80 and 3 more runs' for dropped (first frame number, count) runs."""
    parts = [f"{first}" if count == 1 else f"{first}-{first + count - 1}" for first, count in runs[:limit]]
    more = f" and {len(runs) - limit} more run(s)" if len(runs) > limit else ""
    return ", ".join(parts) + more


@dataclass
class FrameStats:
    """Counts of one stream of frames; read it while the stream runs or after it ended.

    `received`: frames delivered; `dropped`: frames the camera took that never arrived
    (missing frame numbers between the first and the last frame received), with their
    numbers in `dropped_frames` as (first, count) runs and the position in the stream
    (index of the frame after each gap) in `gaps`; `late`: frames delivered more than one
    frame period after the camera's clock had them due (unbuffered, clocked cameras: the
    consumer asked too slowly); `fps_asked` (0: as fast as possible) and `fps_reached`,
    `mb_per_s` of what was received.
    """

    camera: str = ""
    fps_asked: float = 0.0
    frame_bytes: int = 0
    buffered: bool = False
    started: float = field(default_factory=time.time)  # wall clock at the start of recording
    received: int = 0
    numbered: int = 0  # frames that carried a frame number (camera frames)
    dropped: int = 0
    late: int = 0
    bytes: int = 0
    dropped_frames: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)  # (position in stream, first number, count)
    first: float | None = None  # monotonic time of the first frame received
    last: float | None = None  # ... and of the last
    _previous: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def see(self, meta: dict[str, Any] | None, nbytes: int | None = None, now: float | None = None) -> int:
        """Count one received frame by its metadata; returns how many were dropped just before it."""
        now = time.monotonic() if now is None else now
        missing = 0
        with self._lock:
            number = (meta or {}).get("frame_number")
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                number = int(number)
                self.numbered += 1
                expected = 0 if self._previous is None or number <= self._previous else self._previous + 1
                if number > expected:
                    missing = number - expected
                    self.dropped += missing
                    if len(self.dropped_frames) < MAX_RUNS:
                        self.dropped_frames.append((expected, missing))
                        self.gaps.append((self.received, expected, missing))
                self._previous = number
            self.received += 1
            self.bytes += self.frame_bytes if nbytes is None else int(nbytes)
            if self.first is None:
                self.first = now
            self.last = now
        return missing

    def end_with(self, dropped: int) -> None:
        """A finite camera ended: `dropped` frames in all were dropped by it, those after the last one
        received too, which no gap shows (17 received and 24 dropped said of a 50-frame file; 33 were)."""
        with self._lock:
            missing = dropped - self.dropped
            if missing > 0:
                first = 0 if self._previous is None else self._previous + 1
                self.dropped += missing
                if len(self.dropped_frames) < MAX_RUNS:
                    self.dropped_frames.append((first, missing))
                    self.gaps.append((self.received, first, missing))

    def skip_to(self, number: int) -> None:
        """The frames of the recording under way before frame `number` were left out on purpose (a
        resumed continuous scan's run-up, ufo.control.continuous): not counted as dropped."""
        with self._lock:
            self._previous = int(number) - 1

    @property
    def seconds(self) -> float:
        """From the first to the last frame received."""
        return (self.last - self.first) if self.first is not None and self.last is not None else 0.0

    @property
    def fps_reached(self) -> float:
        """Frames per second received (between the first and the last frame)."""
        seconds = self.seconds
        return (self.received - 1) / seconds if self.received > 1 and seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        seconds = self.seconds
        if self.received < 2 or seconds <= 0:
            return 0.0
        return self.bytes * (self.received - 1) / self.received / seconds / 1e6

    def as_dict(self) -> dict[str, Any]:
        return {"camera": self.camera, "received": self.received, "dropped": self.dropped, "late": self.late,
                "fps_asked": self.fps_asked, "fps_reached": round(self.fps_reached, 3),
                "mb_per_s": round(self.mb_per_s, 3), "seconds": round(self.seconds, 6),
                "dropped_frames": [list(run) for run in self.dropped_frames[:1000]]}

    def summary(self) -> str:
        """One line: received, dropped (which), frames/s reached of asked, MB/s."""
        asked = f"{self.fps_asked:g} asked" if self.fps_asked else "free running"
        text = (f"{self.received} frames received, {self.dropped} dropped, "
                f"{self.fps_reached:.1f} frames/s reached ({asked}), {self.mb_per_s:.1f} MB/s")
        if self.dropped:
            text += f"; dropped frames {describe_runs(self.dropped_frames)}"
            if len(self.dropped_frames) >= MAX_RUNS:
                text += f" (frame numbers kept for the first {MAX_RUNS} runs only)"
        if self.late:
            text += (f"; {self.late} frame(s) grabbed later than the frame rate allows "
                     "(unbuffered: grab faster or record buffered)")
        return text
