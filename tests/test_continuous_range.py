"""A continuous scan's rotation under faults: a camera that stalls no longer lets the stage turn on
past the range (it is stopped once it passes the end by a step), a camera slow to start still gives
the whole range, and a pause or a beam loss while the stage turns holds the scan, which then goes
back and on from where it stopped."""

from __future__ import annotations

import asyncio
import math
import time
import warnings

import h5py
import numpy as np
import pytest

from ufo.control.errors import ControlError

from .test_experiment_faults import _running, stalling_continuous
from .test_suspenders import read_nxtomo


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


def _assert_continuous(angles, step, end, slack=0.0):
    """`slack`: a resumed scan goes on within half a step of where its next projection was due (a
    free-running camera is not triggered at angles: continuous.local_projections), so its last one
    may lie up to that far past the range's end (CI, loaded: 180.70 for 180 with steps of 2)."""
    assert len(angles) >= 2
    gaps = np.diff(angles)
    assert np.all(gaps > 0.5 * step) and np.all(gaps < 1.5 * step), gaps  # one step apart, none lost or repeated
    assert angles.min() >= 0 and angles.max() <= end + slack  # no frame outside the range


def test_a_stalled_camera_stops_the_stage_at_the_end_of_the_range(tmp_path):
    async def main():
        bl, tomo = await stalling_continuous(tmp_path, 1.0)  # the stage turns 600 degrees meanwhile
        run = asyncio.ensure_future(tomo.run())
        await _until(lambda: bl.rotation.state == "moving" and bl.rotation.io.position_at() > 0)  # past the run-up
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


def test_a_continuous_scan_paused_while_it_turns_holds_and_resumes_where_it_stopped(tmp_path):
    """A pause while the stage turns: the stage stops, the shutter closes; on resume the scan goes
    back, turns again and goes on from the next projection: every angle once, a step apart, as an
    unpaused scan's (before: refused, the scan went on)."""
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 90, 2, 2, continuous=True)
        await _until(lambda: writer.frames >= 1)  # the darks: the stage stands, a pause holds
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        held = (bl.shutter.state, bl.rotation.state)
        tomo.resume()
        await _until(lambda: writer.frames >= 4 + 30)  # projections: the stage turns
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        turning = (bl.shutter.state, bl.rotation.state, bl.camera.state)
        at = float((await bl.rotation.get_position()).to("deg").magnitude)
        await asyncio.sleep(0.3)
        still = float((await bl.rotation.get_position()).to("deg").magnitude)
        tomo.resume()
        await run
        return bl, tomo, held, turning, at, still

    bl, tomo, held, turning, at, still = asyncio.run(main())
    assert held == ("closed", "standby")
    assert turning == ("closed", "standby", "standby") and still == at and 25 < at < 179  # held mid-range
    assert tomo.state == "standby" and not tomo.paused
    assert bl.rotation.state == "standby" and not bl.rotation.io.moving and bl.shutter.state == "closed"
    angles = _projection_angles(tmp_path / "scan_0000" / "scan.nx")
    assert len(angles) == 90
    _assert_continuous(angles, 2.0, 180.0)


def test_a_continuous_scan_through_a_camera_server_refuses_a_pause_while_it_turns():
    """With a camera server the frames come from its stream, which cannot be taken back: a pause
    during the projections is refused with the reason (the stage turns on), before and after holds."""
    from ufo.control.tomography import Tomography

    class Remote:  # what the refusal looks at: no camera in this process
        camera = None
        devices: list = []

    tomo = Tomography(type("Beamline", (), {"camera": Remote(), "devices": []})(), continuous=True)
    tomo._turning, tomo._resumable = True, False
    with pytest.raises(ControlError, match="through a camera server cannot be paused while it takes its projections"):
        tomo.pause()
    assert not tomo.paused


def _beam_loss_scan(tmp_path, lose_at: float):
    """A continuous 180-degree scan of 90 projections at 100 frames/s with a ring-current suspender
    (fresh flats on resume); the ring loses its beam once the stage passes `lose_at` degrees and
    comes back once the scan is suspended. Returns (beamline, tomo, what was seen while suspended)."""
    from ufo.control import ImageWriter, SimulatedBeamline, SuspendBelow, Tomography, q
    from ufo.storage.walker import DirectoryWalker

    async def main():
        bl = await SimulatedBeamline(width=64, height=8, continuous=True).connect()
        bl.camera.camera.frames_per_second = 100.0
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=90, darks=2, flats=3, continuous=True)
        tomo.attach(ImageWriter())
        tomo.suspenders.append(SuspendBelow(bl.ring["current"], 100 * q.mA, resume_at=150 * q.mA, delay=0.05,
                                            post=[tomo.flats_action()]))
        run = asyncio.ensure_future(tomo.run())
        stage = bl.rotation.io
        bl.ring.simulate(lambda: (0 if stage.position_at() >= lose_at else 200) * q.mA)
        await _until(lambda: tomo.state == "suspended")
        at = float((await bl.rotation.get_position()).to("deg").magnitude)
        await asyncio.sleep(0.2)
        seen = [bl.shutter.state, bl.rotation.state, at, float((await bl.rotation.get_position()).to("deg").magnitude)]
        bl.ring.simulate(200 * q.mA)
        await run
        return bl, tomo, seen

    return asyncio.run(main())


def test_a_beam_loss_during_a_continuous_scan_suspends_it_and_it_goes_on_from_the_spoiled_frame(tmp_path):
    """Before: suspenders were refused for continuous scans (a turning stage cannot take an angle
    again). Now the stage stops with the shutter closed, and once the beam is back (and fresh flats
    are taken) the scan goes back and turns on from the spoiled frame: every projection in the file
    is what the camera shows at its recorded angle with beam, the angles go on a step apart over
    the range, and taking the spoiled frame in would have spoiled the slice."""
    from .reference import iradon_slice, line_integrals

    bl, tomo, seen = _beam_loss_scan(tmp_path, 70.0)
    assert tomo.state == "standby" and len(tomo.suspensions) == 1 and "ring.current" in tomo.suspensions[0]["reason"]
    shutter, rotation, at, later = seen
    assert (shutter, rotation) == ("closed", "standby") and later == at and 70 <= at < 180  # stopped after the loss

    data, keys, angles = read_nxtomo(tmp_path / "scan_0000" / "scan.nx")
    data = data.astype(np.float64)
    projections, step = data[keys == 0], 2.0
    assert len(projections) == 90 and (keys == 3).sum() >= 1 and (keys == 1).sum() == 2 * 3  # fresh flats on resume
    _assert_continuous(angles[keys == 0], step, 180.0, slack=step / 2)
    # each projection is the camera's picture at its recorded angle with beam (no noise: to the count)
    mock = bl.camera.camera
    h, w = projections.shape[1:]
    shown = np.stack([np.rint(mock.dark_level + mock.flat_level * np.exp(-mock.attenuation * mock.scene.project(
        math.radians(a), (h, w), w / 2 + mock.axis_offset, slice(0, h)))) for a in angles[keys == 0]])
    assert np.abs(projections - shown).max() <= 1
    assert np.abs(projections - np.roll(shown, 1, axis=0)).max() > 100  # a projection a step off would fail
    # the frame taken when the loss was seen (dark, or the one before it where the scan read its frames
    # late: every frame after it was thrown away) is taken again at its angle
    spoiled = angles[keys == 3][0]
    assert spoiled <= at and np.abs(angles[keys == 0] - spoiled).min() <= step / 2 + 1e-6

    def slice_of(chosen):
        pick = np.isin(keys, chosen)
        return iradon_slice(line_integrals(data[pick], data[keys == 2], data[keys == 1])[:, 4, :],
                            np.radians(angles[pick]), 32)

    kept, naive = slice_of((0,)), slice_of((0, 3))  # naive: the spoiled frame(s) taken in as well
    if (data[keys == 3].max(axis=(1, 2)) < 0.5 * data[keys == 1].mean()).any():  # a dark one among them
        assert np.abs(naive - kept).max() > 0.5 * np.abs(kept).max()


def test_a_paused_helical_scan_resumes_on_its_helix(tmp_path):
    """A helical continuous scan paused mid-turn: on resume both stages go back (`move_to_angle`
    lifts too) and turn on together, so every projection's height stays on the helix."""
    from ufo.control import HelicalTomography, ImageWriter, SimulatedBeamline, q
    from ufo.storage.walker import DirectoryWalker

    pitch = 2.0

    async def main():
        bl = await SimulatedBeamline(width=32, height=4, continuous=True).connect()
        await bl.sample_z.set_velocity(500 * q("mm/s"))
        bl.camera.camera.frames_per_second = 100.0
        tomo = HelicalTomography(bl, DirectoryWalker(str(tmp_path)), pitch=pitch * q.mm, projections=60, darks=1,
                                 flats=1, angular_range=360 * q.deg, continuous=True)
        writer = tomo.attach(ImageWriter())
        run = asyncio.ensure_future(tomo.run())
        await _until(lambda: writer.frames >= 2 + 25)
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        held = (bl.rotation.state, bl.sample_z.state)
        tomo.resume()
        await run
        return held

    held = asyncio.run(main())
    assert held == ("standby", "standby")
    with h5py.File(tmp_path / "scan_0000" / "scan.nx", "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = f["/entry/sample/rotation_angle"][()][keys == 0]
        lifted = f["/entry/sample/z_translation"][()][keys == 0] * 1e3
    assert len(angles) == 60
    _assert_continuous(angles, 6.0, 360.0)
    lag = lifted - pitch * angles / 360.0  # the height at each frame's time against the helix
    # the two simulated stages' clocks, on a busy 2-core host: 2.2e-3 mm seen once; a lift that missed the
    # resume is off by the run-up (several 6-degree steps: 0.03 mm and more)
    assert np.ptp(lag) < 5e-3, np.ptp(lag)


def test_a_run_up_past_the_stage_limit_is_shortened(tmp_path):
    """Paused a few projections after the start of a stage whose limit is the start angle: the
    run-up (a quarter second of turning, 50 degrees here) would go past it; it starts at the limit."""
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 90, 0, 0, continuous=True)
        bl.rotation.io.lower = 0.0
        await _until(lambda: writer.frames >= 4)
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        tomo.resume()
        await run
        return tomo

    tomo = asyncio.run(main())
    assert tomo.state == "standby"
    angles = _projection_angles(tmp_path / "scan_0000" / "scan.nx")
    assert len(angles) == 90
    _assert_continuous(angles, 2.0, 180.0)


def test_a_camera_slow_to_start_still_gives_the_whole_range(tmp_path):
    """A camera that takes 50 ms to start recording (10 frame periods at 200 frames/s, 30 degrees of
    turning): started after the stage, its first projection came 30 degrees late and the last one
    past the range's end, and the scan failed; the stage now turns only once the camera records,
    from a run-up before the start."""
    import time as clock

    from ufo.camera.mock import MockCamera
    from ufo.control import ImageWriter, Tomography
    from ufo.storage.walker import DirectoryWalker

    from .test_experiment_faults import beamline_with

    class SlowStart(MockCamera):
        def _start(self):
            clock.sleep(0.05)
            super()._start()

    async def main():
        bl = await beamline_with(SlowStart, 200.0)
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=60, darks=1, flats=1, continuous=True)
        tomo.attach(ImageWriter())
        return await tomo.run()

    asyncio.run(main())
    angles = _projection_angles(tmp_path / "scan_0000" / "scan.nx")
    assert len(angles) == 60 and angles[0] < 3.0  # the first projection within a step of the start
    _assert_continuous(angles, 3.0, 180.0)
