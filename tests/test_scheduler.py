"""The streaming runtime: order, errors, cancellation, backpressure, handles, iteration."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import numpy as np
import pytest

import ufo
from ufo.core import Cancelled, Input, Kind, Task, TaskError


class Jitter(Task):
    """A map that takes a random short time, so replicas finish out of order."""

    name = "jitter"
    kind = Kind.MAP

    def process(self, frame, out):
        time.sleep(random.random() * 0.002)
        np.copyto(out, frame)
        return out


class FailAt(Task):
    name = "fail-at"
    kind = Kind.MAP

    def __init__(self, at, **kw):
        super().__init__(**kw)
        self.at = at
        self.seen = 0

    def process(self, frame, out):
        self.seen += 1
        if self.seen == self.at:
            raise ValueError(f"bad frame {self.at}")
        np.copyto(out, frame)
        return out


class Slow(Task):
    name = "slow"
    kind = Kind.SINK

    def __init__(self, delay, **kw):
        super().__init__(**kw)
        self.delay = delay
        self.closed = False
        self.count = 0

    def consume(self, frame):
        self.count += 1
        time.sleep(self.delay)

    def teardown(self):
        self.closed = True


def counting_frames(n, shape=(8, 8)):
    return (np.full(shape, i, np.float32) for i in range(n))


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_order_is_preserved_under_replication(replicas, no_leftover_threads):
    frames = np.arange(300, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    out = Jitter(replicas=replicas)(frames).collect()
    assert [int(f[0, 0]) for f in out] == list(range(300))


def test_error_in_the_middle_cancels_quickly_and_names_the_node(no_leftover_threads):
    sink = Slow(0)
    stream = sink(FailAt(5000)(ufo.DummyData(shape=[16, 16], number=10000)()))
    t0 = time.perf_counter()
    handle = stream.run()
    with pytest.raises(TaskError) as info:
        handle.wait(timeout=10)
    assert time.perf_counter() - t0 < 1.0
    assert info.value.node == "fail-at" and "bad frame 5000" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert sink.closed and sink.count < 10000
    assert not [t for t in threading.enumerate() if t.name.startswith("ufo:")]


def test_error_in_a_source_reaches_wait(no_leftover_threads):
    def frames():
        yield np.zeros((4, 4))
        raise OSError("camera gone")

    with pytest.raises(TaskError, match="memory-in.*camera gone"):
        ufo.Null()(frames()).run().wait(timeout=5)


def test_cancel_stops_a_long_run_and_closes_sinks(no_leftover_threads):
    sink = Slow(0.01)
    handle = sink(ufo.DummyData(shape=[16, 16], number=10**9)()).run()
    time.sleep(0.1)
    assert not handle.done
    t0 = time.perf_counter()
    handle.cancel()
    with pytest.raises(Cancelled):
        handle.wait(timeout=5)
    assert time.perf_counter() - t0 < 0.5
    assert handle.done and handle.cancelled and sink.closed


def test_wait_timeout_leaves_the_run_going():
    handle = Slow(0.001)(ufo.DummyData(shape=[4, 4], number=300)()).run()
    with pytest.raises(TimeoutError):
        handle.wait(timeout=0.01)
    handle.wait(timeout=10)
    assert handle.stats["slow"].frames_in == 300


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_memory_stays_bounded_under_backpressure(no_leftover_threads):
    """2 GiB of fresh 8 MiB frames through a map into a slow sink: RSS must not follow."""
    shape = (1024, 2048)  # 8 MiB of float32
    n = 256

    def fresh():
        for i in range(n):
            yield np.full(shape, i, np.float32)

    peak = [0]
    sink = Slow(0.003)
    base = _rss()
    handle = sink(ufo.Calculate(expression="x + 1")(fresh())).run()
    while not handle.done:
        peak[0] = max(peak[0], _rss())
        time.sleep(0.005)
    handle.wait()
    assert sink.count == n
    grown = peak[0] - base
    assert grown < 400 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB for 2048 MiB streamed"


def test_buffers_are_recycled_in_steady_state():
    s = ufo.Calculate(expression="x * 2")(ufo.DummyData(shape=[64, 64], number=5000)())
    handle = ufo.Null()(s).run().wait()
    calc = handle.stats["calculate"]
    assert calc.frames_out == 5000 and handle.stats["null"].frames_in == 5000
    # at most the queue depth (64) plus the frames in flight, not one buffer per frame
    assert 1 <= calc.buffers <= 64 + 4


def test_await_handle_inside_asyncio():
    async def main():
        handle = Slow(0.001)(ufo.DummyData(shape=[4, 4], number=50)()).run()
        ticks = 0
        waiter = asyncio.ensure_future(handle)
        while not waiter.done():
            ticks += 1
            await asyncio.sleep(0.001)
        result = await waiter
        return result, ticks

    handle, ticks = asyncio.run(main())
    assert handle.done and handle.stats["slow"].frames_in == 50
    assert ticks > 3  # the loop kept running while the graph worked


def test_await_reraises_errors():
    async def main():
        await ufo.Null()(FailAt(3)(np.zeros((10, 2, 2)))).run()

    with pytest.raises(TaskError, match="fail-at"):
        asyncio.run(main())


def test_iteration_yields_arrays_with_metadata_and_break_cancels(no_leftover_threads):
    seen = []
    for frame in ufo.Calculate(expression="x + 1")(ufo.DummyData(shape=[4, 4], number=10**9)()):
        seen.append(frame)
        if len(seen) == 5:
            break
    assert [f.meta["index"] for f in seen] == list(range(5))
    assert float(seen[0].mean()) == 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("ufo:")]


def test_iteration_raises_task_errors():
    with pytest.raises(TaskError, match="fail-at"):
        for _ in FailAt(3)(np.zeros((10, 2, 2))):
            pass


def test_frames_given_to_the_user_are_not_recycled():
    frames = list(ufo.Calculate(expression="x")(counting_frames(200)))
    assert [float(f[0, 0]) for f in frames] == list(range(200))


def test_fan_out_feeds_two_sinks():
    source = ufo.Calculate(expression="x * 3")(counting_frames(100))
    a, b = [], []
    ufo.run(ufo.MemoryOut(out=a)(source), ufo.MemoryOut(out=b)(source)).wait()
    assert len(a) == len(b) == 100
    assert all(float(x[0, 0]) == 3 * i == float(y[0, 0]) for i, (x, y) in enumerate(zip(a, b)))


def test_several_inputs_are_zipped_and_extra_frames_reported():
    a = np.ones((5, 3, 3), np.float32)
    b = np.full((7, 3, 3), 2, np.float32)
    out = []
    handle = ufo.MemoryOut(out=out)(ufo.Calculate(expression="x0 * x1")(a, b)).run().wait()
    assert len(out) == 5 and all(np.all(f == 2) for f in out)
    assert any("2 more frame(s)" in w for w in handle.warnings)


def test_collected_input_is_read_before_streaming():
    class Subtract(Task):
        name = "subtract-mean-dark"
        kind = Kind.MAP
        inputs = (Input("frames"), Input("darks", collect=True))

        def collected(self, index, frames):
            self.dark = np.mean(frames, axis=0)

        def process(self, frame, out):
            np.subtract(frame, self.dark, out=out)
            return out

    frames = np.full((6, 2, 2), 10, np.float32)
    darks = np.stack([np.full((2, 2), v, np.float32) for v in (1, 2, 3)])
    out = Subtract(replicas=2)(frames, darks).collect()
    assert out.shape == (6, 2, 2) and np.all(out == 8)


def test_stats_and_trace():
    handle = ufo.Null()(ufo.Calculate(expression="x+1")(ufo.DummyData(shape=[32, 32], number=100)())).run(trace=True)
    handle.wait()
    stats = handle.stats
    assert stats["dummy-data"].frames_out == 100 and stats["calculate"].frames_out == 100
    assert stats["calculate"].bytes == 100 * 32 * 32 * 4
    assert stats["calculate"].busy > 0
    events = [e for e in handle.trace_events if e["ph"] == "X" and e["name"] == "calculate"]
    assert len(events) == 100 and all(e["dur"] >= 0 for e in events)


def test_non_sink_leaf_is_drained():
    handle = ufo.Flip()(ufo.DummyData(shape=[4, 4], number=20)()).run().wait()
    assert any(s.kind == "sink" and s.frames_in == 20 for s in handle.stats.values())


def test_reductions_emit_while_streaming_and_at_the_end():
    volume = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2)
    stacks = ufo.Stack(number=2)(volume).collect()
    assert stacks.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(stacks.reshape(4, 2, 2), volume[:4])
    back = ufo.Unstack()(ufo.Stack(number=5)(volume)).collect()
    np.testing.assert_array_equal(back, volume)


def test_replicated_map_with_inputs_of_different_lengths_finishes(no_leftover_threads):
    a = np.ones((5, 3, 3), np.float32)
    b = np.full((300, 3, 3), 2, np.float32)
    handle = ufo.Null()(ufo.Calculate(expression="x0 + x1", replicas=3)(a, b)).run()
    handle.wait(timeout=10)
    assert handle.stats["calculate"].frames_out == 5
    assert any("295 more frame(s)" in w for w in handle.warnings)


def test_a_map_passing_on_a_shared_input_keeps_its_buffer_out_of_the_pool():
    """Fan-out: a pass-through map returns the very array another consumer still holds. The
    pooled buffer may go back to its pool only when both have released it, or the pool would
    hand it out again while the pass-through frame is still downstream."""
    from ufo.core.frame import BufferPool
    from ufo.core.map_results import map_output

    class Node:
        pool = None

    pool = BufferPool((4, 4), "float32")
    source = pool.acquire()
    source.data[...] = 7
    source.share(2)  # two consumers: the pass-through map and another branch
    produced = map_output(Node(), source, None, source.data, {"index": 0})  # type: ignore[arg-type]
    source.release()  # the other branch is done with it
    assert pool._free == []  # not back in the pool: the pass-through frame still lives
    reused = pool.acquire()
    assert reused is not source
    reused.data[...] = 0
    assert (produced.data == 7).all()
    produced.release()
    assert pool._free == [source]


class CountedSpec(Task):
    """A map that counts how often its output is worked out (a file reader opens its file each time)."""

    name = "counted-spec"
    kind = Kind.MAP

    def __init__(self, **kw):
        super().__init__(**kw)
        self.specs = 0

    def output_spec(self, *input_specs):
        self.specs += 1
        return input_specs[0]

    def process(self, frame, out):
        np.copyto(out, frame)
        return out


def test_a_graph_no_device_rewrites_is_validated_once_per_start():
    counted = CountedSpec()
    frames = counted(ufo.task("dummy-data", shape=[4, 4], number=3, value=2.0)).collect(device="cpu")
    assert counted.specs == 1
    np.testing.assert_array_equal(frames, np.full((3, 4, 4), 2.0, np.float32))



def test_a_finished_handle_lets_its_graph_go():
    """A run's handle kept after the run (a list of them, the GUI's run history) held its graph:
    nodes, channels and buffer pools, 105 MB a handle of a 2048^2 graph (2.1 GB for 20). Only
    the handle is kept here: the graph's tasks must be collected."""
    import gc
    import weakref

    def one() -> tuple[object, weakref.ref]:
        task = ufo.Calculate(expression="x*2")
        frames = np.zeros((4, 256, 256), np.float32)
        handle = ufo.Null()(task(ufo.MemoryIn(frames)())).run()
        handle.wait()
        return handle, weakref.ref(task)

    kept = [one() for _ in range(3)]
    gc.collect()
    assert all(handle.done for handle, _ in kept)
    assert [ref() for _, ref in kept] == [None, None, None]


@pytest.mark.parametrize("stop", ["drain", "cancel"])
def test_drain_writes_every_frame_the_sources_gave(stop):
    """Ctrl-C on `ufo run` drains (`RunHandle.drain`): the sources end at their next frame and every
    frame already taken reaches the sink, with no error; cancel() drops the frames queued (a camera's
    7 of 312 grabbed frames were never written, and nothing said so)."""
    sink = Slow(0.005)
    handle = sink(ufo.DummyData(shape=[64, 64], number=100_000)()).run()
    deadline = time.monotonic() + 10
    while sink.count < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    source = next(s for s in handle.stats.values() if s.kind == "source")
    assert source.frames_out > sink.count + 2  # frames are queued before the slow sink
    if stop == "drain":
        handle.drain()
        handle.wait(timeout=30)
        assert handle.error is None and not handle.cancelled
        assert sink.count == source.frames_out < 100_000 and sink.closed
    else:
        handle.cancel()
        with pytest.raises(Cancelled):
            handle.wait(timeout=30)
        assert sink.count < source.frames_out  # what cancel drops: why Ctrl-C drains


def test_a_reduction_stopped_by_a_drain_says_it_was_stopped():
    """Ctrl-C on `ufo run "camera ! average ! write"` said "a source failed"; no source had."""
    handle = ufo.Null()(ufo.Average()(ufo.DummyData(shape=[8, 8], number=10**9)())).run()
    deadline = time.monotonic() + 10
    while not any(s.frames_out for s in handle.stats.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    handle.drain()
    handle.wait(timeout=30)
    said = " ".join(handle.warnings)
    assert "(stopped)" in said and "source failed" not in said, said
