"""Vo's axis search on the rows of exactly a half turn (`axis_vo.half_turn_rows`).

The metric joins a sinogram with its mirror image at pi. Binning 1000 rows in threes dropped the
last row (the mirror joined 0.18 degrees early): the axis came out 1 px off at 2560 px, pulled to
the detector's centre (2000 and 3000 rows too); the rows of a scan over more than a half turn were
all taken as 180 degrees; a scan of 175 degrees was searched and came out 26 px off at 2048 px.
The reference is the closed-form sinogram of disks (their chords), with a known axis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ufo.tomo.axis_vo import axis_from_sinogram, half_turn_rows, range_problem

WIDTH = 1024
AXIS = WIDTH / 2 + 7.5


def disks_sinogram(count: int, span: float = math.pi, width: int = WIDTH, axis: float = AXIS) -> np.ndarray:
    """Line integrals of 13 disks (no symmetry) at `count` angles i * span / count."""
    rng = np.random.default_rng(5)
    disks = [(rng.uniform(-0.3, 0.3) * width, rng.uniform(-0.3, 0.3) * width, rng.uniform(0.02, 0.12) * width,
              rng.uniform(0.2, 1.0)) for _ in range(12)] + [(0.1 * width, -0.05 * width, 0.35 * width, 0.05)]
    theta = np.arange(count) * span / count
    t = np.arange(width)[None, :]
    out = np.zeros((count, width))
    for x0, y0, r, mu in disks:
        centre = (x0 * np.cos(theta) - y0 * np.sin(theta))[:, None] + axis
        out += mu * 2 * np.sqrt(np.clip(r * r - (t - centre) ** 2, 0, None)) * 1e-3
    return out.astype(np.float32)


@pytest.mark.parametrize("count", [1000, 1440])
def test_the_axis_of_a_half_turn_does_not_depend_on_its_projection_count(count):
    sino = disks_sinogram(count)
    assert abs(axis_from_sinogram(sino) - AXIS) < 0.2
    assert abs(axis_from_sinogram(sino[:, ::-1]) - (WIDTH - 1 - AXIS)) < 0.2  # mirrored: the mirrored axis


def test_a_scan_over_more_than_a_half_turn_is_searched_on_its_first():
    span = math.radians(200)
    assert abs(axis_from_sinogram(disks_sinogram(800, span), span=span) - AXIS) < 0.2


def test_half_turn_rows_average_each_share_of_the_half_turn():
    rows = np.arange(1000, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    binned = half_turn_rows(rows, math.pi, most=360)  # 1000 / 360 rows each, cut at their fractions
    x = (np.arange(1000 * 400) + 0.5) / 400  # row i holds i on [i, i + 1): its mean over each share, sampled
    share = np.floor(x / (1000 / 360)).astype(int)
    expected = np.bincount(share, np.floor(x)) / np.bincount(share)
    np.testing.assert_allclose(binned[:, 0], expected, atol=0.01)
    span = math.radians(270)  # the first two thirds are the half turn
    np.testing.assert_allclose(half_turn_rows(rows[:300], span, most=360), rows[:200])


def test_a_scan_short_of_a_half_turn_is_refused_by_what_it_costs_at_its_width():
    assert range_problem(math.pi, 1000, 2048) is None
    assert range_problem(math.pi - math.radians(0.05), 3600, 1024) is None
    problem = range_problem(math.radians(175), 700, 2048)
    assert problem is not None and "5.00 short" in problem and "give the axis in pixels" in problem
    assert range_problem(math.radians(179), 716, 2048) is not None
    assert range_problem(math.radians(160), 640) is not None  # no width known: the angular floor alone
