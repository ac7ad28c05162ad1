"""Pause, resume, abort and suspenders: a beam loss mid-scan on the simulated beamline, holds from
another task, a suspender on a Tango attribute, and Ctrl-C in a real interactive session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ufo.control import (
    AbortedError,
    Accumulator,
    Acquisition,
    Addon,
    Experiment,
    ImageWriter,
    OnlineReconstruction,
    SimulatedBeamline,
    SuspendAbove,
    SuspendBelow,
    SuspendOutside,
    SuspendWhenChanged,
    Tomography,
    q,
)
from ufo.core.errors import UsageError
from ufo.core.frame import Image
from ufo.storage.walker import DirectoryWalker

from .reference import iradon_slice, line_integrals

WIDTH, HEIGHT, PROJECTIONS = 32, 4, 60


async def until(condition, what: str, timeout: float = 60.0) -> None:
    """Wait for a state, not a time; the timeout only turns a hang into a failure that says what."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.002)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        pytest.fail(f"never happened: {what}")


def received(experiment: Experiment, acquisition: str) -> int:
    stats = experiment.frame_stats.get(acquisition)
    return 0 if stats is None else stats.received


def read_nxtomo(path):
    import h5py

    with h5py.File(path, "r") as f:
        return (f["/entry/instrument/detector/data"][:], f["/entry/instrument/detector/image_key"][:],
                f["/entry/sample/rotation_angle"][:])


def reconstruct(data, keys, angles, projection_keys=(0,)):
    """scikit-image FBP of row 2 from the file's own darks, flats and projections (float64)."""
    chosen = np.isin(keys, projection_keys)
    sino = line_integrals(data[chosen], data[keys == 2], data[keys == 1])[:, 2, :]
    return iradon_slice(sino, np.radians(angles[chosen]), WIDTH / 2)


def ufo_reco(path, output):
    import h5py

    from ufo import reco

    reco.run(reco.plan(reco.RecoOptions(projections=str(path), axis=WIDTH / 2, output=f"{output}:/data")))
    with h5py.File(output, "r") as f:
        return f["data"][:]


def scan(tmp_path, lose_beam_at: int | None):
    """A stepped scan; with `lose_beam_at`, the ring loses its beam when the stage turns to that
    projection (so that frame is surely beam-less) and comes back once the scan is suspended."""
    async def main():
        beamline = await SimulatedBeamline(width=WIDTH, height=HEIGHT).connect()
        tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=PROJECTIONS, darks=2, flats=3)
        writer = tomo.attach(ImageWriter())
        online = tomo.attach(OnlineReconstruction(axis=WIDTH / 2, angle_span=np.pi))
        tomo.suspenders.append(SuspendBelow(beamline.ring["current"], 100 * q.mA, resume_at=150 * q.mA, delay=0.05,
                                            post=[tomo.flats_action()]))
        run = asyncio.ensure_future(tomo.run())
        seen = []
        if lose_beam_at is not None:
            lost_from = (lose_beam_at - 0.5) * 180 / PROJECTIONS  # degrees, between two projections
            stage = beamline.rotation.io
            beamline.ring.simulate(lambda: (0 if stage.position_at() >= lost_from else 200) * q.mA)
            await until(lambda: tomo.state == "suspended", "the scan suspended")
            seen.append((beamline.shutter.state, beamline.camera.state))
            beamline.ring.simulate(120 * q.mA)  # above the threshold, below resume_at: still held
            await asyncio.sleep(0.1)
            seen.append(tomo.state)
            beamline.ring.simulate(200 * q.mA)
        await run
        return tomo, writer, online, seen

    return asyncio.run(main())


def test_beam_loss_suspends_retakes_and_reconstructs_as_an_uninterrupted_scan(tmp_path):
    reference, _, ref_online, _ = scan(tmp_path / "clean", None)
    tomo, writer, online, seen = scan(tmp_path / "lost", 20)
    assert tomo.state == "standby" and len(tomo.suspensions) == 1 and "ring.current" in tomo.suspensions[0]["reason"]
    assert seen == [("closed", "standby"), "suspended"]  # shutter closed while held; hysteresis held it at 120 mA

    data, keys, angles = read_nxtomo(tmp_path / "lost" / "scan_0000" / "scan.nx")
    ref_data, ref_keys, ref_angles = read_nxtomo(tmp_path / "clean" / "scan_0000" / "scan.nx")
    invalid = keys == 3
    assert invalid.sum() == 1 and writer.invalid_skipped == 0
    assert angles[invalid][0] == pytest.approx(20 * 180 / PROJECTIONS)
    assert np.all(data[invalid] < 0.5 * data[keys == 1].mean())  # the spoiled frame is really beam-less
    # every angle once, in order, with the same pixels as the uninterrupted scan; fresh flats on resume
    assert np.array_equal(angles[keys == 0], ref_angles[ref_keys == 0])
    assert np.array_equal(data[keys == 0], ref_data[ref_keys == 0])
    assert (keys == 1).sum() == 2 * 3 and (ref_keys == 1).sum() == 3
    assert list(np.unique(keys[np.flatnonzero(invalid)[0] + 1:][:3])) == [1]  # flats right after the loss

    lost, clean = reconstruct(data, keys, angles), reconstruct(ref_data, ref_keys, ref_angles)
    assert np.abs(lost - clean).max() < 1e-5 and np.abs(clean).max() > 1e-3
    naive = reconstruct(data, keys, angles, projection_keys=(0, 3))  # what taking the spoiled frames would give
    assert np.abs(naive - clean).max() > 1e-2
    # `ufo reco` of the files (its own darks, flats and angles from the NXtomo) agrees as well
    lost_reco, clean_reco = (ufo_reco(tmp_path / name / "scan_0000" / "scan.nx", tmp_path / f"{name}.h5")
                             for name in ("lost", "clean"))
    assert np.abs(lost_reco - clean_reco).max() < 1e-5 and np.abs(clean_reco).max() > 1e-3
    # the online reconstruction saw each angle once as well
    assert online.stats.projections == PROJECTIONS
    assert np.abs(online.slices - ref_online.slices).max() < 1e-5 and np.abs(ref_online.slices).max() > 1e-3
    assert reference.suspensions == []


async def paused_run(tomo: Tomography) -> asyncio.Future:
    """Start a run and pause it from this task once it has taken some projections."""
    run = asyncio.ensure_future(tomo.run())
    await until(lambda: received(tomo, "projections") >= 5, "projections taken")
    tomo.pause()
    await until(lambda: tomo.state == "paused", "the scan paused")
    return run


def test_pause_resume_and_abort_from_another_task_or_thread(tmp_path):
    import json

    async def main():
        beamline = await SimulatedBeamline(width=16, height=2).connect()
        tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=40, darks=1, flats=1)
        frames = tomo.attach(Accumulator())
        run = await paused_run(tomo)
        held = received(tomo, "projections")
        await asyncio.sleep(0.2)  # nothing is taken while paused, however long it lasts
        assert received(tomo, "projections") == held and tomo.paused
        await asyncio.to_thread(tomo.resume)  # from another thread too (a GUI's)
        await run
        done = (tomo.state, len(frames.frames["projections"]))

        run = await paused_run(tomo)
        tomo.abort("stopped by the test")  # abort a paused scan
        with pytest.raises(AbortedError, match="scan_0001: stopped by the test"):
            await run
        return done, tomo, beamline

    (state, projections), tomo, beamline = asyncio.run(main())
    assert state == "standby" and projections == 40
    assert tomo.state == "aborted" and beamline.shutter.state == "closed" and beamline.camera.state == "standby"
    finish = json.loads((tmp_path / "scan_0001" / "metadata.json").read_text())["finish"]
    assert finish["experiment_state"] == "aborted"


class Record(Addon):
    """Every frame this addon is given, invalid ones included."""

    takes_invalid = True

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    async def consume(self, acquisition, frame):
        self.seen.append((frame.meta["image_key"], frame.meta["index"]))


def numbered(count: int):
    """A producer that retakes a frame when its `yield` answers True."""
    async def produce():
        index = 0
        while index < count:
            retake = yield Image(np.full((2, 2), index, np.float32), {"image_key": 0, "index": index})
            index += 0 if retake else 1
            await asyncio.sleep(0.005)

    return produce


def test_a_suspender_on_a_tango_attribute_holds_and_retakes():
    tango = pytest.importorskip("tango")
    from tango.test_context import DeviceTestContext

    from ufo.control import Attribute
    from ufo.control.motors import LinearMotor
    from ufo.tango.client import TangoBackend
    from ufo.tango.motor import UfoMotor

    del tango
    COUNT = 150  # frames of 5 ms: the run outlasts the table's move (0.1 s)
    with DeviceTestContext(UfoMotor, properties={"kind": "linear"}, process=False) as proxy:
        address = proxy.dev_name()

        async def main():
            motor = await LinearMotor("table", backend=TangoBackend(address)).connect()
            await motor.set_velocity(200 * q("mm/s"))
            experiment = Experiment([Acquisition("frames", numbered(COUNT), COUNT)])
            record = experiment.attach(Record())
            kept = experiment.attach(Accumulator())
            experiment.suspenders.append(SuspendOutside(Attribute(TangoBackend(address), "position", "mm"),
                                                        -5 * q.mm, 5 * q.mm, poll=0.01))
            run = asyncio.ensure_future(experiment.run())
            await until(lambda: len(record.seen) >= 8, "frames taken")
            move = asyncio.ensure_future(motor.set_position(20 * q.mm))  # the table leaves its range mid-run
            await until(lambda: experiment.state == "suspended", "suspended by the Tango attribute")
            await move
            await motor.set_position(0 * q.mm)
            await run
            return experiment, record, kept

        experiment, record, kept = asyncio.run(main())
    assert experiment.state == "standby" and "outside" in experiment.suspensions[0]["reason"]
    assert [int(frame[0, 0]) for frame in kept.frames["frames"]] == list(range(COUNT))  # each once, in order
    invalid = [index for key, index in record.seen if key == 3]
    assert invalid and [index for key, index in record.seen if key == 0] == list(range(COUNT))


def test_suspenders_decide_with_units_hysteresis_and_expected_values():
    below = SuspendBelow(lambda: 0, 100 * q.mA, resume_at=150 * q.mA, name="ring")
    assert below.bad(99 * q.mA) and below.bad(120 * q.mA) and below.bad(0.149 * q.A) and not below.bad(0.15 * q.A)
    above = SuspendAbove(lambda: 0, 1e-5 * q.mbar, name="vacuum")
    assert above.bad(2e-3 * q.Pa) and not above.bad(5e-6 * q.mbar)
    outside = SuspendOutside(lambda: 0, -1 * q.mm, 1 * q.mm, name="x")
    assert outside.bad(1.5 * q.mm) and outside.bad(-0.2 * q.cm) and not outside.bad(500 * q.um)
    with pytest.raises(UsageError, match="both carry units"):
        below.bad(120)
    with pytest.raises(UsageError, match="cannot be compared"):
        below.bad(3 * q.s)
    with pytest.raises(UsageError, match="needs a readable value"):
        SuspendBelow(42, 1)

    class Signal:  # the shape of an ophyd-async signal, which Bluesky's suspenders cannot read
        async def get_value(self):
            return 42.0

    assert "below 50.0" in asyncio.run(SuspendBelow(Signal(), 50.0, name="Signal").check())
    assert asyncio.run(SuspendBelow(Signal(), 40.0).check()) is None

    async def continuous():  # taken since continuous scans go back and on after a hold (tests/test_continuous_range.py)
        beamline = await SimulatedBeamline(width=16, height=2, continuous=True).connect()
        tomo = Tomography(beamline, projections=4, darks=1, flats=1, continuous=True)
        tomo.suspenders.append(SuspendBelow(beamline.ring["current"], 100 * q.mA))
        kept = tomo.attach(Accumulator())
        await tomo.run()
        return tomo, kept

    tomo, kept = asyncio.run(continuous())
    assert tomo.state == "standby" and len(kept.frames["projections"]) == 4 and tomo.suspensions == []

    interlock = {"value": "ok"}
    changed = SuspendWhenChanged(lambda: interlock["value"], name="interlock", auto_resume=False)

    async def main():
        experiment = Experiment([Acquisition("frames", numbered(40), 40)])
        kept = experiment.attach(Accumulator())
        experiment.suspenders.append(changed)
        run = asyncio.ensure_future(experiment.run())
        await until(lambda: len(kept.frames.get("frames", [])) >= 4, "frames taken")
        interlock["value"] = "tripped"
        await until(lambda: experiment.state == "suspended", "suspended by the interlock")
        interlock["value"] = "ok"
        await until(lambda: experiment.state == "paused", "paused for a person to look: auto_resume=False")
        experiment.resume()
        await run
        return experiment, kept

    experiment, kept = asyncio.run(main())
    assert changed.expected == "ok" and "'tripped'" in experiment.suspensions[0]["reason"]
    assert [int(frame[0, 0]) for frame in kept.frames["frames"]] == list(range(40))


def test_ctrl_c_in_an_interactive_session_asks_then_resumes_or_aborts(tmp_path):
    """A real IPython session in a child process, a real SIGINT: 'r' finishes the scan whole,
    'a' aborts the next one with its devices stopped and its file readable."""
    pytest.importorskip("IPython")
    env = dict(os.environ, UFO_SESSIONS=str(tmp_path))
    scans = [f"{name} = Tomography(beamline, walker({str(tmp_path / name)!r}), projections={count}, darks=1, flats=1)"
             f"; {name}.attach(ImageWriter())" for name, count in (("scan", 150), ("long", 100000))]
    (tmp_path / "beam.py").write_text("\n".join([
        "from ufo.control import SimulatedBeamline, Tomography, ImageWriter",
        "from ufo.storage.walker import walker",
        "beamline = await SimulatedBeamline(width=16, height=2).connect()", *scans, ""]))
    proc = subprocess.Popen([sys.executable, "-m", "ufo", "session", "start", "beam"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(lambda: proc.stdout.read(1), "")), daemon=True)
    reader.start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 120  # a hang fails with the output so far, not a timing assert
        while "".join(output).count(text) < count:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"no {text!r} in the session's output:\n{''.join(output)}")
            time.sleep(0.01)

    def interrupt_when_writing(path) -> None:
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # some projections into the scan
        proc.send_signal(signal.SIGINT)

    try:
        proc.stdin.write("name = await scan.run(); print(f'DONE1={name}={scan.state}', flush=True)\n")
        proc.stdin.flush()
        interrupt_when_writing(tmp_path / "scan" / "scan_0000" / "scan.nx")
        wait_for("[r]esume or [a]bort?")
        proc.stdin.write("r\n")
        proc.stdin.flush()
        wait_for("DONE1=scan_0000=standby")
        proc.stdin.write("await long.run()\n")
        proc.stdin.flush()
        interrupt_when_writing(tmp_path / "long" / "scan_0000" / "scan.nx")
        wait_for("[r]esume or [a]bort?", 2)
        proc.stdin.write("a\nprint(f'DONE2={long.state}={beamline.shutter.state}', flush=True)\nexit()\n")
        proc.stdin.flush()
        wait_for("DONE2")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(output)
    assert "error: scan_0000: aborted after Ctrl-C" in text and "Traceback" not in text and "DONE2=aborted=closed" in text
    data, keys, angles = read_nxtomo(tmp_path / "scan" / "scan_0000" / "scan.nx")
    assert list(keys).count(0) == 150 and 3 not in keys  # a pause spoils nothing: every angle once
    assert np.allclose(np.diff(angles[keys == 0]), 180 / 150)
    assert len(read_nxtomo(tmp_path / "long" / "scan_0000" / "scan.nx")[1]) >= 2  # closed, readable
