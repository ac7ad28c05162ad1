"""The `ufo reco` application: reconstruction options, planning and running, above the tasks.

`RecoOptions` (options.py) is the one declaration of a reconstruction's settings; `plan()`
(planning.py) turns them into passes of rows that fit in memory; `run()` (running.py) builds
and runs one task graph per pass. The CLI, the GUI, the cluster mode and the benchmarks all go
through these functions.
"""

from __future__ import annotations

from .options import RecoOptions
from .planning import Pass, Plan, check_outputs, parse_region, phase_margin, plan
from .running import RecoResult, corrected, find_axis, graph, run, writer

__all__ = ["Pass", "Plan", "RecoOptions", "RecoResult", "check_outputs", "corrected", "find_axis", "graph", "parse_region",
           "phase_margin", "plan", "run", "writer"]
