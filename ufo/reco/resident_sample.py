"""The 8/16-bit scale and --axis auto's axis of a resident run in passes, from rows read before
the first pass (ufo.reco.resident_rows).

Why: one pass makes both from the volume it holds (the scale from its sample rows' slices, the
axis from the middle row read before the frames), but then every slice waits for the last
projection and the write follows the whole read. In passes both must be known before the first
pass's slices are written. The sinogram path finds them through graphs before anything else (a
second read of the sample rows that from a cold disk brings in nearly the whole scan: 1.7 s at
1024^3 on the H200 host). Here the rows are read first (0.2 s there) and:
- the scale: the sample rows (`outputs.sample_passes`, those `with_volume_scale` takes from a
  finished volume, so one pass and passes store the same integers) are reconstructed by an engine
  of their own in the thread that starts the writer, while the first pass is fed: the scale was
  found 0.51-0.61 s after the job started, before the first pass's slices (0.7 s), and 16-bit
  output took 1.91-1.95 s through the server against 1.93-1.97 s for float32, 2.6-2.9 s in one
  pass before (2026-12-04, docs/benchmarks.md);
- the axis: the middle row's sinogram, corrected on the run's device, searched by `axis_of` as
  one pass and the sinogram path search it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..tomo.timing import StageTimes
from .axis_choice import axis_of
from .outputs import sample_passes, with_sample_scale
from .planning import Plan, scan_angles
from .resident_reader import MiddleRow, Sources
from .resident_rows import RowsRead


class SampleScale:
    """The sample rows of every frame, read as soon as this is made; `scaled(...)` waits for them,
    reconstructs them and returns the plan with its scale. `close()` stops the reading."""

    def __init__(self, plan: Plan, sources: Sources, times: StageTimes, stop: threading.Event | None = None):
        found = sample_passes(plan)
        if len(found) != 1:  # rows read with a margin (phase retrieval): not on the resident path
            raise ValueError("the resident path samples rows without a margin")
        p = found[0]
        self.plan, self.times = plan, times
        self.rows = RowsRead(plan, sources, list(range(p.first_row, p.first_row + p.rows * p.step, p.step)), times,
                             "scale sample read", stop)

    def wait_read(self) -> None:
        """Until the sample rows are read (or the reading failed: `scaled` raises its error)."""
        self.rows.thread.join()

    def scaled(self, engine: Callable[[], Any]) -> Plan:
        """The plan with --output-min/--output-max from the sample's slices, reconstructed by
        `engine()` (a StreamingReconstructor of the run's options, on its device)."""
        self.rows.wait()
        t0 = time.perf_counter()
        angles = scan_angles(self.plan)
        made = engine()
        for kind, frames in self.rows.frames:
            for index, frame in enumerate(frames):
                made.add(frame, {"image_key": kind, **({"angle": float(angles[index])} if kind == 0 else {})})
        try:
            slices = made.finish()
        except ValueError as exc:  # no flats, an angle that is not finite: the pass's reader says it too
            from ..core.errors import InputError

            raise InputError(f"{self.plan.options.projections}: {exc}") from exc
        self.rows.frames = []
        self.times.add("scale sample", self.rows.seconds + time.perf_counter() - t0)
        self.times.mark("scale found")
        return with_sample_scale(self.plan, list(slices))

    def close(self) -> None:
        self.rows.close()


def middle_axis(plan: Plan, sources: Sources, times: StageTimes, device: str,
                stop: threading.Event | None = None) -> tuple[float, MiddleRow]:
    """--axis auto before the first of several passes: the middle row to reconstruct (the one the
    sinogram path and one pass search) of every frame, its flat-corrected sinogram made on
    `device`, the axis found by `axis_of`; with the row (the quality hints' sinogram)."""
    t0 = time.perf_counter()
    rows = RowsRead(plan, sources, [plan.rows[len(plan.rows) // 2]], times, "middle row read", stop)
    rows.wait()
    angles = scan_angles(plan)
    middle = MiddleRow(0)
    for kind, frames in rows.frames:
        for index, frame in enumerate(frames):
            middle.add(frame, {"image_key": kind, "angle": float(angles[index]) if kind == 0 else 0.0})
    sino = middle.sinogram(device)
    t1 = time.perf_counter()
    times.add("middle row", t1 - t0)
    axis = axis_of(plan, sino, device)
    times.add("axis search", time.perf_counter() - t1)
    times.mark("axis found")
    return axis, middle
