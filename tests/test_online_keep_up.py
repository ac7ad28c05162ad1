"""An online reconstruction slower than a camera at a fixed rate: with `keep_up` it leaves out
projections, never the raw data's frames.

Before (and still without keep_up: a lossless addon), the reconstruction held the acquisition up
until the camera's ring overflowed and the camera dropped frames of the raw data."""

from __future__ import annotations

import asyncio
import math
import warnings

import h5py
import numpy as np
import pytest

from ufo.camera import DroppedFramesWarning, open_camera

PROJECTIONS = 240


def _scan(tmp_path, keep_up):
    from ufo.control import Acquisition, Experiment, ImageWriter, OnlineReconstruction
    from ufo.storage.walker import DirectoryWalker

    # 512 x 128 at 100 frames/s: every row back-projected is 34 M voxel updates a projection,
    # 3.4 G/s, more than a core does (one is left to the acquisition); a ring of 32 frames: 320 ms
    cam = open_camera("mock", pattern="tomography", sensor_width=512, sensor_height=128, frames_per_second=100,
                      buffered=True, num_buffers=32, angle_step=math.pi / PROJECTIONS)

    def frames(count, **state):
        async def produce():
            for name, value in state.items():
                setattr(cam, name, value)
            with cam.recording():
                for _ in range(count):
                    yield await asyncio.to_thread(cam.grab)
        return produce

    experiment = Experiment([Acquisition("darks", frames(4, beam="closed", sample_in=True), 4),
                             Acquisition("flats", frames(4, beam="open", sample_in=False), 4),
                             Acquisition("projections", frames(PROJECTIONS, beam="open", sample_in=True), PROJECTIONS)],
                            DirectoryWalker(str(tmp_path)))
    writer = experiment.attach(ImageWriter())
    reco = experiment.attach(OnlineReconstruction(axis=256.0, device="cpu", threads=1, keep_up=keep_up,
                                                  queue_size=8))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        name = asyncio.run(experiment.run())
    return experiment, writer, reco, name, [w for w in said if issubclass(w.category, DroppedFramesWarning)]


def test_keep_up_leaves_out_projections_not_raw_frames(tmp_path):
    experiment, writer, reco, name, dropped = _scan(tmp_path, keep_up=True)
    assert experiment.frames_dropped == 0 and not dropped, "the camera dropped frames of the raw data"
    assert writer.frames == 4 + 4 + PROJECTIONS
    with h5py.File(tmp_path / name / "scan.nx") as f:
        assert f["/entry/instrument/detector/data"].shape == (4 + 4 + PROJECTIONS, 128, 512)
    stats = reco.stats
    if reco.dropped == 0:
        pytest.skip("this host reconstructs 100 frames/s of 512 x 128 on a core: nothing to leave out")
    assert reco.dropped < PROJECTIONS and stats.projections == PROJECTIONS - reco.dropped
    assert stats.darks == 4 and stats.flats == 4  # the references are never left out
    assert any(f"leaving out {reco.dropped} of" in w for w in stats.warnings)
    slices = reco.slices
    assert slices.shape == (128, 512, 512) and np.isfinite(slices).all()
    # the projections it took, reconstructed from the file by the same engine offline: the same
    # slice (the left-out ones are by their place in the run, which is the file's order)
    from ufo.tomo.streaming import StreamingReconstructor

    assert len(reco.left_out) == reco.dropped
    offline = StreamingReconstructor(axis=256.0, device="cpu", threads=1, rows=[64])
    with h5py.File(tmp_path / name / "scan.nx") as f:
        data = f["/entry/instrument/detector/data"]
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = np.radians(f["/entry/sample/rotation_angle"][()])
        for i in sorted(set(range(len(keys))) - set(reco.left_out)):
            offline.add(data[i], {"image_key": int(keys[i]), "angle": float(angles[i])})
    same = offline.finish()[0]
    assert np.abs(slices[64] - same).max() < 1e-4 * np.abs(same).max()
    assert np.abs(slices[64][:, ::-1] - same).max() > 0.1 * np.abs(same).max()  # the comparison can fail


def test_without_keep_up_the_camera_drops_raw_frames(tmp_path):
    """Why keep_up exists (and why a lossless reconstruction is still the default: every projection)."""
    experiment, writer, reco, _name, dropped = _scan(tmp_path, keep_up=False)
    if experiment.frames_dropped == 0:
        pytest.skip("this host reconstructs 100 frames/s of 512 x 128: the camera never waited")
    assert dropped and reco.dropped == 0 and reco.stats.projections == writer.frames - 8
