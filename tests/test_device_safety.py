"""Device safety: moves while moving are refused, the per-device lock, hard limits, stop vs. emergency stop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ufo.control import ContinuousRotationMotor, LimitError, LinearMotor, LockError, RotationMotor, SimulatedMotor, q
from ufo.control.safety import BusyError
from ufo.control.status import Status
from ufo.core.errors import UsageError


def run(coro):
    return asyncio.run(coro)


def test_a_second_concurrent_move_is_refused_and_the_first_one_wins():
    async def main():
        motor = await LinearMotor("x", velocity=400 * q("mm/s")).connect()
        first, second = await asyncio.gather(motor.set_position(10 * q.mm), motor.set_position(-10 * q.mm),
                                             return_exceptions=True)
        assert first == 10 * q.mm
        assert isinstance(second, BusyError)
        assert "x: cannot move to -10 mm while it is busy with 'move to 10 mm'" in str(second)
        assert (await motor.get_position()).magnitude == pytest.approx(10.0, abs=1e-9)
        assert motor["position"].target == 10 * q.mm  # the refused move did not take over the target
        assert motor.state == "standby"
        await motor.set_position(-10 * q.mm)  # once the first move ended, the next one runs
        assert (await motor.get_position()).magnitude == pytest.approx(-10.0, abs=1e-9)

    run(main())


def test_a_move_while_the_stage_turns_is_refused():
    async def main():
        motor = await ContinuousRotationMotor("rot").connect()
        await motor.start_motion(90 * q("deg/s"))
        with pytest.raises(BusyError, match=r"rot: cannot move to 10 deg, the stage is moving .*stop\(\) it first"):
            await motor.set_position(10 * q.deg)
        await motor.stop()  # Bluesky's stop halts the rotation and leaves the motor usable
        assert motor.state == "standby"
        await motor.set_position(10 * q.deg)
        assert (await motor.get_position()).magnitude == pytest.approx(10.0, abs=1e-9)

    run(main())


def test_lock_gives_one_task_the_device_and_refuses_the_others():
    async def main():
        motor = await LinearMotor("x", velocity=1000 * q("mm/s")).connect()
        order: list[str] = []
        inside = asyncio.Event()

        async def holder():
            async with motor.lock:
                inside.set()
                # tasks started inside the block hold the lock too
                await asyncio.gather(motor.set_position(1 * q.mm))
                await asyncio.sleep(0)
                order.append("holder done")

        async def intruder():
            await inside.wait()
            with pytest.raises(LockError, match=r"x: cannot set position, the device is locked by task 'holder'"):
                await motor.set_position(5 * q.mm)
            async with motor.lock:  # waits for the holder
                order.append("second holder")
                await motor.set_position(2 * q.mm)

        await asyncio.gather(asyncio.create_task(holder(), name="holder"), intruder())
        assert order == ["holder done", "second holder"]
        assert (await motor.get_position()).magnitude == pytest.approx(2.0, abs=1e-9)
        assert not motor.lock.locked
        async with motor.lock:
            with pytest.raises(LockError, match="already holds the lock"):
                await motor.lock.acquire()

    run(main())


def test_lock_held_in_one_thread_refuses_a_move_from_another_loop():
    motor = LinearMotor("x")
    run(motor.connect())
    held, done = threading.Event(), threading.Event()

    def hold():
        async def main():
            async with motor.lock:
                held.set()
                await asyncio.to_thread(done.wait)
        asyncio.run(main())

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait()
        with pytest.raises(LockError, match="locked by task"):
            run(motor.set_position(3 * q.mm))
    finally:
        done.set()
        thread.join()
    run(motor.set_position(3 * q.mm))  # released: the other loop may move it
    assert run(motor.get_position()).magnitude == pytest.approx(3.0, abs=1e-9)


def test_hard_limits_are_reported_by_the_hardware_and_enforced():
    async def main():
        motor = await LinearMotor("x").connect()
        assert await motor.get_limits() == (-100 * q.mm, 100 * q.mm)
        # hardware that is tighter than the class's defaults: its limits are the ones reported
        narrow = await LinearMotor("y", backend=SimulatedMotor("mm", 0.0, 100.0, -5.0, 5.0)).connect()
        low, high = await narrow.get_limits()
        assert (low.magnitude, high.magnitude) == (-5.0, 5.0)
        described = await narrow.describe()
        assert described["y"]["limits"] == {"control": {"low": -5.0, "high": 5.0}}
        assert described["y"]["units"] == "mm"
        with pytest.raises(LimitError, match=r"y: position 6 mm is outside the limits \[-5 .. 5\] mm; the device was not moved"):
            await narrow.set_position(6 * q.mm)
        assert (await narrow.get_position()).magnitude == 0.0
        rotation = await RotationMotor("r").connect()
        assert await rotation.get_limits() == (None, None)
        assert "limits" not in (await rotation.describe())["r"]

    run(main())


def test_stop_halts_a_move_and_only_a_failing_stop_fails_it():
    async def main():
        motor = await LinearMotor("x", velocity=20 * q("mm/s")).connect()
        moving = motor.set(90)
        while (await motor.get_position()).magnitude < 0.2:
            await asyncio.sleep(0.005)
        await motor.stop()
        await moving  # stop(success=True): the move ends where the stage stopped, without error
        here = (await motor.get_position()).magnitude
        assert 0.2 <= here < 90 and moving.success
        moving = motor.set(-90)
        while (await motor.get_position()).magnitude > here - 0.2:
            await asyncio.sleep(0.005)
        await motor.stop(success=False)
        with pytest.raises(Exception, match=r"x: stopped at .* before reaching -90 mm"):
            await moving
        assert moving.done and not moving.success
        await motor.set_position(1 * q.mm)  # the motor stays usable after either stop
        assert (await motor.get_position()).magnitude == pytest.approx(1.0, abs=1e-9)

    run(main())


def test_status_is_awaitable_and_reports_like_bluesky():
    async def main():
        motor = await LinearMotor("x", velocity=1000 * q("mm/s")).connect()
        seen = []
        status = motor.set(4)
        status.add_callback(lambda s: seen.append(("first", s.done, s.success)))
        assert not status.done and status.exception() is None
        assert await status == 4 * q.mm
        status.add_callback(lambda s: seen.append(("late", s.done, s.success)))  # called at once when done
        assert seen == [("first", True, True), ("late", True, True)]
        first, second = motor.set(8), motor.set(-8)
        await first
        with pytest.raises(BusyError):
            await second
        assert isinstance(second.exception(), BusyError) and not second.success
        assert (await motor.get_position()).magnitude == pytest.approx(8.0, abs=1e-9)
        with pytest.raises(UsageError, match="cannot wait"):
            second.exception(timeout=1.0)

    run(main())
    with pytest.raises(UsageError, match="set\\(\\) starts the action on the running event loop"):
        LinearMotor("x").set(1)


def test_status_of_a_cancelled_move_fails():
    async def main():
        motor = await LinearMotor("x", velocity=1 * q("mm/s")).connect()
        status = Status(motor.set_position(50 * q.mm), "x: move")
        await asyncio.sleep(0.02)
        status.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await status
        assert status.done and not status.success and isinstance(status.exception(), asyncio.CancelledError)
        assert not SimulatedMotor.moving.fget(motor.io)  # the cancelled move stopped the stage

    run(main())


def test_a_tango_motor_reports_the_servers_limits_and_refuses_concurrent_moves():
    pytest.importorskip("tango")
    from tango.test_context import DeviceTestContext

    from ufo.tango.client import TangoBackend
    from ufo.tango.motor import UfoMotor

    context = DeviceTestContext(UfoMotor, device_name="test/ufo/safe", properties={"kind": "linear"}, process=False)
    with context:
        async def main():
            motor = await LinearMotor("lin", backend=TangoBackend(context.get_device_access())).connect()
            assert await motor.get_limits() == (-100 * q.mm, 100 * q.mm)
            assert (await motor.describe())["lin"]["limits"] == {"control": {"low": -100.0, "high": 100.0}}
            await motor.set_velocity(200 * q("mm/s"))
            first, second = await asyncio.gather(motor.set_position(20 * q.mm), motor.set_position(-20 * q.mm),
                                                 return_exceptions=True)
            assert isinstance(second, BusyError) and first == 20 * q.mm
            assert (await motor.get_position()).magnitude == pytest.approx(20.0)

        asyncio.run(main())


def test_a_move_whose_state_cannot_be_read_stops_the_stage():
    """The motor's server fails to answer while a move runs (a hung Tango server that times out,
    a dropped connection): the move fails, and the stage is stopped where it is instead of going
    on alone to the target (before the fix only a cancelled move stopped it)."""
    from ufo.control.errors import ControlError

    class Flaky(SimulatedMotor):
        polls = 0

        async def state(self) -> str:
            self.polls += 1
            if self.polls == 3:
                raise ControlError("motor server: TRANSIENT_CallTimedout")
            return await super().state()

    backend = Flaky(unit="mm", velocity=10.0)

    async def main():
        motor = await LinearMotor("flaky", backend=backend).connect()
        with pytest.raises(ControlError, match="CallTimedout"):
            await motor.set_position(100 * q.mm)  # 10 s

    asyncio.run(main())
    assert not backend.moving and backend.position_at() < 50


def test_an_emergency_stop_is_said_once_until_the_device_acts_again(caplog):
    """The experiment and the beamline it ran on both stop every device after a failure (`ufo demo`
    on Ctrl-C said "rotation: emergency stop" twice); a stop after a new action is said again."""
    import logging

    async def main():
        motor = await LinearMotor("x", velocity=400 * q("mm/s")).connect()
        await motor.set_position(1 * q.mm)
        await motor.emergency_stop()
        await motor.emergency_stop()  # the second layer
        assert motor.state == "standby"
        await motor.set_position(2 * q.mm)
        await motor.emergency_stop()

    with caplog.at_level(logging.WARNING):
        run(main())
    assert [r.getMessage() for r in caplog.records if "emergency stop" in r.getMessage()] == ["x: emergency stop"] * 2
