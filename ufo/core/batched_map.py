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
from .map_results import check_result
from .task import Task

#: a partial batch waits at most this long for more frames (a live stream's latency)
FLUSH_AFTER_S = 0.05


def _process(node: Any, task: Task, waiting: list[Frame], shared: bool) -> list[Frame]:
    """`task.process_batch` on `waiting` (released after); one output frame per input, metadata kept.
    `shared`: replicas add to the same statistics, under the node's output lock."""
    metas = [dict(frame.meta) for frame in waiting]
    t0 = time.perf_counter()
    results = task.process_batch([frame.data for frame in waiting], metas)
    t1 = time.perf_counter()
    if shared:
        with node.out_cond:
            node.stats.busy += t1 - t0
    else:
        node.stats.busy += t1 - t0
    if node.trace is not None:
        node.trace.append((t0, t1, metas[0].get("index", -1)))
    if len(results) != len(waiting):
        raise RuntimeError(f"node '{node.name}': process_batch gave {len(results)} outputs for {len(waiting)} frames")
    for frame in waiting:
        frame.release()
    produced = []
    spec = node.spec
    declared = tuple(spec.shape) if spec is not None and spec.shape is not None else None
    for result, meta in zip(results, metas):
        check_result(result.data if isinstance(result, Frame) else result, declared, meta)
        frame = result if isinstance(result, Frame) else Frame(result, meta)
        frame.meta = meta
        produced.append(frame)
    return produced


def _count(node: Any, produced: list[Frame]) -> None:
    node.stats.frames_in += len(produced)
    if node.pool is None:
        node.stats.bytes += sum(getattr(frame.data, "nbytes", 0) for frame in produced)


def run_batched_map(node: Any, task: Task, channel: Channel, size: int, flush_after: float = FLUSH_AFTER_S) -> None:
    """A map that takes up to `size` frames at once (`Task.batch_size`); outputs stay one per
    input and in order. A partial batch runs when no frame came for `flush_after` seconds (a live
    stream's slices are not held back waiting for frames that come slowly) and at the end."""
    waiting: list[Frame] = []

    def run_batch() -> None:
        produced = _process(node, task, waiting, shared=False)
        waiting.clear()
        _count(node, produced)
        for frame in produced:
            node.stats.frames_out += 1
            node.emit(frame)

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


def _gather(channel: Channel, size: int, flush_after: float) -> tuple[list[Frame], bool]:
    """Up to `size` consecutive frames (fewer when none comes for `flush_after` s) and whether the stream ended."""
    frames: list[Frame] = []
    while len(frames) < size:
        if frames and not channel.wait(flush_after):
            break
        frame = channel.get()
        if frame is EOS:
            return frames, True
        if channel.cancelled:
            raise Cancelled()
        frames.append(frame)
    return frames, False


def run_batched_replica(node: Any, task: Task, channel: Channel, size: int,
                        flush_after: float = FLUSH_AFTER_S) -> None:
    """One of several replicas of a batched map. Each takes up to `size` consecutive frames under
    the input lock, so the others gather their batches while it computes (one frame per call would
    run the one-slice kernel: 2 replicas of `Backproject` over single sinograms burnt 6.6x the CPU
    time of one); sequence numbers put the outputs back in order."""
    cond = node.out_cond
    window = 2 * node.task.replicas * size + 2
    while True:
        node.wait_for_room(window)
        with node.in_lock:
            if node.input_ended:
                return
            frames, ended = _gather(channel, size, flush_after)
            node.input_ended = ended
            first = node.seq_in
            node.seq_in += len(frames)
        produced = _process(node, task, frames, shared=True) if frames else []
        with cond:
            for offset, frame in enumerate(produced):
                node.pending[first + offset] = frame
            _count(node, produced)
            node.emit_in_order()
        if ended:
            return
