"""Wall-clock stamps turned into monotonic time (ufo.core.clock): the offset comes from a pair of
readings that no thread switch split, however many were split before it."""

from __future__ import annotations

import time

import numpy as np

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


class SteppedWall:
    """A fake host whose wall clock is stepped forward by `step` every `every` seconds of monotonic
    time (an NTP or guest-agent correction), beside a monotonic clock advanced by hand."""

    def __init__(self, step: float = 5e-4, every: float = 0.1):
        self.now, self.step, self.every = 100.0, step, every

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + 1.7e9 + self.step * int((self.now - 100.0) / self.every)


def test_stamps_made_here_convert_back_exactly_across_wall_clock_steps():
    clocks = SteppedWall()
    mapping = clock.ClockMap(clocks.monotonic, clocks.wall, refresh=0.03)
    stamps = []
    for i in range(400):  # 2 s of frames at 200 per second, each stamped at its exposure
        clocks.now = 100.0 + i * 0.005
        stamps.append((clocks.now, mapping.wall_at(clocks.now)))
    # converted back later (a frame read out late, a motor asked after the scan), in any order
    clocks.now += 1.0
    back = np.array([mapping.monotonic_at(stamp) for _, stamp in reversed(stamps)])[::-1]
    made = np.array([m for m, _ in stamps])
    assert np.abs(back - made).max() < 1e-6
    # the steps are really there: stamps a frame apart differ by a step at the epochs' borders
    gaps = np.diff([s for _, s in stamps])
    assert gaps.max() > 0.005 + 4e-4 and gaps.min() == pytest.approx(0.005, abs=1e-6)


def test_a_stamp_from_another_host_converts_with_the_offset_of_its_time():
    clocks = SteppedWall(step=0.2, every=10.0)  # the wall clock set 200 ms forward at 10 s
    mapping = clock.ClockMap(clocks.monotonic, clocks.wall, refresh=0.25)
    for t in np.arange(0, 20, 0.1):  # this process stamps and converts all along
        clocks.now = 100.0 + t
        mapping.wall_at(clocks.now)
    # a synchronised host's stamps (true wall time) of moments before and after the step
    for t in (5.0, 12.0, 19.9):
        clocks.now = 100.0 + t
        true_stamp = clocks.wall()
        clocks.now = 100.0 + 20.0
        assert mapping.monotonic_at(true_stamp) == pytest.approx(100.0 + t, abs=1e-6)


def test_the_map_keeps_its_last_epochs():
    clocks = SteppedWall()
    mapping = clock.ClockMap(clocks.monotonic, clocks.wall, refresh=0.01, keep=5)
    for i in range(100):
        clocks.now = 100.0 + i * 0.01
        mapping.wall_at(clocks.now)
    assert len(mapping._starts) == 5


def test_a_wall_clock_set_back_is_exact_but_for_stamps_it_made_twice():
    """Set back 0.5 ms every 100 ms: a wall-clock time then happens twice. Stamps made within the
    step after an epoch's start are ambiguous (the later epoch is taken: off by the step at
    most); all others convert back exactly."""
    clocks = SteppedWall(step=-5e-4, every=0.1)
    mapping = clock.ClockMap(clocks.monotonic, clocks.wall, refresh=0.03)
    made = []
    for i in range(4000):  # a stamp every 0.1 ms: some fall in the windows made twice
        clocks.now = 100.0 + i * 1e-4
        made.append((clocks.now, mapping.wall_at(clocks.now)))
    errors = np.array([abs(mapping.monotonic_at(stamp) - m) for m, stamp in made])
    assert errors.max() <= 5e-4 + 1e-6 and errors.max() > 1e-4  # the ambiguity is there, and bounded
    assert np.mean(errors < 1e-6) > 0.8
