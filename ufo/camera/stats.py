"""A camera's delivery statistics (`camera.stats`): the frame accounting of ufo.core.framestats.

The counting works from frame metadata alone, so it lives in the core, where a file writer
and an experiment use the same class; a camera's `stats` is one of them.
"""

from __future__ import annotations

from ..core.framestats import MAX_RUNS, DroppedFramesWarning, FrameStats, describe_runs

CameraStats = FrameStats  # what `camera.stats` is

__all__ = ["MAX_RUNS", "CameraStats", "DroppedFramesWarning", "FrameStats", "describe_runs"]
