"""Bluesky compatibility: the real RunEngine drives ufo devices (bp.scan, bp.count, bps.mv), and a ufo
experiment's event-model documents point into its NXtomo file."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

bluesky = pytest.importorskip("bluesky")
event_model = pytest.importorskip("event_model")

import bluesky.plan_stubs as bps  # noqa: E402
import bluesky.plans as bp  # noqa: E402
from bluesky import RunEngine  # noqa: E402
from bluesky.protocols import Configurable, Movable, Readable, Stoppable, check_supports  # noqa: E402
from bluesky.utils import FailedStatus  # noqa: E402

from ufo.control import ImageWriter, LinearMotor, Photodiode, Shutter, SimulatedBeamline, Tomography, q  # noqa: E402
from ufo.control.documents import BlueskyDocuments  # noqa: E402
from ufo.control.safety import BusyError  # noqa: E402


def validate(docs):
    """Every document against event-model's own schema."""
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


@pytest.fixture(scope="module")
def RE():
    engine = RunEngine({})
    yield engine
    engine.loop.call_soon_threadsafe(engine.loop.stop)


@pytest.fixture
def record(RE):
    docs = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    yield docs
    RE.unsubscribe(token)


def connected(*devices):
    for device in devices:
        asyncio.run(device.connect())
    return devices


def test_devices_satisfy_bluesky_protocols():
    motor, diode, shutter = LinearMotor("m"), Photodiode("d"), Shutter("s")
    for protocol in (Movable, Readable, Stoppable, Configurable):
        check_supports(motor, protocol)
    check_supports(diode, Readable)
    check_supports(shutter, Movable)
    assert motor.parent is None and motor.name == "m"
    assert not isinstance(diode, Movable)  # a diode cannot be moved


def test_detector_configuration_has_units():
    from ufo.camera import open_camera
    from ufo.control import Detector

    detector = Detector(open_camera("mock", sensor_width=16, sensor_height=8), "cam")
    asyncio.run(detector.connect())
    asyncio.run(detector.set_exposure_time(2 * q.ms))
    check_supports(detector, Configurable)
    config = asyncio.run(detector.read_configuration())
    keys = asyncio.run(detector.describe_configuration())
    assert config["cam-exposure_time"]["value"] == pytest.approx(0.002)
    assert keys["cam-exposure_time"]["units"] == "s" and keys["cam-frame_rate"]["units"] == "1 / s"
    assert keys["cam-exposure_time"]["limits"] == {"control": {"low": 0.0, "high": 3600.0}}
    validate([("descriptor", {"uid": "d", "run_start": "r", "time": 0.0, "name": "primary", "data_keys": keys})])


def test_scan_moves_the_motor_and_the_events_hold_the_simulated_readings(RE, record):
    motor, = connected(LinearMotor("m", velocity=500 * q("mm/s")))
    # the diode's signal depends on the stage: a reading taken before the move ended would differ
    diode, = connected(Photodiode("diode", source=lambda: 0.5 + 0.25 * motor.io.position_at()))
    RE(bp.scan([diode], motor, 0, 10, 11))
    validate(record)
    names = [name for name, _ in record]
    assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 11
    (descriptor,) = [doc for name, doc in record if name == "descriptor"]
    assert descriptor["data_keys"]["m"]["units"] == "mm"
    assert descriptor["data_keys"]["m"]["limits"] == {"control": {"low": -100.0, "high": 100.0}}
    assert descriptor["data_keys"]["diode"]["units"] == "V"
    assert descriptor["configuration"]["m"]["data"] == {"m-velocity": 500.0}
    events = [doc for name, doc in record if name == "event"]
    positions = np.array([event["data"]["m"] for event in events])
    signals = np.array([event["data"]["diode"] for event in events])
    np.testing.assert_allclose(positions, np.linspace(0, 10, 11), atol=1e-9)
    np.testing.assert_allclose(signals, 0.5 + 0.25 * np.linspace(0, 10, 11), atol=1e-9)
    assert record[-1][1]["exit_status"] == "success"
    assert motor.io.position_at() == pytest.approx(10.0, abs=1e-9)


def test_count_reads_the_diode_each_time(RE, record):
    readings = iter([1.5, 2.5, 4.0])
    diode, = connected(Photodiode("diode", source=lambda: next(readings)))
    RE(bp.count([diode], 3))
    validate(record)
    values = [doc["data"]["diode"] for name, doc in record if name == "event"]
    assert values == [1.5, 2.5, 4.0]


def test_mv_moves_motor_and_shutter(RE):
    motor, shutter = connected(LinearMotor("m", velocity=500 * q("mm/s")), Shutter("shutter"))
    RE(bps.mv(motor, 3, shutter, "open"))
    assert motor.io.position_at() == pytest.approx(3.0, abs=1e-9)
    assert asyncio.run(shutter.get_position()) == "open"
    RE(bps.mv(motor, 2.5 * q.mm))  # a quantity works as well as a number in the motor's unit
    assert motor.io.position_at() == pytest.approx(2.5, abs=1e-9)


def test_concurrent_moves_in_a_plan_are_refused(RE):
    motor, = connected(LinearMotor("m", velocity=200 * q("mm/s")))

    def plan():
        yield from bps.abs_set(motor, 10, group="moves")
        yield from bps.abs_set(motor, -10, group="moves")
        yield from bps.wait(group="moves")

    with pytest.raises(FailedStatus) as failure:
        RE(plan())
    assert isinstance(failure.value.__cause__, BusyError)
    assert "m: cannot move to -10 mm while it is busy with 'move to 10 mm'" in str(failure.value.__cause__)
    # the failed plan made the RunEngine stop the motor on its way to the first target, never towards -10
    assert 0.0 < motor.io.position_at() <= 10.0 and not motor.io.moving
    assert motor["position"].target == 10 * q.mm


def test_a_plan_cannot_move_a_motor_locked_elsewhere(RE):
    motor, = connected(LinearMotor("m", velocity=500 * q("mm/s")))
    held, done = threading.Event(), threading.Event()

    async def hold():
        async with motor.lock:
            held.set()
            await asyncio.to_thread(done.wait)

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        held.wait()
        with pytest.raises(FailedStatus) as failure:
            RE(bps.mv(motor, 5))
    finally:
        done.set()
        holder.join()
    assert "m: cannot set position, the device is locked by task" in str(failure.value.__cause__)
    assert motor.io.position_at() == 0.0
    RE(bps.mv(motor, 5))  # released: the plan may move it now
    assert motor.io.position_at() == pytest.approx(5.0, abs=1e-9)


def test_experiment_documents_point_into_the_nxtomo_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    from bluesky.callbacks.core import CallbackBase

    from ufo.storage.walker import DirectoryWalker

    docs = []

    class Follower(CallbackBase):  # a Bluesky callback following the ufo run
        def __init__(self):
            super().__init__()
            self.angles = []

        def event(self, doc):
            self.angles.append(doc["data"]["rotation_angle"])
            return doc

    follower = Follower()

    def callback(name, doc):
        docs.append((name, doc))
        follower(name, doc)

    async def main():
        async with SimulatedBeamline(width=32, height=8) as beamline:
            scan = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=5, darks=2, flats=3)
            scan.attach(ImageWriter("scan.nx"))
            scan.attach(BlueskyDocuments(callback, "scan.nx", metadata={"sample": "glass bead", "proposal": "p-42"}))
            return await scan.run()

    name = asyncio.run(main())
    validate(docs)
    start = docs[0][1]
    assert start["sample"] == "glass bead" and start["proposal"] == "p-42" and start["ufo_run"] == name
    descriptors = {doc["uid"]: doc["name"] for kind, doc in docs if kind == "descriptor"}
    assert sorted(descriptors.values()) == ["darks", "flats", "projections"]
    resources = {doc["uid"]: doc for kind, doc in docs if kind == "stream_resource"}
    events = {(doc["descriptor"], doc["seq_num"]): doc for kind, doc in docs if kind == "event"}
    datums = [doc for kind, doc in docs if kind == "stream_datum"]
    assert len(datums) == len(events) == 10
    assert docs[-1][0] == "stop" and docs[-1][1]["num_events"] == {"darks": 2, "flats": 3, "projections": 5}
    path = next(iter(resources.values()))["uri"].removeprefix("file://localhost")
    assert path == str(tmp_path / name / "scan.nx")
    with h5py.File(path, "r") as f:
        resource = next(iter(resources.values()))
        data = f[resource["parameters"]["dataset"]]
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = f["/entry/sample/rotation_angle"][()]
        assert data.shape == (10, 8, 32)
        for datum in datums:
            event = events[(datum["descriptor"], datum["seq_nums"]["start"])]
            index = datum["indices"]["start"]
            assert keys[index] == event["data"]["image_key"]
            assert angles[index] == pytest.approx(event["data"]["rotation_angle"], abs=1e-9)
            stream = descriptors[datum["descriptor"]]
            assert keys[index] == {"darks": 2, "flats": 1, "projections": 0}[stream]
    projections = [doc["data"]["rotation_angle"] for kind, doc in docs
                   if kind == "event" and descriptors[doc["descriptor"]] == "projections"]
    np.testing.assert_allclose(projections, np.arange(5) * 36.0, atol=1e-9)
    assert follower.angles[-5:] == projections


def test_documents_after_a_suspension_still_point_at_their_rows(tmp_path):
    """A frame a suspender spoiled is a row of the file (image_key 3) but no event: the events after it
    point at the rows that hold them."""
    h5py = pytest.importorskip("h5py")
    from ufo.control.suspenders import SuspendBelow
    from ufo.storage.walker import DirectoryWalker

    docs = []

    async def main():
        beamline = await SimulatedBeamline(width=16, height=2).connect()
        scan = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=12, darks=1, flats=1)
        scan.attach(ImageWriter("scan.nx"))
        scan.attach(BlueskyDocuments(lambda name, doc: docs.append((name, doc)), "scan.nx"))
        scan.suspenders.append(SuspendBelow(beamline.ring["current"], 100 * q.mA, delay=0.05))
        stage = beamline.rotation.io
        beamline.ring.simulate(lambda: (0 if stage.position_at() >= 5.5 * 15 else 200) * q.mA)  # lost at projection 6
        run = asyncio.ensure_future(scan.run())
        while scan.state != "suspended":
            await asyncio.sleep(0.01)
        beamline.ring.simulate(200 * q.mA)
        return await run

    name = asyncio.run(main())
    validate(docs)
    with h5py.File(tmp_path / name / "scan.nx", "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = f["/entry/sample/rotation_angle"][()]
    assert (keys == 3).sum() == 1
    events = {(doc["descriptor"], doc["seq_num"]): doc for kind, doc in docs if kind == "event"}
    datums = [doc for kind, doc in docs if kind == "stream_datum"]
    assert len(datums) == len(events) == len(keys) - 1  # every row but the spoiled one
    for datum in datums:
        event = events[(datum["descriptor"], datum["seq_nums"]["start"])]
        row = datum["indices"]["start"]
        assert keys[row] == event["data"]["image_key"] != 3
        assert angles[row] == pytest.approx(event["data"]["rotation_angle"], abs=1e-9)
    assert docs[-1][1]["num_events"]["projections"] == 12


def test_rel_scan_and_mvr_start_from_where_the_motor_is(RE, record):
    """rel_scan and mvr ask the motor where it is (bluesky's Locatable), then return it there."""
    motor, = connected(LinearMotor("m", position=2 * q.mm, velocity=500 * q("mm/s")))
    diode, = connected(Photodiode("diode", source=lambda: motor.io.position_at()))
    assert asyncio.run(motor.locate()) == {"setpoint": 2.0, "readback": 2.0}
    RE(bp.rel_scan([diode], motor, -1, 1, 3))
    validate(record)
    values = [doc["data"]["diode"] for name, doc in record if name == "event"]
    np.testing.assert_allclose(values, [1.0, 2.0, 3.0], atol=1e-9)
    assert record[-1][1]["exit_status"] == "success"
    assert motor.io.position_at() == pytest.approx(2.0, abs=1e-9)  # back where it started
    RE(bps.mvr(motor, 0.5))
    assert motor.io.position_at() == pytest.approx(2.5, abs=1e-9)


def test_a_camera_counts_in_a_plan_as_a_bluesky_detector(RE, record):
    """bp.count([Detector(camera)]): before, an AttributeError (trigger was a coroutine, not a
    Status). Now each event holds a frame the camera made, in order, with its number; the plan
    starts the recording and stops it again, and a camera that recorded already keeps recording."""
    from bluesky.protocols import Stageable, Triggerable

    from ufo.camera import open_camera
    from ufo.control import Detector

    camera = open_camera("mock", sensor_width=16, sensor_height=8)
    detector, = connected(Detector(camera, "cam"))
    for protocol in (Triggerable, Readable, Stageable):
        check_supports(detector, protocol)
    RE(bp.count([detector], num=3))
    validate(record)
    events = [doc for name, doc in record if name == "event"]
    descriptor = next(doc for name, doc in record if name == "descriptor")
    assert descriptor["data_keys"]["cam"]["shape"] == [8, 16] and descriptor["data_keys"]["cam"]["dtype"] == "array"
    numbers = [doc["data"]["cam-frame_number"] for doc in events]
    assert len(events) == 3 and numbers == sorted(numbers) and len(set(numbers)) == 3
    assert [doc["data"]["cam-dropped"] for doc in events] == [0, 0, 0]  # documented, was missing
    assert set(descriptor["data_keys"]) == {"cam", "cam-frame_number", "cam-dropped"}
    for doc, number in zip(events, numbers):
        image = np.asarray(doc["data"]["cam"])
        assert image.shape == (8, 16) and int(image[0, 0]) == number & 0xFFFF  # the frame of that number
    assert detector.state == "standby" and not camera.is_recording  # unstaged: the recording it started stopped
    record.clear()

    async def record_first():
        await detector.start_recording()

    asyncio.run(record_first())
    RE(bp.count([detector], num=1))
    assert detector.state == "recording" and camera.is_recording  # not started by the plan: left recording
    asyncio.run(detector.stop_recording())
    record.clear()
    fresh = Detector(open_camera("mock", sensor_width=16, sensor_height=8), "fresh")  # as docs/control.md writes
    RE(bp.count([fresh], num=2))  # it: not connected first (stage did nothing, trigger said "not recording")
    assert record[-1][1]["exit_status"] == "success" and len([d for n, d in record if n == "event"]) == 2


@pytest.mark.parametrize("where", ["last frame", "finish"])
def test_the_stop_document_says_fail_when_an_addon_fails_at_the_end(tmp_path, where):
    """An addon failing at the scan's last frame (a disk that filled) or in its finish (a writer's
    close): run() raised and the walker recorded 'error', but the stop document said 'success'."""
    from ufo.control import Addon
    from ufo.storage.walker import walker

    docs = []

    class Failing(Addon):
        seen = 0

        async def consume(self, acquisition, frame):
            self.seen += 1
            if where == "last frame" and self.seen == 30:
                raise OSError(28, "No space left on device")

        async def finish(self, experiment):
            if where == "finish":
                raise OSError(28, "No space left on device")

    async def main():
        async with SimulatedBeamline(width=64, height=8) as beamline:
            scan = Tomography(beamline, walker(str(tmp_path)), projections=20, darks=5, flats=5)
            scan.attach(BlueskyDocuments(lambda name, doc: docs.append((name, doc)), "scan.nx"))
            scan.attach(Failing())
            with pytest.raises(OSError, match="No space left"):
                await scan.run()
            return scan.state

    assert asyncio.run(main()) == "error"
    stop = [doc for name, doc in docs if name == "stop"][0]
    assert stop["exit_status"] == "fail" and stop["reason"] == "error"
