"""More values a script may pass by mistake, found by a probe of the control layer (2026-12-05):
each was taken and misbehaved later (a scan that froze, a helix off its path, a window compared
in the wrong unit); now refused by name before anything moves, or read as meant."""

from __future__ import annotations

import asyncio
import math
import tempfile

import h5py
import pytest

from ufo.control import (Accumulator, HelicalTomography, ImageWriter, LinearMotor, OffsetAxisTomography, Radiography,
                         SimulatedBeamline, SuspendBelow, SuspendOutside, Tomography, q)
from ufo.control.errors import LimitError
from ufo.control.processes import ascan, focus
from ufo.core import UsageError
from ufo.storage.walker import DirectoryWalker


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_window_of_limits_in_two_units_is_compared_in_each_ones_unit():
    """(-5 mm, 0.005 m) is +-5 mm: the value was converted to the lower limit's unit and compared
    with the upper one's magnitude (5 mm against 0.005: held at 1 mm; never held at 20 mm the
    other way round)."""
    async def go():
        table = await LinearMotor("table").connect()
        windows = (SuspendOutside(table["position"], -5 * q.mm, 0.005 * q.m),
                   SuspendOutside(table["position"], -0.005 * q.m, 5 * q.mm))
        said = []
        for where in (1, 20, -20):
            await table.set_position(where * q.mm)
            said.append([await window.check() for window in windows])
        return said

    inside, above, below = run(go())
    assert inside == [None, None]
    assert all(reason and "outside" in reason for reason in above + below)


@pytest.mark.parametrize("options, said", [
    ({"velocity": -5 * q("mm/s")}, "x: velocity -5.0 mm/s must be a number above 0"),
    ({"velocity": 0 * q("mm/s")}, "x: velocity 0.0 mm/s must be a number above 0"),
    ({"position": 500 * q.mm}, "x: position 500 mm is outside the limits"),
    ({"position": math.nan * q.mm}, "x: position nan is not a finite number"),
])
def test_a_simulated_motor_is_made_only_where_it_could_be_moved(options, said):
    """set_velocity and set_position refused these; the constructor took them (a move of 80 mm in
    a millisecond, a stage standing at 500 mm past its 100 mm limit, or at NaN)."""
    with pytest.raises(LimitError, match=said):
        LinearMotor("x", **options)
    with pytest.raises(UsageError, match="x: position and velocity in mm"):
        LinearMotor("x", position=5)


@pytest.mark.parametrize("continuous", [False, True])
def test_a_helix_past_the_vertical_stages_limit_is_refused_before_the_darks(continuous):
    """Two turns of 10 mm from 90 mm need 110 mm of a stage that stops at 100: continuous, the stage
    stopped there while the rotation went on and the scan ended as a success, 35 of 72 projections
    off the helix; stepped, it failed after the darks, flats and 37 projections."""
    async def go():
        beamline = await SimulatedBeamline(width=16, height=2, continuous=continuous).connect()
        await beamline.sample_z.set_position(90 * q.mm)
        folder = tempfile.mkdtemp()
        tomo = HelicalTomography(beamline, DirectoryWalker(folder), pitch=10 * q.mm, angular_range=720 * q.deg,
                                 projections=72, darks=2, flats=2, continuous=continuous)
        sink = Accumulator()
        tomo.attach(sink)
        with pytest.raises(LimitError, match="the scan moves sample-z from 90 to 1(10|09.722) mm, beyond its limits"):
            await tomo.run()
        assert not sink.frames and (await beamline.sample_z.get_position()).to("mm").magnitude == pytest.approx(90)

    run(go())


def test_a_continuous_scan_gives_the_cameras_frame_rate_back():
    async def go():
        beamline = await SimulatedBeamline(width=16, height=2, continuous=True).connect()
        camera = beamline.camera.camera
        before = camera.frames_per_second, camera.buffered, camera.num_buffers
        tomo = Tomography(beamline, None, projections=20, darks=1, flats=1, continuous=True)
        tomo.attach(Accumulator())
        await tomo.run()
        return before, (camera.frames_per_second, camera.buffered, camera.num_buffers)

    before, after = run(go())
    assert after == before


@pytest.mark.parametrize("make, said", [
    (lambda b: Tomography(b, None, continuous=True, angular_range=0 * q.deg), "continuous scan needs an angular_range"),
    (lambda b: Tomography(b, None, start_angle=1e20 * q.deg), "start_angle 1e\\+20 deg is more than 36000"),
    (lambda b: Radiography(b, None, frames=3, interval=math.nan * q.s), "finite interval >= 0 s, got nan"),
    (lambda b: Radiography(b, None, frames=3, interval=math.inf * q.s), "finite interval >= 0 s, got inf"),
    (lambda b: OffsetAxisTomography(b, None, offset=1.2 * q.mm, pixel_size=6.5), "pixel_size as a length"),
    (lambda b: SuspendBelow(b.ring["current"], 100 * q.mA, poll=math.nan), "both finite, got delay=0.0, poll=nan"),
    (lambda b: SuspendBelow(b.ring["current"], 100 * q.mA, delay=math.nan), "both finite, got delay=nan"),
    (lambda b: SuspendBelow(b.ring["current"], 100 * q.mA, poll=math.inf), "both finite"),
    (lambda b: SuspendBelow(b.ring["current"], 100 * q.mA, delay=5 * q.m), "delay 5 m is no time"),
])
def test_values_that_froze_or_divided_by_zero_later_are_refused_at_once(make, said):
    """Before: a continuous scan of range 0 took its darks and flats and then divided by zero; a NaN
    or infinite interval or poll froze the series or the scan after one frame; a plain pixel size
    was taken as metres (the axis 0.0002 px off centre)."""
    with pytest.raises(UsageError, match=said):
        make(SimulatedBeamline())


def test_a_suspender_delay_with_its_unit_is_taken_in_seconds():
    assert SuspendBelow(SimulatedBeamline().ring["current"], 100 * q.mA, delay=500 * q.ms).delay == pytest.approx(0.5)


@pytest.mark.parametrize("tolerance", [0 * q.mm, -1 * q.mm, math.nan * q.mm])
def test_focus_with_a_tolerance_that_is_not_above_zero_is_refused(tolerance):
    """0 or less never ended (and held the event loop: a wait_for around it never fired); NaN
    skipped the search and returned the middle of the range."""
    async def go():
        motor = await LinearMotor("focus").connect()

        async def grab():
            return [[0.0]]

        await focus(motor["position"], 0 * q.mm, 10 * q.mm, grab, tolerance)

    with pytest.raises(UsageError, match="focus: tolerance must be a finite value above 0"):
        run(go())


@pytest.mark.parametrize("intervals", [0, -2, 2.5])
def test_ascan_of_no_whole_number_of_intervals_is_refused(intervals):
    async def go():
        motor = await LinearMotor("x").connect()

        async def measure():
            return 0.0

        return [value async for value in ascan(motor["position"], 0 * q.mm, 1 * q.mm, intervals, measure)]

    with pytest.raises(UsageError, match="ascan: intervals must be a whole number of at least 1"):
        run(go())


def test_an_offset_axis_scan_with_a_pixel_size_of_zero_is_refused():
    with pytest.raises(UsageError, match="effective pixel size above 0"):
        OffsetAxisTomography(SimulatedBeamline(), None, offset=1.2 * q.mm, pixel_size=0 * q.um).axis_pixels()


def test_the_helix_file_of_a_scan_within_the_limits_follows_the_helix():
    """The check does not refuse what fits: two turns of 10 mm from 70 mm, each projection's height
    on the helix."""
    async def go():
        beamline = await SimulatedBeamline(width=16, height=2).connect()
        await beamline.sample_z.set_position(70 * q.mm)
        folder = tempfile.mkdtemp()
        tomo = HelicalTomography(beamline, DirectoryWalker(folder), pitch=10 * q.mm, angular_range=720 * q.deg,
                                 projections=24, darks=1, flats=1)
        tomo.attach(ImageWriter())
        await tomo.run()
        return folder

    import glob

    folder = run(go())
    with h5py.File(glob.glob(folder + "/**/*.nx", recursive=True)[0], "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        z = f["/entry/sample/z_translation"][()][keys == 0] * 1000
        angles = f["/entry/sample/rotation_angle"][()][keys == 0]
    assert z == pytest.approx(70 + 10 * angles / 360, abs=2e-3)


def test_a_turning_stage_says_it_turns_not_where_its_last_move_went():
    """The BusyError of a move while the stage turned said "moving to 0 deg" (its last move's target)."""
    from ufo.control import ContinuousRotationMotor
    from ufo.control.safety import BusyError

    async def go():
        stage = await ContinuousRotationMotor("rot").connect()
        await stage.start_motion(90 * q("deg/s"))
        try:
            with pytest.raises(BusyError, match="rot: cannot move to 10 deg, the stage is moving \\(moving at 90 deg/s\\)"):
                await stage.set_position(10 * q.deg)
        finally:
            await stage.stop_motion()

    run(go())
