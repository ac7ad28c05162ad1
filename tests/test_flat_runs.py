"""Flats taken in several runs of one scan (before, during and after: long ESRF/BLISS scans)
are interpolated for each projection between the runs around it by its place in the file, as
nabu does; one median of all of them, or only the first and the last run, corrects the
projections in the middle with the wrong beam.

The scan's beam drifts piecewise linearly between the runs (35 % brighter at the middle run,
50 % at the end; the first and last runs alone would be 8 % off in the middle): the corrected projections must give the transmission the
frames were made with, and the slices scikit-image's `iradon` of the line integrals.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import ufo
from ufo import reco
from ufo.tomo.flat_runs import FlatRuns, split_runs

skimage_transform = pytest.importorskip("skimage.transform")
W, ROWS, N = 64, 2, 80
DARK = 100.0


def test_the_flat_at_a_place_is_the_linear_interpolation_of_the_runs_around_it():
    runs = FlatRuns([50.5, 2.5, 100.0], [np.full(3, 2.0), np.full(3, 1.0), np.full(3, 4.0)])  # any order
    assert runs.centres == [2.5, 50.5, 100.0]
    for place, want in ((0, 1.0), (2.5, 1.0), (26.5, 1.5), (50.5, 2.0), (75.25, 3.0), (100, 4.0), (1e6, 4.0)):
        np.testing.assert_allclose(runs.at(place), want, rtol=1e-6)
    assert split_runs([2, 3, 40, 41, 42, 90]) == [[0, 1], [2, 3, 4], [5]]


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """An NXtomo: 2 darks, 2 flats, half the projections, 3 flats, the rest, 2 flats; the beam
    (flat - dark) drifting linearly in time between the runs' centres. Returns (path, line
    integrals angles x rows x width, reference slices rows x W x W)."""
    from skimage.data import shepp_logan_phantom

    phantom = skimage_transform.resize(shepp_logan_phantom(), (W, W), anti_aliasing=True)
    yy, xx = np.mgrid[:W, :W]
    phantom[(yy - 0.3 * W) ** 2 + (xx - 0.7 * W) ** 2 < (0.06 * W) ** 2] += 0.8  # off centre: mirrors show
    phantom *= (xx - W / 2) ** 2 + (yy - W / 2) ** 2 < (W / 2 - 3) ** 2
    degrees = np.arange(N) * 180.0 / N
    sino = skimage_transform.radon(phantom, theta=degrees, circle=True).T * 0.02
    line = np.stack([sino * (1 + 0.25 * r) for r in range(ROWS)], axis=1)
    keys = [2, 2] + [1] * 2 + [0] * (N // 2) + [1] * 3 + [0] * (N - N // 2) + [1] * 2
    places = np.arange(len(keys))
    flat_places = places[np.asarray(keys) == 1]
    centres = [flat_places[:2].mean(), flat_places[2:5].mean(), flat_places[5:].mean()]
    levels = [1.0, 1.35, 1.5]
    slopes = [(levels[1] - levels[0]) / (centres[1] - centres[0]), (levels[2] - levels[1]) / (centres[2] - centres[1])]
    ends = [levels[0] - 10 * slopes[0], levels[2] + 10 * slopes[1]]  # linear on past the outer runs too
    beam = np.interp(places, [centres[0] - 10, *centres, centres[2] + 10], [ends[0], *levels, ends[1]])  # the brightness at each frame's time (monotonic in a run:
    # the median of a run is then its centre's)
    profile = 900.0 * (1 + 0.3 * np.linspace(0, 1, W))[None, :].repeat(ROWS, 0)
    frames, p = [], 0
    for place, key in enumerate(keys):
        if key == 2:
            frames.append(np.full((ROWS, W), DARK))
        elif key == 1:
            frames.append(DARK + beam[place] * profile)
        else:
            frames.append(DARK + beam[place] * profile * np.exp(-line[p]))
            p += 1
    path = tmp_path_factory.mktemp("runs") / "drift.nx"
    angles = np.zeros(len(keys))
    angles[np.asarray(keys) == 0] = degrees
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = entry.create_group("instrument/detector")
        detector["data"] = np.round(np.asarray(frames)).astype(np.uint16)
        detector["image_key"] = np.asarray(keys, np.int32)
        entry["sample/rotation_angle"] = angles
        entry["sample/rotation_angle"].attrs["units"] = "degree"
    ref = np.stack([skimage_transform.iradon(line[:, r].T, theta=degrees, filter_name="ramp", circle=True,
                                             output_size=W) for r in range(ROWS)])
    return path, line, ref


def corrected(path, **props) -> np.ndarray:
    return ufo.FlatFieldCorrect(**props)(ufo.Read(path=str(path), image_key=0)(), ufo.Read(path=str(path), image_key=2)(),
                                         ufo.Read(path=str(path), image_key=1)()).collect()


def test_projections_are_corrected_with_the_beam_of_their_time(drifting):
    path, line, _ = drifting
    transmission = np.exp(-line)
    got = corrected(path)
    assert got.shape == transmission.shape
    assert np.abs(got - transmission).max() < 2e-3  # uint16 rounding of frames of ~1000 counts
    # the same flats as one median (flat-reduction=first, or runs ignored) are 20-30 % off: the test can fail
    assert np.abs(corrected(path, flat_reduction="first") - transmission).max() > 0.1


def test_ufo_reco_interpolates_the_runs_and_says_so(tmp_path, drifting):
    path, _, ref = drifting
    out = tmp_path / "slices.h5"
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=f"{out}:/data", axis=W / 2, gpus="cpu"))
    assert "3 runs in the file" in plan.describe() and plan.options.flats2 is None
    assert "3 runs are interpolated" in reco.planning.resident_reason(plan, 1)  # the GPU's one-median engine: no
    reco.run(plan)
    with h5py.File(out, "r") as f:
        slices = f["/data"][()]
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 5
    for got, want in zip(slices, ref):
        error = np.sqrt(np.mean((got - want)[inside] ** 2)) / np.sqrt(np.mean(want[inside] ** 2))
        assert error < 0.02, error
        mirrored = np.sqrt(np.mean((got[:, ::-1] - want)[inside] ** 2)) / np.sqrt(np.mean(want[inside] ** 2))
        assert mirrored > 0.2


def test_the_online_engine_interpolates_flat_runs_during_the_scan_as_ufo_reco_of_the_file(drifting, tmp_path):
    """Online, flats in runs during and after the scan are interpolated between the runs around
    each projection by its place in the stream, as `ufo reco` of the file does by `file_index`
    (they were merged into one median of every later flat, the middle projections 10-17 % off)."""
    from ufo.storage import open_source
    from ufo.tomo.streaming import StreamingReconstructor

    path, _, ref = drifting
    out = tmp_path / "slices.h5"
    reco.run(reco.plan(reco.RecoOptions(projections=str(path), output=f"{out}:/data", axis=W / 2, gpus="cpu")))
    with h5py.File(out, "r") as f:
        want = f["/data"][()]
    source = open_source(str(path))
    engine = StreamingReconstructor(axis=W / 2, device="cpu", interpolate_flats=True)
    for i in range(source.count):
        engine.add(source.read(i, slice(None), None), source.meta(i))
    source.close()
    got = engine.finish()
    assert not any("median" in w for w in engine.stats.warnings), engine.stats.warnings
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 5
    for slice_, truth in zip(got, ref):
        error = np.sqrt(np.mean((slice_ - truth)[inside] ** 2)) / np.sqrt(np.mean(truth[inside] ** 2))
        assert error < 0.02, error


@pytest.mark.gpu
def test_the_online_engine_on_the_gpu_interpolates_flat_runs_as_on_the_cpu(drifting):
    from ufo.gpu import available

    if not available():
        pytest.skip("needs CuPy and a CUDA GPU")
    from ufo.storage import open_source
    from ufo.tomo.streaming import StreamingReconstructor

    path, _, _ = drifting
    got = {}
    for device in ("cpu", "gpu"):
        source = open_source(str(path))
        engine = StreamingReconstructor(axis=W / 2, device=device, interpolate_flats=True)
        for i in range(source.count):
            engine.add(source.read(i, slice(None), None), source.meta(i))
        source.close()
        got[device] = engine.finish()
    assert np.abs(got["gpu"] - got["cpu"]).max() < 1e-4 * np.abs(got["cpu"]).max()


@pytest.mark.parametrize("device", ["cpu", pytest.param("0", marks=pytest.mark.gpu)])
def test_flats_before_and_after_are_interpolated_along_the_whole_scan_for_a_part_read(tmp_path, device):
    """Projections 3-7 of a 10-projection scan read (`read start=3 number=5`, `ufo reco --number`):
    the flats before and after were interpolated over the frames read (projection 3 took the flat
    before alone, 7 the one after), up to 33 % off; now by each frame's place in the whole scan."""
    from ufo.gpu import available

    if device != "cpu" and not available():
        pytest.skip("needs CuPy and a CUDA GPU")
    folder = tmp_path / "proj"
    folder.mkdir()
    beam = np.linspace(1000.0, 2000.0, 10)  # flat - dark at each projection's time, dark 0
    import tifffile

    for i in range(10):
        tifffile.imwrite(folder / f"p-{i:03d}.tif", np.full((8, 8), round(0.5 * beam[i]), np.uint16))
    tifffile.imwrite(tmp_path / "dark.tif", np.zeros((8, 8), np.uint16))
    tifffile.imwrite(tmp_path / "before.tif", np.full((8, 8), 1000, np.uint16))
    tifffile.imwrite(tmp_path / "after.tif", np.full((8, 8), 2000, np.uint16))
    got = ufo.FlatFieldCorrect()(ufo.Reader(path=str(folder), start=3, number=5),
                                 ufo.Reader(path=str(tmp_path / "dark.tif")), ufo.Reader(path=str(tmp_path / "before.tif")),
                                 ufo.Reader(path=str(tmp_path / "after.tif"))).collect(device=device)
    np.testing.assert_allclose(got[:, 0, 0], 0.5, atol=1e-3)  # the transmission every frame was made with
