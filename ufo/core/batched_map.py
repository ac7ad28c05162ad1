"""Maps that take several frames per call (`Task.batch_size` / `process_batch`).

Why: some kernels share work between frames (a back-projection computes each detector
position once for K slices), so the 2014 API's stream of single sinograms can run at the
stacked kernel's speed. The runtime gives such a task up to K frames at once; outputs stay one
per input and in order.
"""

from __future__ import annotations

import time
from typing import Any

from .channel import Channel
from .errors import Cancelled
from .frame import EOS, Frame
from .task import Task

#: a partial batch waits at most this long for more frames (a live stream's latency)
FLUSH_AFTER_S = 0.05


def run_batched_map(node: Any, task: Task, channel: Channel, size: int, flush_after: float = FLUSH_AFTER_S) -> None:
    """A map that takes up to `size` frames at once (`Task.batch_size`); outputs stay one per
    input and in order. A partial batch runs when no frame came for `flush_after` seconds (a live
    stream's slices are not held back waiting for frames that come slowly) and at the end."""
    stats = node.stats
    waiting: list[Frame] = []

    def run_batch() -> None:
        metas = [dict(frame.meta) for frame in waiting]
        t0 = time.perf_counter()
        results = task.process_batch([frame.data for frame in waiting], metas)
        t1 = time.perf_counter()
        stats.busy += t1 - t0
        if node.trace is not None:
            node.trace.append((t0, t1, metas[0].get("index", -1)))
        if len(results) != len(waiting):
            raise RuntimeError(f"node '{node.name}': process_batch gave {len(results)} outputs for {len(waiting)} frames")
        for frame in waiting:
            frame.release()
        stats.frames_in += len(waiting)
        waiting.clear()
        for result, meta in zip(results, metas):
            produced = result if isinstance(result, Frame) else Frame(result, meta)
            produced.meta = meta
            stats.frames_out += 1
            stats.bytes += getattr(produced.data, "nbytes", 0) if node.pool is None else 0
            node.emit(produced)

    while True:
        for frame in channel.get_batch():
            if frame is EOS:
                if waiting:
                    run_batch()
                return
            if channel.cancelled:
                raise Cancelled()
            waiting.append(frame)
            if len(waiting) >= size:
                run_batch()
        if waiting and not channel.wait(flush_after):
            run_batch()
