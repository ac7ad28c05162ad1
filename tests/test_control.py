"""Control: parameters with units and limits, state checks, simulated devices and the beamline."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ufo.control import (
    ContinuousRotationMotor,
    LimitError,
    LinearMotor,
    LockError,
    Photodiode,
    RotationMotor,
    Shutter,
    SimulatedBeamline,
    TransitionError,
    UnitError,
    q,
)
from ufo.tomo.phantom import Phantom


def run(coro):
    return asyncio.run(coro)


def test_units_convert_and_wrong_units_or_limits_do_not_move():
    async def main():
        motor = await LinearMotor("x").connect()
        await motor.set_position(0.3 * q.cm)
        assert (await motor.get_position()).to("mm").magnitude == pytest.approx(3.0)
        with pytest.raises(UnitError, match="x: position takes .*length.*got 3 s"):
            await motor.set_position(3 * q.s)
        with pytest.raises(LimitError, match="outside the limits.*not moved"):
            await motor.set_position(1 * q.m)
        with pytest.raises(UnitError, match="plain number"):
            await motor.set_position(5)
        assert (await motor.get_position()).magnitude == pytest.approx(3.0)

    run(main())


def test_target_lock_stash_restore_and_wait():
    async def main():
        motor = await LinearMotor("x", velocity=100 * q("mm/s")).connect()
        await motor.set_position(2 * q.mm)
        assert motor["position"].target == 2 * q.mm
        await motor["position"].stash()
        await motor.set_position(5 * q.mm)
        await motor["position"].restore()
        assert (await motor.get_position()).magnitude == pytest.approx(2.0)
        motor["position"].lock()
        with pytest.raises(LockError, match="locked"):
            await motor.set_position(1 * q.mm)
        motor["position"].unlock()
        moving = asyncio.ensure_future(motor.set_position(4 * q.mm))
        await motor["position"].wait(4 * q.mm, timeout=2)
        await moving
        with pytest.raises(TimeoutError):
            await motor["position"].wait(9 * q.mm, timeout=0.05)

    run(main())


def test_state_checks_refuse_illegal_transitions():
    async def main():
        shutter = await Shutter().connect()
        await shutter.open()
        with pytest.raises(TransitionError, match="not allowed in state 'open'"):
            await shutter.open()
        await shutter.close()
        rotation = await ContinuousRotationMotor("r").connect()
        with pytest.raises(TransitionError):
            await rotation.stop_motion()
        await rotation.start_motion(90 * q("deg/s"))
        await asyncio.sleep(0.1)
        await rotation.stop_motion()
        angle = (await rotation.get_position()).magnitude
        assert 5 < angle < 30

    run(main())


def test_cancelling_a_move_leaves_the_motor_in_standby_where_it_stopped():
    async def main():
        motor = await LinearMotor("x", velocity=10 * q("mm/s")).connect()
        task = asyncio.ensure_future(motor.set_position(50 * q.mm))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        position = (await motor.get_position()).magnitude
        assert motor.state == "standby" and 0 < position < 50

    run(main())


def test_device_states_snapshot_and_photodiode():
    async def main():
        diode = await Photodiode(source=lambda: 0.25).connect()
        assert (await diode.get_intensity()).magnitude == 0.25
        with pytest.raises(LockError, match="read-only"):
            await diode.set_intensity(1 * q.V)
        states = await (await RotationMotor("r").connect()).states()
        assert states["state"] == "standby" and "position" in states

    run(main())


def test_simulated_beamline_shows_darks_flats_and_the_phantom_at_the_stage_angle():
    async def main():
        async with SimulatedBeamline(width=64, height=8, axis_offset=2.5) as beamline:
            async with beamline.camera.recording():
                dark = await beamline.grab()
                await beamline.shutter.open()
                await beamline.rotation.set_position(30 * q.deg)
                projection = await beamline.grab()
                await beamline.flat_motor.set_position(beamline.flat_position)
                flat = await beamline.grab()
        return dark, projection, flat

    dark, projection, flat = run(main())
    assert dark.meta["image_key"] == 2 and flat.meta["image_key"] == 1 and projection.meta["image_key"] == 0
    expected = 100 + 3000 * np.exp(-0.01 * Phantom(64, height=8).projection(np.radians(30), axis=32 + 2.5))
    np.testing.assert_allclose(projection, np.rint(expected), atol=1)
    assert np.all(dark == 100) and np.all(flat == 3100)
