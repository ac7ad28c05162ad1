"""The simulated beamline end to end (`ufo demo`): acquisition, storage, online reconstruction, checks."""

from .run import Demo, DemoOptions, DemoResult

__all__ = ["Demo", "DemoOptions", "DemoResult"]
