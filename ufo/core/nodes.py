"""The threads of a running graph: one node (`_Node`) and the loops that run sources, maps,
replicas and consumers, handing frames over bounded channels (see ufo.core.scheduler)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .channel import Channel
from .errors import Cancelled
from .first_frame import first_frame_share
from .frame import EOS, BufferPool, Frame
from .handle import NodeStats, RunHandle
from .map_results import map_output, target_of
from .spec import Spec
from .task import Kind, Task, frame_meta_of


class _Node:
    """Run-time state of one node: its channels, pool, stats and replicas."""

    def __init__(self, task: Task, name: str, spec: Spec | None, in_specs: tuple[Spec, ...], handle: RunHandle):
        self.task, self.name, self.spec, self.in_specs, self.handle = task, name, spec, in_specs, handle
        self.ins: list[Channel] = []
        self.outs: list[Channel] = []
        self.pool: BufferPool | None = None
        if spec is not None and spec.shape is not None and spec.dtype is not None and task.kind is not Kind.SINK:
            if not task.own_output:
                self.pool = BufferPool(spec.shape, spec.dtype, getattr(task, "host_allocator", None))
        expected = spec.count if spec else None
        if task.kind is Kind.SINK and in_specs:  # a sink has no output: it expects what its first input brings
            expected = in_specs[0].count if in_specs[0] is not None else None
        self.stats = NodeStats(name, task.kind.value, task.replicas, expected=expected)
        self.trace: list[tuple[float, float, int]] | None = None
        # replication state
        self.in_lock = threading.Lock()
        self.out_cond = threading.Condition()
        self.seq_in = self.seq_out = 0
        self.pending: dict[int, Frame] = {}
        self.input_ended = False
        self.live = task.replicas
        self.collected: dict[int, list[np.ndarray]] = {}
        self.collected_metas: dict[int, list[dict[str, Any]]] = {}

    # -- output -----------------------------------------------------------------------
    def emit(self, frame: Frame) -> None:
        outs = self.outs
        if len(outs) == 1:
            outs[0].put(frame)
        else:
            frame.share(len(outs))
            for channel in outs:
                channel.put(frame)

    def emit_eos(self) -> None:
        for channel in self.outs:
            channel.put_force(EOS)

    def to_frame(self, item: Any, index: int) -> Frame:
        value, meta = frame_meta_of(item)
        if isinstance(value, Frame):
            frame = value
            if meta is not None:
                frame.meta = meta
        else:
            frame = Frame(value, meta if meta is not None else {})
        if "index" not in frame.meta:
            frame.meta["index"] = index
        return frame

    # -- inputs -----------------------------------------------------------------------
    def read_collected(self, task: Task) -> list[int]:
        """Read `collect=True` inputs whole (once, for all replicas); hand them to `task`. Returns the
        indices of the streamed inputs."""
        streamed = []
        with self.in_lock:
            for index, channel in enumerate(self.ins):
                if not task.inputs[index].collect:
                    streamed.append(index)
                    continue
                if index not in self.collected:
                    arrays, metas = [], []
                    while (frame := channel.get()) is not EOS:
                        arrays.append(np.array(frame.data, copy=True))
                        metas.append(dict(frame.meta))
                        frame.release()
                    self.collected[index] = arrays
                    self.collected_metas[index] = metas
        for index in sorted(self.collected):
            task.collected_meta(index, self.collected_metas[index])
            task.collected(index, self.collected[index])
        return streamed

    def wait_for_room(self, window: int) -> None:
        """Replicas: wait while `window` or more frames are taken but not yet emitted in order."""
        with self.out_cond:
            while not self.input_ended and self.seq_in - self.seq_out >= window:
                if self.handle._cancelled.is_set():
                    raise Cancelled()
                self.out_cond.wait()

    def emit_in_order(self) -> None:
        """Replicas (holding `out_cond`): emit the finished frames that are next in sequence."""
        while self.seq_out in self.pending:
            self.emit(self.pending.pop(self.seq_out))
            self.seq_out += 1
            self.stats.frames_out += 1
        self.out_cond.notify_all()

    def drain_rest(self, channels: list[Channel], received: list[Any]) -> None:
        """One input ended: release what was received, read the others to their end, report extras."""
        ended = next(i for i, f in enumerate(received) if f is EOS)
        for index, (channel, first) in enumerate(zip(channels, received)):
            if first is EOS:
                continue
            first.release()
            extra = 1
            while (frame := channel.get()) is not EOS:
                frame.release()
                extra += 1
            self.stats.warnings.append(f"input {index} had {extra} more frame(s) than input {ended}; the extra "
                                       "frames were ignored")


def _run_source(node: _Node, task: Task) -> None:
    stats = node.stats
    cancelled, draining = node.handle._cancelled, node.handle._draining
    index = 0
    t0 = time.perf_counter()
    for item in task.generate():
        t1 = time.perf_counter()
        stats.busy += t1 - t0
        frame = node.to_frame(item, index)
        if node.trace is not None:
            node.trace.append((t0, t1, index))
        index += 1
        stats.frames_out = index
        if node.pool is None:
            stats.bytes += getattr(frame.data, "nbytes", 0)
        node.emit(frame)
        if cancelled.is_set():
            raise Cancelled()
        if draining.is_set():  # another source failed: this one ends here, the rest drains
            break
        t0 = time.perf_counter()
    stats.busy += time.perf_counter() - t0


def _call_map(task: Task, node: _Node, inputs: list[Frame]) -> Frame:
    out = node.pool.acquire() if node.pool is not None else None
    first = inputs[0]
    target = target_of(node, out, first.data)
    t0 = time.perf_counter()
    if task.uses_meta:
        meta = dict(first.meta)
        result = task.process(*[f.data for f in inputs], out=target, meta=meta)  # type: ignore[call-arg]
    else:
        meta = first.meta
        result = task.process(*[f.data for f in inputs], out=target)
    t1 = time.perf_counter()
    if node.task.replicas > 1:
        with node.out_cond:  # several replicas add to the same statistics
            node.stats.busy += t1 - t0
    else:
        node.stats.busy += t1 - t0
    if node.trace is not None:
        node.trace.append((t0, t1, meta.get("index", -1)))
    for extra in inputs[1:]:
        extra.release()
    return map_output(node, first, out, result, meta, target)


def _run_map(node: _Node, task: Task) -> None:
    streamed = node.read_collected(task)
    stats = node.stats
    if len(streamed) == 1 and (size := task.batch_size()) > 1:
        from .batched_map import run_batched_map

        run_batched_map(node, task, node.ins[streamed[0]], size)
        return
    if len(streamed) == 1 and not task.uses_meta:
        # the hot path: one streamed input, batched hand-off
        channel = node.ins[streamed[0]]
        pool = node.pool
        process = task.process
        emit = node.emit
        perf = time.perf_counter
        trace = node.trace
        track_bytes = pool is None
        while True:
            for frame in channel.get_batch():
                if frame is EOS:
                    return
                if channel.cancelled:
                    raise Cancelled()
                out = pool.acquire() if pool is not None else None
                target = target_of(node, out, frame.data)
                t0 = perf()
                result = process(frame.data, out=target)
                t1 = perf()
                stats.busy += t1 - t0
                if trace is not None:
                    trace.append((t0, t1, frame.meta.get("index", -1)))
                if out is not None and result is out.data:
                    out.meta = frame.meta
                    frame.release()
                    produced = out
                else:
                    produced = map_output(node, frame, out, result, frame.meta, target)
                stats.frames_in += 1
                stats.frames_out += 1
                if track_bytes:
                    stats.bytes += getattr(produced.data, "nbytes", 0)
                emit(produced)
    channels = [node.ins[i] for i in streamed]
    while True:
        inputs = [channel.get() for channel in channels]
        if any(f is EOS for f in inputs):
            node.drain_rest(channels, inputs)
            return
        produced = _call_map(task, node, inputs)
        stats.frames_in += 1
        stats.frames_out += 1
        if node.pool is None:
            stats.bytes += getattr(produced.data, "nbytes", 0)
        node.emit(produced)


def _run_replica(node: _Node, task: Task) -> None:
    """One of several threads of a replicated map; sequence numbers restore the order."""
    streamed = node.read_collected(task)
    if len(streamed) == 1 and (size := task.batch_size()) > 1:
        from .batched_map import run_batched_replica

        run_batched_replica(node, task, node.ins[streamed[0]], size)
        return
    channels = [node.ins[i] for i in streamed]
    window, cond, stats = 2 * node.task.replicas + 2, node.out_cond, node.stats
    share = first_frame_share(node, task)  # state from the stream's first frame, the same in every replica
    while True:
        node.wait_for_room(window)
        with node.in_lock:
            if node.input_ended:
                return
            inputs = [channel.get() for channel in channels]
            if any(f is EOS for f in inputs):
                node.input_ended = True
                node.drain_rest(channels, inputs)
                with cond:
                    cond.notify_all()
                return
            seq = node.seq_in
            node.seq_in += 1
        share.before(task, seq, node.handle._cancelled)
        try:
            produced = _call_map(task, node, inputs)
        except Exception:  # the frames before this one are still emitted in order (scheduler._drains)
            with cond:
                node.input_ended = True  # the other replicas take no more
                cond.notify_all()
            raise
        finally:
            share.after(task, seq)
        with cond:
            node.pending[seq] = produced
            stats.frames_in += 1
            if node.pool is None:
                stats.bytes += getattr(produced.data, "nbytes", 0)
            node.emit_in_order()


def _emit_result(node: _Node, item: Any, index: int) -> int:
    """Emit one output of a reduction; returns the next output index."""
    frame = node.to_frame(item, index)
    node.stats.frames_out = index + 1
    if node.pool is None:
        node.stats.bytes += getattr(frame.data, "nbytes", 0)
    node.emit(frame)
    return index + 1


def _emit_all(node: _Node, emitted: Any, index: int) -> int:
    """Emit what a reduction's consume() gave. A generator's body runs as it is iterated (the
    work of transpose-projections, say), so that time counts as busy; waiting for room to emit
    does not."""
    perf = time.perf_counter
    stats = node.stats
    iterator = iter(emitted)
    while True:
        t0 = perf()
        try:
            item = next(iterator)
        except StopIteration:
            stats.busy += perf() - t0
            return index
        stats.busy += perf() - t0
        index = _emit_result(node, item, index)


def _run_consumer(node: _Node, task: Task) -> None:
    """Reductions and sinks: consume every frame, then (reductions) emit the results."""
    streamed = node.read_collected(task)
    channels = [node.ins[i] for i in streamed]
    stats = node.stats
    consume = task.consume
    perf = time.perf_counter
    trace = node.trace
    uses_meta = task.uses_meta
    keeps = task.keeps_input
    reduce = task.kind is Kind.REDUCE
    index = 0
    if len(channels) == 1:
        channel = channels[0]
        done = False
        while not done:
            for frame in channel.get_batch():
                if frame is EOS:
                    done = True
                    break
                if channel.cancelled:
                    raise Cancelled()
                t0 = perf()
                if uses_meta:
                    emitted = consume(frame.data, meta=frame.meta)  # type: ignore[call-arg]
                else:
                    emitted = consume(frame.data)
                t1 = perf()
                stats.busy += t1 - t0
                if trace is not None:
                    trace.append((t0, t1, frame.meta.get("index", -1)))
                stats.frames_in += 1
                if task.kind is Kind.SINK:
                    stats.bytes += getattr(frame.data, "nbytes", 0)
                if emitted is not None and reduce:
                    index = _emit_all(node, emitted, index)
                frame.detach() if keeps else frame.release()
    else:
        while True:
            inputs = [channel.get() for channel in channels]
            if any(f is EOS for f in inputs):
                node.drain_rest(channels, inputs)
                break
            t0 = perf()
            if uses_meta:
                emitted = consume(*[f.data for f in inputs], meta=inputs[0].meta)  # type: ignore[call-arg]
            else:
                emitted = consume(*[f.data for f in inputs])
            stats.busy += perf() - t0
            stats.frames_in += 1
            if emitted is not None and reduce:
                index = _emit_all(node, emitted, index)
            for f in inputs:
                f.detach() if keeps else f.release()
    if reduce and node.handle._draining.is_set():  # stopped or failed: a result of part of the frames is not given
        stats.warnings.append(f"its input ended early ({'a source failed' if node.handle.error else 'stopped'}): "
                              "no result was made of the frames it had")
    elif reduce:
        t0 = perf()
        for item in task.finish():
            stats.busy += perf() - t0
            index = _emit_result(node, item, index)
            t0 = perf()
    else:
        t0 = perf()
        for _ in task.finish() or ():
            pass
        stats.busy += perf() - t0
        if channels and not stats.frames_in and not channels[0].cancelled and not getattr(task, "empty_is_fine", False):
            stats.warnings.append("received no frames (its input stream was empty): nothing was written")


_BODIES: dict[Kind, Callable[[_Node, Task], None]] = {
    Kind.SOURCE: _run_source,
    Kind.MAP: _run_map,
    Kind.REDUCE: _run_consumer,
    Kind.SINK: _run_consumer,
}
