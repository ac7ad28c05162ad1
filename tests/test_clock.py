"""Wall-clock stamps turned into monotonic time (ufo.core.clock): the offset comes from a pair of
readings that no thread switch split, however many were split before it."""

from __future__ import annotations

import time

import pytest

from ufo.core import clock


class Clocks:
    """A monotonic and a wall clock 1000 s apart; the first `split` pairs of readings are switched
    out for 5 ms between the monotonic reading before and the wall reading."""

    def __init__(self, split: int):
        self.now, self.split, self.reads = 50.0, split, 0

    def monotonic(self) -> float:
        self.reads += 1
        if self.reads % 2 == 1 and self.split > 0:  # the reading before a wall reading
            self.split -= 1
            value = self.now
            self.now += 0.005
            return value
        self.now += 1e-7
        return self.now

    def wall(self) -> float:
        self.now += 1e-7
        return self.now + 1000.0


@pytest.mark.parametrize("split", [0, 3, 10, 40])
def test_the_offset_comes_from_a_pair_no_switch_split(split):
    clocks = Clocks(split)
    offset = clock.clock_offset(clocks.monotonic, clocks.wall)
    assert offset == pytest.approx(-1000.0, abs=1e-6)  # a split pair would be 2.5 ms off


def test_every_pair_split_still_gives_the_best_one():
    clocks = Clocks(10_000)
    assert abs(clock.clock_offset(clocks.monotonic, clocks.wall) + 1000.0) < 0.003


def test_a_stamp_now_is_monotonic_now():
    before = time.monotonic()
    at = clock.monotonic_at(time.time())
    assert before - 1e-3 < at < time.monotonic() + 1e-3
