"""What a GUI run says besides its result, as `ufo reco` says it: the CPU fallback and the hints
for zingers and stripes of the middle row's sinogram.

Why here: the command line prints them to the terminal (the fallback as a Python warning, once
per process: a GUI server's second run would never show it; the hints come from
`ufo.reco.hints`, which `ufo reco` prints too), and the GUI's run log showed neither.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from .. import reco as reco_mod


def device_note(plan: reco_mod.Plan) -> str | None:
    """'no GPU found ...; running on the CPU' where the run could use a GPU but has none."""
    from ..core.resources import available, select

    if plan.options.gpus in ("cpu", "none") or select(plan.options.gpus) or available():
        return None
    return "no GPU found (CuPy with CUDA is not available); running on the CPU"


def quality_hints(plan: reco_mod.Plan, rows: queue.Queue[Any], stop: threading.Event) -> list[str]:
    """Hints for the corrections not asked for, from the middle row's flat-corrected sinogram.

    `rows` gets what `reco.run` hands its `middle_row` callback: a function making the row (the
    run read it anyway), or None (read it here, beside the reconstruction); anything else: the
    run ended first, no hints. A failing check costs the hint, never the run (as in the CLI)."""
    from ..reco.hints import sinogram_hints

    if plan.options.remove_outliers and plan.options.remove_stripes:
        return []
    source = rows.get()
    if stop.is_set() or not (source is None or callable(source)):
        return []
    return sinogram_hints(plan, source)
