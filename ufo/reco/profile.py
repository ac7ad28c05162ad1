"""Where the time of a reconstruction went (`ufo reco --profile`): one row per stage.

The graph runs its steps at once (one thread per node, replicas), so stage times overlap and
do not add up to the wall time: each row is the time spent inside that stage's own code
(`NodeStats.busy`: wall clock, summed over replicas), and its share of the wall time says how
busy the stage kept one thread. With more threads than cores, a stage's time includes the
moments other stages held its core. The filter runs inside the backproject task; the task measures it
(`Backproject.stage_times`) and the back-projection is the rest of that node's time.
"Waiting" is the time the writer spent with nothing to write: the steps before it were the
bottleneck. The axis search and the scale sample of 8/16-bit output run before the passes; on
the resident path the axis search's wait for the middle row of every frame is a row of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: task name -> stage (tasks not listed count as "other")
STAGES = {
    "read": "read",
    "flat-field-correct": "correct", "remove-outliers": "correct", "retrieve-phase": "correct",
    "remove-stripes": "correct",
    "transpose-projections": "sinograms", "crop": "sinograms", "stack": "sinograms", "unstack": "sinograms",
    "backproject": "back-project", "dfi-sinc": "back-project",
    "write": "write",
}
ORDER = ("middle row", "axis search", "scale sample", "read", "correct", "sinograms", "filter", "back-project",
         "complete slices", "download", "write", "other", "waiting")


@dataclass
class StageRow:
    stage: str
    seconds: float
    share: float  # of the wall time of the whole reconstruction
    note: str = ""


def _task_name(node: str) -> str:
    """'read-3' -> 'read' (graph.names() numbers the second and later nodes of a task)."""
    base, _, suffix = node.rpartition("-")
    return base if base and suffix.isdigit() else node


def stage_rows(result: Any) -> list[StageRow]:
    """The profile of a `ufo.reco.running.RecoResult`, in pipeline order, stages that took no time left out."""
    seconds: dict[str, float] = {}
    frames: dict[str, int] = {}
    for stage in ORDER:  # measured outside the graphs (ufo.reco.resident measures its stages so)
        if stage != "filter":
            seconds[stage] = result.stages.get(stage)
    for handle in result.handles:
        for stats in handle.stats.values():
            stage = STAGES.get(_task_name(stats.name), "other")
            if stats.name.startswith(("discard-", "feed", "iterate")):  # the feed's time is waiting for the passes' sinograms
                continue
            seconds[stage] = seconds.get(stage, 0.0) + stats.busy
            frames[stage] = max(frames.get(stage, 0), stats.frames)
            if stage == "write":
                seconds["waiting"] = seconds.get("waiting", 0.0) + max(0.0, stats.wall - stats.busy)
    filtered = result.stages.get("filter")
    if filtered:
        seconds["filter"] = filtered
        seconds["back-project"] = max(0.0, seconds.get("back-project", 0.0) - filtered)
    resident = getattr(result, "path", "") == "resident"
    notes = {"waiting": "writer idle: the steps before it are the bottleneck",
             "back-project": "GPU time of flat-field correction, filter and back-projection (CUDA events)" if resident
             else "filter included (not timed apart on this path)" if not filtered else "",
             "read": "a reader thread beside the GPU's work" if resident else "",
             "complete slices": "after the last frame: the last batches",
             "middle row": "--axis auto: waiting for the middle row of every frame (read first) and its correction",
             "download": "slices from the GPU, beside the writer",
             "write": "conversion to integers included" if result.plan.options.output_bits in (8, 16) else "",
             "scale sample": "slices reconstructed to find the 8/16-bit range"}
    wall = result.seconds or 1.0  # a run too short to time: shares against one second
    return [StageRow(stage, seconds[stage], seconds[stage] / wall, notes.get(stage, "") +
                     (f" ({frames[stage]} frames)" if frames.get(stage) else ""))
            for stage in ORDER if seconds.get(stage, 0.0) > 0]
