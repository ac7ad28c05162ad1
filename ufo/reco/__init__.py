"""The `ufo reco` application: reconstruction options, planning and running, above the tasks.

`RecoOptions` (options.py) is the one declaration of a reconstruction's settings: typed
`Option` fields (schema.py) that the CLI flags, the GUI form, config files (config.py), result
metadata and docs/reco-options.md are generated from. `plan()` (planning.py) turns them into
passes of rows that fit in memory; `run()` (running.py) builds and runs one task graph per
pass; `axis_preview()` (preview.py) is the axis view. The CLI, the GUI, the cluster mode and
the benchmarks all go through these functions.
"""

from __future__ import annotations

from . import config, schema
from .options import RecoOptions
from .planning import Pass, Plan, check_outputs, parse_region, phase_margin, plan
from .preview import AxisPreview, axis_preview, sinogram
from .running import RecoResult, corrected, find_axis, graph, run, writer

__all__ = ["AxisPreview", "Pass", "Plan", "RecoOptions", "RecoResult", "axis_preview", "check_outputs", "config",
           "corrected", "find_axis", "graph", "parse_region", "phase_margin", "plan", "run", "schema", "sinogram",
           "writer"]
