"""Scan kinds on the simulated beamline and through Tango servers: helical scans, a start angle,
360-degree offset-axis scans, radiography series, sample sequences and continuous scans with
remote devices. Real files (NXtomo through the ImageWriter addon), real `ufo reco`, real
Tango device servers in a test context."""

from __future__ import annotations

import asyncio
import json
import time
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import ufo
from ufo.cli.main import cli
from ufo.control import (
    Accumulator,
    HelicalTomography,
    ImageWriter,
    OffsetAxisTomography,
    Radiography,
    SampleSequence,
    SimulatedBeamline,
    Tomography,
    q,
)
from ufo.core.errors import UsageError
from ufo.storage.readers import open_source
from ufo.storage.walker import DirectoryWalker
from ufo.tomo.phantom import Phantom, PhantomScene

from .reference import assert_matches, iradon_slice, line_integrals

WIDTH, HEIGHT, ROW = 32, 4, 2  # the row reconstructed: z = ROW - HEIGHT / 2 = 0
MU = 0.01  # the mock camera's attenuation per phantom unit and pixel


def read(path):
    with h5py.File(path, "r") as f:
        sample = f["/entry/sample"]
        return {"data": f["/entry/instrument/detector/data"][()], "keys": f["/entry/instrument/detector/image_key"][()],
                "angles": f["/entry/sample/rotation_angle"][()],
                **{name: sample[name][()] for name in ("x_translation", "z_translation") if name in sample},
                "name": sample["name"][()].decode(),
                "detector": {k: v[()] for k, v in f["/entry/instrument/detector"].items() if v.ndim == 0}}


async def fast(beamline):
    """The beamline connected, its stages quick (the tests wait for no slow move)."""
    await beamline.connect()
    await beamline.rotation.set_velocity(7200 * q("deg/s"))
    for stage in (beamline.sample_x, beamline.sample_z):
        await stage.set_velocity(500 * q("mm/s"))
    return beamline


def run(experiment_factory, tmp_path, width=WIDTH, **beamline):
    async def main():
        bl = await fast(SimulatedBeamline(width=width, height=HEIGHT, **beamline))
        experiment = experiment_factory(bl, DirectoryWalker(str(tmp_path)))
        experiment.attach(ImageWriter())
        return await experiment.run()

    name = asyncio.run(main())
    return read(tmp_path / name / "scan.nx")


def test_helical_stepped_scan_records_the_height_of_every_frame(tmp_path):
    pitch = 1.5  # mm per turn, over two turns
    scan = run(lambda bl, w: HelicalTomography(bl, w, pitch=pitch * q.mm, projections=16, darks=2, flats=2,
                                               angular_range=720 * q.deg), tmp_path)
    keys, angles, z_mm = scan["keys"], scan["angles"], scan["z_translation"] * 1e3
    assert list(keys) == [2, 2, 1, 1] + [0] * 16
    assert np.allclose(angles[keys == 0], np.arange(16) * 45.0, atol=1e-9)
    assert np.allclose(z_mm[keys == 0], pitch * angles[keys == 0] / 360.0, rtol=0, atol=1e-6)
    assert np.all(z_mm[keys != 0] == 0.0)  # darks and flats at the starting height
    assert z_mm[-1] == pytest.approx(pitch * 675 / 360, abs=1e-6) and z_mm[-1] != pytest.approx(675 / 360, abs=1e-3)


def test_helical_continuous_scan_lifts_with_the_rotation(tmp_path):
    pitch = 2.0
    scan = run(lambda bl, w: HelicalTomography(bl, w, pitch=pitch * q.mm, projections=30, darks=1, flats=1,
                                               angular_range=360 * q.deg, continuous=True), tmp_path, continuous=True)
    keys, angles, z_mm = scan["keys"], scan["angles"], scan["z_translation"] * 1e3
    turned, lifted = angles[keys == 0], z_mm[keys == 0]
    assert np.all(np.diff(turned) > 0) and np.all(np.diff(lifted) > 0)
    # the stage's true height at each frame's time: pitch per turn along the whole scan (the constant
    # between the two is the moment the vertical stage started after the rotation)
    lag = lifted - pitch * turned / 360.0
    assert np.ptp(lag) < 1e-3, np.ptp(lag)
    assert np.ptp(lifted) == pytest.approx(pitch * np.ptp(turned) / 360.0, abs=1e-3)


def test_helical_heights_stay_true_when_the_wall_clock_is_stepped(tmp_path, monkeypatch):
    """A host whose wall clock is set 0.5 ms forward every 20 ms (a CI VM's guest agent did it every
    ~100 ms): the frames' stamps and the stage's answers still agree, as both go through the
    process's clock map."""
    from ufo.core import clock

    start = time.monotonic()
    stepped = lambda: time.time() + 5e-4 * int((time.monotonic() - start) / 0.02)  # noqa: E731
    monkeypatch.setattr(clock, "_MAP", clock.ClockMap(wall=stepped, refresh=0.01))
    pitch = 2.0
    scan = run(lambda bl, w: HelicalTomography(bl, w, pitch=pitch * q.mm, projections=30, darks=1, flats=1,
                                               angular_range=360 * q.deg, continuous=True), tmp_path, continuous=True)
    keys, angles, z_mm = scan["keys"], scan["angles"], scan["z_translation"] * 1e3
    lag = z_mm[keys == 0] - pitch * angles[keys == 0] / 360.0
    assert np.ptp(lag) < 1e-4, np.ptp(lag)  # a 0.5 ms disagreement is 0.0033 mm here
    assert stepped() - time.time() > 0.01  # the wall clock was stepped more than twenty times


def sinogram(scan):
    """Row ROW's line integrals (from the file's own darks and flats) and the projections' angles (rad)."""
    projections = scan["keys"] == 0
    sino = line_integrals(scan["data"][projections], scan["data"][scan["keys"] == 2],
                          scan["data"][scan["keys"] == 1])[:, ROW]
    return sino, np.radians(scan["angles"][projections])


def test_start_angle_is_recorded_and_reconstructs_the_phantom(tmp_path):
    width = 48  # the phantom's detail tells a scaled slice from the right one at this size
    scan = run(lambda bl, w: Tomography(bl, w, projections=60, darks=2, flats=2, start_angle=40 * q.deg), tmp_path,
               width=width)
    sino, angles = sinogram(scan)
    assert np.allclose(np.degrees(angles), 40 + 3.0 * np.arange(60), atol=1e-9)
    from ufo import reco

    out = tmp_path / "slices.h5"
    reco.run(reco.plan(reco.RecoOptions(projections=str(tmp_path / "scan_0000" / "scan.nx"), axis=width / 2,
                                        output=f"{out}:/data")))
    with h5py.File(out, "r") as f:
        image = f["data"][ROW]
    truth = MU * Phantom(width, height=HEIGHT).slice(z=0)
    assert_matches(image, truth, sino, angles, width / 2)
    # the same frames taken for a scan from 0 degrees give a rotated slice: the start angle matters
    with pytest.raises(AssertionError, match="the slice is wrong"):
        assert_matches(iradon_slice(sino, angles - np.radians(40), width / 2), truth, sino, angles, width / 2)


class LateralScene:
    """The phantom seen with the rotation axis moved sideways by the lateral stage (pixels = mm / pixel)."""

    def __init__(self, stage, pixel_mm: float):
        self.inner, self.stage, self.pixel_mm = PhantomScene(), stage, pixel_mm

    def project(self, angle, shape, axis=None, rows=None):
        centre = shape[1] / 2 if axis is None else axis
        return self.inner.project(angle, shape, centre + self.stage.position_at() / self.pixel_mm, rows)


def test_offset_axis_360_scan_says_half_and_ufo_reco_reconstructs_it(tmp_path):
    width, pixel_mm, offset_px = 48, 0.01, 12.5  # the axis at 36.5 px: a stitched slice of 74 x 74

    def scan(bl, walker):
        bl.camera.camera.scene = LateralScene(bl.sample_x.io, pixel_mm)  # the stage carries the axis
        return OffsetAxisTomography(bl, walker, offset=offset_px * pixel_mm * q.mm, pixel_size=pixel_mm * q.mm,
                                    projections=240, darks=2, flats=2)

    data = run(scan, tmp_path, width=width)
    assert data["detector"]["field_of_view"].decode() == "Half" and data["detector"]["half_acquisition"]
    assert data["detector"]["x_rotation_axis_pixel_position"] == pytest.approx(offset_px)
    assert np.allclose(data["x_translation"], offset_px * pixel_mm * 1e-3, rtol=0, atol=1e-12)  # every frame
    assert np.ptp(data["angles"][data["keys"] == 0]) == pytest.approx(360 - 360 / 240)
    axis = width / 2 + data["detector"]["x_rotation_axis_pixel_position"]  # from the file
    out = tmp_path / "half.tif"
    done = CliRunner().invoke(cli, ["reco", "--projections", str(tmp_path / "scan_0000" / "scan.nx"),
                                    "--half-acquisition", "--axis", str(axis), "--region", f"{ROW}:{ROW + 1}",
                                    "--output", str(out)])
    assert done.exit_code == 0, done.output
    image = np.asarray(ufo.Reader(path=str(out))().collect()[0], np.float64)
    size = image.shape[0]
    assert size == 74  # twice the axis' distance from the far edge
    # the reference: scikit-image's FBP of the whole object seen over a half turn by a detector as wide as
    # the slice (exact line integrals, as many angles per half turn as the stitched scan has)
    phantom = Phantom(width, height=HEIGHT)
    half_turn = np.arange(120) * np.pi / 120
    whole = MU * np.stack([phantom.projection(a, width / 2)[ROW] for a in half_turn])
    margin = (size - width) // 2
    whole = np.pad(whole, ((0, 0), (margin, size - width - margin)))
    truth = MU * phantom.slice(z=0, size=size)
    assert_matches(image, truth, whole, half_turn, margin + width / 2)


def test_offset_axis_scan_needs_a_full_turn_and_a_pixel_size():
    bl = SimulatedBeamline(width=WIDTH, height=HEIGHT)
    with pytest.raises(UsageError, match="full turn"):
        OffsetAxisTomography(bl, offset=1 * q.mm, pixel_size=1 * q.um, angular_range=180 * q.deg)
    with pytest.raises(UsageError, match="effective pixel size"):
        OffsetAxisTomography(bl, offset=1 * q.mm).axis_pixels()


def test_radiography_series_holds_n_frames_at_one_angle(tmp_path):
    scan = run(lambda bl, w: Radiography(bl, w, frames=5, angle=30 * q.deg, interval=0.01 * q.s, darks=2, flats=2),
               tmp_path)
    keys = scan["keys"]
    assert list(keys) == [2, 2, 1, 1, 0, 0, 0, 0, 0]
    assert np.allclose(scan["angles"][keys == 0], 30.0)
    assert open_source(str(tmp_path / "scan_0000" / "scan.nx"), image_key=0).count == 5
    frames = np.asarray(ufo.Reader(path=str(tmp_path / "scan_0000" / "scan.nx"), image_key=0)().collect(), np.float64)
    assert frames.shape == (5, HEIGHT, WIDTH)
    seen = line_integrals(frames, scan["data"][keys == 2], scan["data"][keys == 1])
    expected = MU * PhantomScene().project(np.radians(30), (HEIGHT, WIDTH), WIDTH / 2)
    assert np.abs(seen - expected).max() < 2e-3  # the projection at 30 degrees, in every frame
    assert np.abs(MU * PhantomScene().project(np.radians(40), (HEIGHT, WIDTH), WIDTH / 2) - expected).max() > 2e-2


def test_sample_sequence_writes_one_scan_per_sample_with_its_name(tmp_path):
    async def main():
        bl = await fast(SimulatedBeamline(width=WIDTH, height=HEIGHT))
        series = Radiography(bl, DirectoryWalker(str(tmp_path)), frames=2, darks=1, flats=1)
        series.attach(ImageWriter())
        scans = await SampleSequence(series, bl.sample_x, [("bone", 5 * q.mm), ("tooth", -7 * q.mm)]).run()
        return scans, (await bl.sample_x.get_position()).magnitude

    scans, back = asyncio.run(main())
    assert scans == {"bone": "scan_0000", "tooth": "scan_0001"} and back == pytest.approx(0.0)
    for sample, position in (("bone", 5.0), ("tooth", -7.0)):
        folder = tmp_path / scans[sample]
        assert read(folder / "scan.nx")["name"] == sample
        record = json.load(open(folder / "metadata.json"))
        assert record["sample"]["name"] == sample and record["sample"]["position"]["value"] == position
        assert record["start"]["sample-x"]["position"]["value"] == pytest.approx(position)  # the stage was there


def test_continuous_scan_through_tango_servers_records_true_monotonic_angles(tmp_path):
    tango = pytest.importorskip("tango")
    from tango.test_context import MultiDeviceTestContext

    from ufo.control import ContinuousRotationMotor, LinearMotor, Shutter
    from ufo.control.remote import RemoteBeamline
    from ufo.tango.camera import UfoCamera
    from ufo.tango.client import TangoBackend, tango_detector
    from ufo.tango.motor import UfoMotor

    settings = json.dumps({"sensor_width": WIDTH, "sensor_height": HEIGHT, "pattern": "tomography",
                           "frames_per_second": 200.0})
    devices = [{"class": UfoCamera, "devices": [{"name": "test/scan/camera", "properties": {"settings": settings}}]},
               {"class": UfoMotor, "devices": [{"name": "test/scan/rotation", "properties": {"kind": "rotation"}}]}]
    assert tango is not None
    with MultiDeviceTestContext(devices, process=False) as ctx:
        async def main():
            rotation = ContinuousRotationMotor("rotation", backend=TangoBackend(ctx.get_device_access("test/scan/rotation")))
            beamline = RemoteBeamline(tango_detector(ctx.get_device_access("test/scan/camera"), "camera"), rotation,
                                      LinearMotor("flat", velocity=1000 * q("mm/s")), Shutter(), local_frames=True)
            async with beamline:
                tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=40, darks=2, flats=2,
                                  flats_after=True, continuous=True, start_angle=20 * q.deg)
                kept = tomo.attach(Accumulator())
                tomo.attach(ImageWriter())
                await tomo.run()
                await beamline.camera.close_stream()  # the darks' and flats' stream: the server can end cleanly
                return kept.frames["projections"], (await rotation.get_position()).magnitude

        frames, stopped = asyncio.run(main())

    scan = read(tmp_path / "scan_0000" / "scan.nx")
    keys, data = scan["keys"], scan["data"]
    assert list(keys) == [2] * 2 + [1] * 2 + [0] * 40 + [1] * 2
    # darks and flats (software triggers) are what they say, also the flats after the free-running
    # projections (no projection left over in the client's stream comes out as a flat)
    assert np.ptp(data[keys != 0], axis=(1, 2)).max() == 0 and np.all(data[-2:] == data[2]) and data[2, 0, 0] > data[0, 0, 0]
    assert np.all(np.ptp(data[keys == 0], axis=(1, 2)) > 0)
    angles = scan["angles"][keys == 0]
    assert np.all(np.diff(angles) > 0) and angles[0] >= 20.0 and stopped > angles[-1]
    # true: where the stage was at each frame's timestamp, turning at one step (4.5 deg) per 1/200 s
    # (the stamps back on this host's monotonic clock, as the motor server reads them: a step of the
    # wall clock during the scan moves the stamps, not the times the frames were exposed)
    from ufo.core.clock import monotonic_at

    exposed = np.array([monotonic_at(frame.meta["timestamp"]) for frame in frames])
    periods = np.diff(exposed) * 200  # the camera's clock: whole frame periods apart (one, unless dropped)
    assert np.allclose(periods, np.round(periods), atol=2e-3) and periods.min() > 0.5
    assert np.allclose(angles - angles[0], 4.5 * 200 * (exposed - exposed[0]), atol=0.05)
