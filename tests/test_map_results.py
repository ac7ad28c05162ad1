"""What a user task's process() returns is checked before it goes on.

A map declared 8 x 8 (its output_shape) that returned an (8, 1) column from frame 5 on was passed
downstream unchecked: `calculate` broadcast it to whole frames of one value, a Zarr store or raw
file took frames of mixed sizes, and a crop behind it failed as 'crop' ("could not broadcast");
an int returned failed as 'write' ("'int' object has no attribute 'ndim'"). Now the error names
the task whose process() returned it, and the frame.
"""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from ufo import Task


class Column(Task):
    name = "column-from-5"

    def process(self, frame, out):
        if frame.flat[0] >= 5:
            return np.full((8, 1), frame.flat[0], np.float32)
        out[...] = frame
        return out


class Number(Task):
    name = "a-number"

    def process(self, frame, out):
        return 5


FRAMES = [np.full((8, 8), i, np.float32) for i in range(10)]


def test_a_frame_of_another_shape_than_declared_names_the_task_and_frame():
    with pytest.raises(ufo.core.TaskError, match=r"'column-from-5'.*shape \(8, 1\) at frame 5.*declares \(8, 8\)"):
        ufo.Calculate(expression="x*2")(Column()(FRAMES)).collect()


def test_something_not_an_array_names_the_task():
    with pytest.raises(ufo.core.TaskError, match=r"'a-number'.*returned 5; return the output array"):
        ufo.Crop(width=4)(Number()(FRAMES)).collect()


def test_a_frame_of_the_declared_shape_goes_on():
    assert ufo.Calculate(expression="x*2")(Column()(FRAMES[:5])).collect()[4, 0, 0] == 8


def test_a_path_given_as_bytes_or_pathlib_is_the_path(tmp_path):
    """str(b'x.tif') made the path "b'x.tif'" (os.listdir(b'.') and os.fsencode give bytes)."""
    import os

    out = tmp_path / "x.tif"
    ufo.Writer(path=os.fsencode(out))(FRAMES[:3]).run().wait()
    assert ufo.Reader(path=os.fsencode(out))().collect().shape == (3, 8, 8)
    assert ufo.Reader(path=out)().collect()[2, 0, 0] == 2


def test_a_partial_last_stack_is_filled_by_tasks_that_fill_their_output():
    """The smaller last stack of `stack partial=true` went into the full stack's pooled output:
    'filter' failed ('could not broadcast (23, 37) into (46, 37)'). It fills the front of it now."""
    rng = np.random.default_rng(0)
    frames = [rng.random((23, 37)).astype(np.float32) for _ in range(5)]
    stacks = [np.array(s) for s in ufo.Filter()(ufo.Stack(number=2, partial=True)(frames))]
    assert [s.shape for s in stacks] == [(2, 23, 37), (2, 23, 37), (1, 23, 37)]
    single = ufo.Filter()(frames).collect()
    np.testing.assert_array_equal(stacks[2][0], single[4])
    np.testing.assert_array_equal(stacks[1][1], single[3])


def test_a_batched_map_s_result_of_another_shape_names_the_task():
    class Batched(Task):
        name = "column-batch"

        def batch_size(self):
            return 4

        def process_batch(self, frames, metas):
            return [f if f.flat[0] < 5 else np.full((8, 1), f.flat[0], np.float32) for f in frames]

    with pytest.raises(ufo.core.TaskError, match=r"'column-batch'.*shape \(8, 1\) at frame 5"):
        ufo.Calculate(expression="x*2")(Batched()(FRAMES)).collect()


def test_a_view_of_the_pooled_output_returned_keeps_its_buffer():
    """`return out[:]` (a view of the pooled output): the buffer went back to the pool while the view
    lived, and later frames overwrote the values held."""
    class View(Task):
        name = "view-of-out"

        def process(self, frame, out):
            out[...] = frame
            return out[:]

    frames = [np.full((8, 8), i, np.float32) for i in range(40)]
    held = list(ufo.Calculate(expression="x")(View()(frames)))  # every result kept while the stream runs on
    assert [float(h[0, 0]) for h in held] == [float(i) for i in range(40)]
