"""A node that fails mid-stream lets what it gave reach the sinks (sources and maps of one thread),
and the run's claim and end: two threads starting the same tasks, a cancel after the end."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import ufo
from ufo.core import TaskError

from .test_scheduler import FailAt, Jitter, Slow

def _failing_after(n, shape=(8, 8)):
    for i in range(n):
        yield np.full(shape, i, np.float32)
    raise OSError("camera gone")


def test_frames_a_failing_source_gave_are_written_before_its_error(tmp_path, no_leftover_threads):
    """The frames already queued to the writer when the source fails reach the file (they used to
    be dropped with the run's cancel); the error still reaches wait()."""
    import h5py

    path = tmp_path / "out.h5"
    handle = ufo.Write(path=f"{path}:/data")(Jitter()(_failing_after(40, (64, 64)))).run()
    with pytest.raises(TaskError, match="memory-in.*camera gone"):
        handle.wait(timeout=20)
    with h5py.File(path, "r") as f:
        data = f["data"][...]
    assert data.shape == (40, 64, 64)
    assert [int(frame[0, 0]) for frame in data] == list(range(40))


def test_a_failing_source_ends_the_other_sources_and_gives_no_partial_reduction(no_leftover_threads):
    slow, other = Slow(0.005), Slow(0)
    graph = ufo.Graph([slow(_failing_after(30)), other(ufo.DummyData(shape=[8, 8], number=10**9)())])
    averaged = ufo.Average()(_failing_after(5))
    t0 = time.perf_counter()
    handle = graph.run()
    with pytest.raises(TaskError, match="camera gone"):
        handle.wait(timeout=20)
    assert time.perf_counter() - t0 < 5.0
    assert slow.count == 30 and slow.closed and other.closed
    with pytest.raises(TaskError, match="camera gone"):
        averaged.collect()


def test_cancelling_a_finished_run_leaves_it_finished(tmp_path):
    """A late cancel (a Cancel click, a clean-up's `finally: handle.cancel()`) made a finished run
    'cancelled': wait() raised Cancelled though every frame was written."""
    handle = ufo.Null()(np.ones((5, 4, 4), np.float32)).run()
    handle.wait(timeout=10)
    handle.cancel()
    assert handle.wait(timeout=1) is handle and not handle.cancelled


def test_two_threads_running_the_same_tasks_one_is_refused(no_leftover_threads):
    """The check for a run of the same tasks and their claim were apart: both threads ran, and
    one's teardown closed the other's input under it."""
    from ufo.core import GraphError

    for _ in range(5):
        stream = Slow(0.001)(Jitter()(ufo.DummyData(shape=[8, 8], number=200)()))
        outcomes = []
        barrier = threading.Barrier(2)

        def go():
            barrier.wait()
            try:
                stream.run().wait(timeout=20)
                outcomes.append("ran")
            except GraphError as exc:
                outcomes.append("refused" if "part of a run that has not ended" in str(exc) else repr(exc))

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["ran", "refused"], outcomes


def test_frames_a_failing_map_passed_on_are_written_before_its_error(tmp_path, no_leftover_threads):
    """A map of one thread failing at frame 50 (a detector glitch): the frames it had passed on and
    that were queued to the writer were dropped (45 of 50 in the HDF5 file)."""
    import h5py

    path = tmp_path / "out.h5"
    frames = np.arange(200, dtype=np.float32)[:, None, None] * np.ones((1, 32, 32), np.float32)
    handle = ufo.Write(path=f"{path}:/data")(Jitter()(FailAt(51)(frames))).run()
    with pytest.raises(TaskError, match="fail-at.*bad frame 51"):
        handle.wait(timeout=20)
    with h5py.File(path, "r") as f:
        assert [int(frame[0, 0]) for frame in f["data"]] == list(range(50))
