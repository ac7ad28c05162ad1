"""A continuous scan's rotation under faults: a camera that stalls no longer lets the stage turn on
past the range (it is stopped once it passes the end by a step), and a pause while the stage turns
is refused with the reason rather than failing the scan on resume."""

from __future__ import annotations

import asyncio
import time
import warnings

import h5py
import numpy as np
import pytest

from ufo.control.errors import ControlError

from .test_experiment_faults import _running, stalling_continuous


def _projection_angles(path):
    with h5py.File(path, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        return np.degrees(f["/entry/sample/rotation_angle"][()][keys == 0]) \
            if f["/entry/sample/rotation_angle"].attrs.get("units", "") in ("rad", b"rad") \
            else f["/entry/sample/rotation_angle"][()][keys == 0]


async def _until(predicate, limit=20.0):
    end = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.005)


def _assert_continuous(angles, step, end):
    assert len(angles) >= 2
    gaps = np.diff(angles)
    assert np.all(gaps > 0.5 * step) and np.all(gaps < 1.5 * step), gaps  # one step apart, none lost or repeated
    assert angles.min() >= 0 and angles.max() <= end  # no frame outside the range


def test_a_stalled_camera_stops_the_stage_at_the_end_of_the_range(tmp_path):
    async def main():
        bl, tomo = await stalling_continuous(tmp_path, 1.0)  # the stage turns 600 degrees meanwhile
        run = asyncio.ensure_future(tomo.run())
        await _until(lambda: bl.rotation.state == "moving")
        await _until(lambda: bl.rotation.state != "moving" or run.done(), limit=5.0)
        stopped_at = float((await bl.rotation.get_position()).to("deg").magnitude)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ControlError, match="past the end of the scan's range"):
                await run
        here = float((await bl.rotation.get_position()).to("deg").magnitude)
        return bl, tomo, stopped_at, here

    bl, tomo, stopped_at, here = asyncio.run(main())
    assert 180 < stopped_at <= 180 + 2 * 3 + 3, stopped_at  # stopped within a step or two past the end, not 543
    assert here == pytest.approx(stopped_at) and not bl.rotation.io.moving  # and it stays there
    assert bl.rotation.state == "standby" and bl.shutter.state == "closed" and tomo.state == "error"
    angles = _projection_angles(tmp_path / "scan_0000" / "scan.nx")
    _assert_continuous(angles, 3.0, 180.0)
    assert len(angles) < 60


def test_pausing_a_continuous_scan_while_it_turns_is_refused_and_the_scan_completes(tmp_path):
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 90, 2, 2, continuous=True)
        await _until(lambda: writer.frames >= 1)  # the darks: the stage stands, a pause holds
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        held = (bl.shutter.state, bl.rotation.state)
        tomo.resume()
        await _until(lambda: writer.frames >= 4 + 10)  # projections: the stage turns
        with pytest.raises(ControlError, match="cannot be paused while it takes its projections"):
            tomo.pause()
        refused = (tomo.paused, bl.rotation.state)
        await run
        return bl, tomo, held, refused

    bl, tomo, held, refused = asyncio.run(main())
    assert held == ("closed", "standby") and refused == (False, "moving")
    assert tomo.state == "standby" and not tomo.paused
    assert bl.rotation.state == "standby" and not bl.rotation.io.moving and bl.shutter.state == "closed"
    angles = _projection_angles(tmp_path / "scan_0000" / "scan.nx")
    assert len(angles) == 90
    _assert_continuous(angles, 2.0, 180.0)
