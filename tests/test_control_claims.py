"""What a scan takes for granted about its devices: a detector triggered in a plan gives a frame
exposed after the trigger, a move that ends short of its target fails, a motor server's status says
what the stage does, and one beamline runs one experiment at a time. Real RunEngine, real Tango
device server (DeviceTestContext), simulated stages and cameras."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ufo.camera import open_camera
from ufo.core.clock import monotonic_at
from ufo.control import Detector, ImageWriter, Radiography, SimulatedBeamline, Tomography, q
from ufo.control.errors import ControlError
from ufo.control.motors import LinearMotor
from ufo.storage.walker import DirectoryWalker


@pytest.mark.parametrize("buffered", [False, True])
def test_a_triggered_detector_reads_a_frame_exposed_after_the_trigger(buffered):
    """A camera staged for the whole plan runs free: trigger() took the next frame queued (or due,
    late) from before it, 0.4-2.7 s old; at 45 deg of a scan the event held the frame exposed at
    7.8 deg, while the stage still turned."""
    bluesky = pytest.importorskip("bluesky")
    import bluesky.plans as bp

    engine = bluesky.RunEngine({})
    docs: list = []
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        camera = open_camera("mock", sensor_width=16, sensor_height=8)
        camera.set(frames_per_second=10, buffered=buffered)
        engine(bp.count([Detector(camera, "cam")], num=4, delay=0.6))
    finally:
        engine.loop.call_soon_threadsafe(engine.loop.stop)
    events = [doc for name, doc in docs if name == "event"]
    assert len(events) == 4
    for event in events:  # the frame began after the trigger, which came just before the event's read
        assert event["time"] - event["timestamps"]["cam"] < 0.3, event["time"] - event["timestamps"]["cam"]


def test_a_plan_scanning_a_stage_gets_frames_taken_where_it_stands():
    bluesky = pytest.importorskip("bluesky")
    import bluesky.plans as bp

    beamline = SimulatedBeamline(width=32, height=8)
    angles: list[tuple[float, float]] = []

    async def prepare():
        await beamline.connect()
        await beamline.shutter.open()
        await beamline.rotation.set_velocity(90 * q("deg/s"))

    engine = bluesky.RunEngine({})
    asyncio.run_coroutine_threadsafe(prepare(), engine.loop).result(30)
    beamline.camera.camera.set(frames_per_second=10)
    docs: list = []
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        engine(bp.scan([beamline.camera], beamline.rotation, 0, 180, 5))
        for name, doc in docs:
            if name == "event":
                exposed = monotonic_at(doc["timestamps"]["camera"])  # the frame's own time
                angles.append((doc["data"]["rotation"], beamline.rotation.io.position_at(exposed)))
    finally:
        engine.loop.call_soon_threadsafe(engine.loop.stop)
    assert [round(a) for a, _ in angles] == [0, 45, 90, 135, 180]
    np.testing.assert_allclose([at for _, at in angles], [a for a, _ in angles], atol=0.05)  # 7.8 deg at 45


def test_a_move_halted_by_something_else_fails_and_a_scan_does_not_record_the_wrong_angle(tmp_path):
    """The stage's own stop (its button, another client of its server) mid-move: the move returned
    as a success, and a stepped scan recorded a projection at 72 deg taken at 58.1 deg."""
    async def move_stopped_by_the_stage():
        motor = await LinearMotor("x").connect()
        await motor.set_velocity(20 * q("mm/s"))
        move = asyncio.ensure_future(motor.set_position(10 * q.mm))
        await asyncio.sleep(0.2)
        motor.io.stop()  # the stage's own stop: not this client's stop()
        with pytest.raises(ControlError, match=r"x: stopped at [0-9.]+ mm before reaching 10 mm \(halted by "
                                               "something else"):
            await move
        asked = asyncio.ensure_future(motor.set_position(0 * q.mm))  # this client's stop(): where it stands
        await asyncio.sleep(0.1)
        await motor.stop()
        return (await asked).to("mm").magnitude

    assert 0 < asyncio.run(move_stopped_by_the_stage()) < 4

    async def scan():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            await beamline.rotation.set_velocity(20 * q("deg/s"))
            tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=10, darks=1, flats=1)
            tomo.attach(ImageWriter())

            async def operator():
                while beamline.rotation.state != "moving" or tomo.state != "running":
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.1)
                beamline.rotation.io.stop()

            stopper = asyncio.ensure_future(operator())
            try:
                with pytest.raises(ControlError, match="rotation: stopped at .* before reaching"):
                    await tomo.run()
            finally:
                stopper.cancel()

    asyncio.run(scan())


def test_a_second_experiment_on_a_beamline_in_use_is_refused_before_it_touches_anything(tmp_path):
    """A Tomography and a Radiography gathered on one beamline took each other's frames and stopped
    each other's stages; both failed with misleading errors and files of mixed frames."""
    async def both():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            await beamline.rotation.set_velocity(90 * q("deg/s"))
            tomo = Tomography(beamline, DirectoryWalker(str(tmp_path / "tomo")), projections=20, darks=2, flats=2)
            radio = Radiography(beamline, DirectoryWalker(str(tmp_path / "radio")), frames=10, angle=45 * q.deg,
                                interval=0.01)
            tomo.attach(ImageWriter())
            radio.attach(ImageWriter())
            results = await asyncio.gather(tomo.run(), radio.run(), return_exceptions=True)
            again = await radio.run()  # the beamline is free once the first has ended
            return results, again

    (first, second), again = asyncio.run(both())
    assert first == "scan_0000", first
    assert isinstance(second, ControlError) and "in use by another experiment running now (a Tomography" in str(second)
    assert again == "scan_0000"


def test_a_motor_server_turning_says_so_not_the_last_moves_target():
    """The Tango motor server's status said 'moving to 10 deg' while its stage turned at 90 deg/s,
    and a client's move was refused naming that target (the in-process motor was fixed before)."""
    tango = pytest.importorskip("tango")
    from tango.test_context import DeviceTestContext

    from ufo.tango.motor import UfoMotor

    with DeviceTestContext(UfoMotor, properties={"kind": "rotation"}, process=False) as motor:
        motor.write_attribute("position", 10.0)
        while motor.state() == tango.DevState.MOVING:
            pass
        motor.start_motion(90.0)
        try:
            assert motor.status() == "moving at 90 deg/s"
        finally:
            motor.stop()
        assert motor.status().startswith("standing at ")
