"""Values a script at 3 a.m. may pass by mistake: refused by name before anything moves.

Before: a NaN position was accepted and the motor stood at NaN for every later move; a velocity
of 0 made moves instant; a negative one lost its LimitError in a formatting error; an emergency
stop during a move let the move report its target as reached; a scan of 0 projections took its
darks and flats, then divided by zero."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from ufo.control import LinearMotor, Tomography, q
from ufo.control.errors import ControlError, LimitError, UnitError
from ufo.core import UsageError


def run(coroutine):
    return asyncio.run(coroutine)


async def connected() -> LinearMotor:
    motor = LinearMotor("x")
    await motor.connect()
    return motor


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_position_that_is_no_number_is_refused(value):
    async def go():
        motor = await connected()
        with pytest.raises(LimitError, match="x: position .* is not a finite number; the device was not moved"):
            await motor.set_position(value * q.mm)
        await motor.set_position(5 * q.mm)
        return (await motor.get_position()).to("mm").magnitude

    assert run(go()) == pytest.approx(5.0)


@pytest.mark.parametrize("value, said", [(0, "must be above 0"), (-5, "must be above 0"),
                                         (math.nan, "is not a finite number"), (math.inf, "is not a finite number")])
def test_a_velocity_of_zero_or_no_number_is_refused(value, said):
    async def go():
        motor = await connected()
        before = await motor.get_velocity()
        with pytest.raises(LimitError, match=f"x: velocity .* {said}"):
            await motor.set_velocity(value * q("mm/s"))
        return before, await motor.get_velocity()

    before, after = run(go())
    assert after == before


def test_an_emergency_stop_fails_the_move_it_halts():
    async def go():
        motor = await connected()
        await motor.set_velocity(20 * q("mm/s"))
        move = asyncio.ensure_future(motor.set_position(30 * q.mm))
        await asyncio.sleep(0.3)
        await motor.emergency_stop()
        with pytest.raises(ControlError, match=r"x: stopped at .* mm before reaching 30 mm"):
            await move
        return (await motor.get_position()).to("mm").magnitude

    assert 2 < run(go()) < 20


@pytest.mark.parametrize("speed, error, said", [
    (math.nan * q("deg/s"), LimitError, "is not a finite number"), (math.inf * q("deg/s"), LimitError, "not a finite"),
    (0 * q("deg/s"), LimitError, "would not turn"), (5 * q("mm/s"), UnitError, "takes .*angle|takes .*time"),
])
def test_a_rotation_at_no_speed_or_a_speed_of_no_number_is_refused(speed, error, said):
    """A NaN speed left the stage at NaN for good (and the next frame's angle failed); 5 mm/s gave
    pint's DimensionalityError; 0 was taken as 'moving'."""
    from ufo.control import ContinuousRotationMotor

    async def go():
        motor = await ContinuousRotationMotor("rot").connect()
        with pytest.raises(error, match=said):
            await motor.start_motion(speed)
        await motor.start_motion(90 * q("deg/s"))
        await asyncio.sleep(0.1)
        await motor.stop_motion()
        return (await motor.get_position()).to("deg").magnitude

    assert 1 < run(go()) < 40


def test_a_motion_stops_at_the_soft_limit_and_a_stopped_move_returns_where_it_stands():
    from ufo.control.motors import SimulatedMotor

    stage = SimulatedMotor("mm", 95.0, 10.0, -100.0, 100.0)
    stage.start_motion(100.0)
    import time

    time.sleep(0.2)
    assert stage.position_at() == 100.0 and not stage.moving  # it went 150 mm past its limit
    with pytest.raises(LimitError, match="at its limit 100 mm"):
        stage.start_motion(5.0)

    async def go():
        motor = await connected()
        await motor.set_velocity(50 * q("mm/s"))
        move = asyncio.ensure_future(motor.set_position(-90 * q.mm))
        await asyncio.sleep(0.2)
        await motor.stop()
        reached = await move
        return reached.to("mm").magnitude, (await motor.get_position()).to("mm").magnitude

    reached, position = run(go())
    assert reached == pytest.approx(position) and -90 < reached < 0  # it said -90 mm, standing at -10


@pytest.mark.parametrize("options, said", [
    ({"projections": 0}, "projections=0 must be a whole number of at least 1"),
    ({"projections": -5}, "projections=-5 must be a whole number"),
    ({"projections": 2.5}, "projections=2.5 must be a whole number"),
    ({"darks": -1}, "darks=-1 must be a whole number of at least 0"),
    ({"angular_range": 180}, "angular_range takes an angle with its unit"),
    ({"angular_range": 180 * q.mm}, "angular_range takes an angle"),
    ({"angular_range": math.nan * q.deg}, "angular_range nan deg is not a finite angle"),
    ({"angular_range": 1e308 * q.deg}, "angular_range 1e\\+308 deg is more than 36000 degrees"),
    ({"start_angle": math.inf * q.deg}, "start_angle inf deg is not a finite angle"),
])
def test_scan_parameters_are_checked_before_anything_moves(options, said):
    with pytest.raises(UsageError, match=f"Tomography: {said}"):
        Tomography(object(), None, **options)


def test_scan_counts_of_numpy_integers_are_taken():
    from ufo.control import SimulatedBeamline

    scan = Tomography(SimulatedBeamline(), None, projections=np.int64(90), angular_range=np.pi * q.rad)
    assert scan.num_projections == 90 and scan.angle_step.to("deg").magnitude == pytest.approx(2.0)


@pytest.mark.parametrize("make, said", [
    (lambda s: s.SuspendBelow(lambda: 5.0, math.nan), "threshold nan is not a number"),
    (lambda s: s.SuspendAbove(lambda: 5.0 * q.mA, 6 * q.mA, resume_at=math.nan * q.mA), "resume_at nan .* is not a number"),
    (lambda s: s.SuspendOutside(lambda: 1.0, 0, math.nan), "upper nan is not a number"),
])
def test_a_suspender_limit_that_is_no_number_is_refused(make, said):
    """A NaN threshold could never trip: the run went on through a beam loss."""
    from ufo.control import suspenders

    with pytest.raises(UsageError, match=said):
        make(suspenders)


def test_a_suspender_reading_no_number_holds_and_a_failing_one_is_named():
    from ufo.control.suspenders import SuspendBelow

    assert run(SuspendBelow(lambda: math.nan, 5, name="diode").check()) == "diode reads nan (not a number)"
    assert run(SuspendBelow(lambda: 10.0, 5, name="diode").check()) is None
    assert run(SuspendBelow(lambda: 1.0, 5, name="diode").check()) == "diode is 1.0 (below 5)"
    with pytest.raises(ControlError, match="suspender on ring: reading its value failed: ZeroDivisionError"):
        run(SuspendBelow(lambda: 1 / 0, 5, name="ring").check())
