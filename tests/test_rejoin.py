"""A stream split and met again after a reduction (ufo.core.rejoin): it hung for good (the meeting
node reads in step, the reduction gives only at the stream's end, the other branch's frames filled
their channel and blocked the source). It runs now where the frames fit in memory, and is refused
before it runs where they cannot be counted."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ufo
from ufo.core.errors import GraphError


def test_a_branch_through_average_meets_the_stream_again_and_the_run_ends():
    """50 frames of 2048^2 (4 fit in a channel): the difference of each frame and the mean."""
    result = subprocess.run([sys.executable, "-m", "ufo", "run", "-q",
                             "dummy-data shape=2048,2048 number=50 init=ramp ! [average, calculate expression=x] ! "
                             "calculate expression='x1-x0' ! null"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_branch_of_another_rate_meets_the_stream_with_the_right_frames():
    frames = [np.full((256, 256), k, np.float32) for k in range(400)]
    source = ufo.MemoryIn(data=frames)()
    pairs = ufo.task("stack", number=2)(source)
    sums = ufo.task("calculate", expression="x0 + x1")(ufo.task("flatten", mode="sum")(pairs), source)
    out: list = []
    ufo.MemoryOut(out=out)(sums).run().wait(timeout=60)  # it hung: a timeout, not a hung suite
    # stack k: frames 2k and 2k + 1 (their sum 4k + 1), met with frame k
    assert [float(f[0, 0]) for f in out] == [5.0 * k + 1 for k in range(200)]


def test_a_rejoin_over_a_stream_of_unknown_length_is_refused_before_it_runs():
    def endless():
        while True:
            yield np.zeros((64, 64), np.float32)

    source = ufo.MemoryIn(data=endless())()
    mean = ufo.task("average")(source)
    joined = ufo.task("calculate", expression="x0 - x1")(source, mean)
    with pytest.raises(GraphError, match=r"meet again after a reduction \('average'.*not known"):
        joined.run()
