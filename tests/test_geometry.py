"""Scan geometry end to end: 180 and 360 degrees, half acquisition, any start, irregular angles.

Scans are written as the community's tools write them (NXtomo by the `nxtomo` package, DXchange
by hand with h5py) from the exact projections of the analytic phantom, and reconstructed by
`ufo reco` (`ufo.reco.plan` / `run`). Every comparison is against the phantom itself and holds
the result to its orientation and scale: high correlation with the true slice, clearly lower
with its mirror image, mean within 2 %.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import ufo
from ufo import reco
from ufo.core import GraphError, UsageError
from ufo.kernels.backproject import angle_weights, fbp_weight
from ufo.tomo.fbp import fbp
from ufo.tomo.halftomo import regular_angles, stitch
from ufo.tomo.phantom import Phantom

MU = 0.02  # attenuation per phantom unit and pixel: line integrals stay below ~2
DARK, FLAT = 100.0, 4100.0
ROWS, ROW = 4, 2  # detector rows written, the row reconstructed (z = ROW - ROWS / 2)


def frames(phantom: Phantom, angles: np.ndarray, axis: float, columns: slice = slice(None)) -> np.ndarray:
    """Raw camera frames (dark + flat x transmission) of the phantom at `angles` (radians)."""
    return np.stack([DARK + (FLAT - DARK) * np.exp(-MU * phantom.projection(a, axis)[:, columns])
                     for a in angles]).astype(np.float32)


def write_nxtomo(path: str, projections: np.ndarray, degrees: np.ndarray, alignment: np.ndarray | None = None) -> str:
    """An NXtomo written by the nxtomo package: 2 darks, 2 flats, projections, then alignment frames."""
    nxtomo = pytest.importorskip("nxtomo")
    import pint
    from nxtomo.nxobject.nxdetector import ImageKey

    shape = projections.shape[1:]
    extra = alignment if alignment is not None else np.empty((0, *shape), np.float32)
    data = np.concatenate([np.full((2, *shape), DARK, np.float32), np.full((2, *shape), FLAT, np.float32),
                           projections, extra])
    scan = nxtomo.NXtomo()
    scan.instrument.detector.data = data
    scan.instrument.detector.image_key_control = [ImageKey.DARK_FIELD] * 2 + [ImageKey.FLAT_FIELD] * 2 + \
        [ImageKey.PROJECTION] * len(projections) + [ImageKey.ALIGNMENT] * len(extra)
    extra_angles = np.linspace(0, 180, len(extra)) if len(extra) else np.empty(0)
    scan.sample.rotation_angle = np.concatenate([[0, 0, 0, 0], degrees, extra_angles]) * \
        pint.get_application_registry().degree
    scan.save(file_path=path, data_path="entry")
    return path


def write_dxchange(path: str, projections: np.ndarray, degrees: np.ndarray) -> str:
    """The DXchange layout as tomopy/dxchange write it: /exchange/data, data_white, data_dark, theta (degrees)."""
    shape = projections.shape[1:]
    with h5py.File(path, "w") as f:
        f["/exchange/data"] = projections
        f["/exchange/data_white"] = np.full((2, *shape), FLAT, np.float32)
        f["/exchange/data_dark"] = np.full((2, *shape), DARK, np.float32)
        f["/exchange/theta"] = degrees
    return path


def reconstruct(tmp_path, source: str, **options) -> tuple[np.ndarray, reco.RecoResult]:
    """`ufo reco` of row ROW into a TIFF, read back."""
    out = str(tmp_path / f"out-{len(list(tmp_path.iterdir()))}.tif")
    result = reco.run(reco.plan(reco.RecoOptions(projections=source, output=out, region=f"{ROW}:{ROW + 1}", **options)))
    return ufo.Reader(path=out)().collect()[0], result


def truth(phantom: Phantom, size: int | None = None, centre: float | None = None) -> np.ndarray:
    return MU * phantom.slice(z=ROW - ROWS / 2, size=size, centre=centre)


def rmse(image: np.ndarray, reference: np.ndarray) -> float:
    n = reference.shape[0]
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    return float(np.sqrt(np.mean((image - reference)[mask] ** 2)))


def assert_is_the_object(image: np.ndarray, reference: np.ndarray) -> None:
    """Neither mirrored, rotated, shifted nor scaled: the true slice correlates, its mirror does not."""
    corr = np.corrcoef(image.ravel(), reference.ravel())[0, 1]
    mirrored = np.corrcoef(image.ravel(), reference[:, ::-1].ravel())[0, 1]
    turned = np.corrcoef(image.ravel(), np.rot90(reference).ravel())[0, 1]
    assert corr > 0.95 and mirrored < corr - 0.1 and turned < corr - 0.1, (corr, mirrored, turned)
    n = reference.shape[0]
    inside = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n  # outside, FBP leaves a small offset
    assert abs(image[inside].mean() / reference[inside].mean() - 1) < 0.02, (image[inside].mean(), reference.mean())


# -- weights ---------------------------------------------------------------------------------
@pytest.mark.parametrize("count, span, offset, direction", [(180, np.pi, 0.0, 1), (360, 2 * np.pi, 0.3, -1),
                                                           (361, 2 * np.pi, 1.0, 1), (90, np.pi / 2, 0.0, 1)])
def test_regular_weights_equal_fbp_weight(count, span, offset, direction):
    step = span / count
    weights = angle_weights(offset + direction * step * np.arange(count))
    np.testing.assert_allclose(weights, fbp_weight(count, step), rtol=1e-9)


def test_irregular_weights_cover_one_half_turn_once():
    rng = np.random.default_rng(3)
    angles = (np.arange(360) + rng.uniform(-0.3, 0.3, 360)) * np.pi / 180  # a 360-degree scan, jittered
    assert np.sum(angle_weights(angles)) == pytest.approx(np.pi / 2)
    end_point = angle_weights(np.linspace(0, np.pi, 181))  # 0 and 180 degrees see the same lines: halves
    assert end_point[0] == pytest.approx(end_point[1] / 2) and end_point[-1] == pytest.approx(end_point[1] / 2)


# -- ufo reco on files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantom():
    return Phantom(128, height=ROWS)


@pytest.fixture(scope="module")
def result_180(tmp_path_factory, phantom):
    tmp = tmp_path_factory.mktemp("s180")
    axis = 64 + 5.0
    angles = regular_angles(180)
    path = write_nxtomo(str(tmp / "s180.nx"), frames(phantom, angles, axis), np.degrees(angles))
    image, _ = reconstruct(tmp, path, axis=axis)
    return image


def test_180_degrees_nxtomo(result_180, phantom):
    assert_is_the_object(result_180, truth(phantom))
    assert rmse(result_180, truth(phantom)) < 0.12 * MU


def test_360_degrees_axis_off_centre_equals_180(tmp_path, phantom, result_180):
    axis = 64 + 5.0
    angles = regular_angles(360, 2 * np.pi)
    path = write_nxtomo(str(tmp_path / "s360.nx"), frames(phantom, angles, axis), np.degrees(angles))
    image, result = reconstruct(tmp_path, path, axis="auto")
    assert abs(result.axis - axis) < 0.25, result.axis  # measured: 0.00 px (Vo on a half turn: 0.03)
    assert_is_the_object(image, truth(phantom))
    assert rmse(image, result_180) < 0.02 * np.sqrt(np.mean(result_180 ** 2))  # not 2x: the same values
    scanned, result = reconstruct(tmp_path, path, axis="auto", axis_method="scan")
    assert abs(result.axis - axis) < 0.25, result.axis


def test_360_degree_half_acquisition_axis_near_the_edge(tmp_path):
    """A 240-pixel object on a 160-pixel detector, the axis 40 px from its left edge (DXchange)."""
    from ufo.tomo.halftomo import slice_centre, stitched_geometry

    big = Phantom(240, height=ROWS)
    edge = 40.0
    angles = regular_angles(720, 2 * np.pi)
    columns = slice(120 - int(edge), 120 - int(edge) + 160)
    path = write_dxchange(str(tmp_path / "half.h5"), frames(big, angles, 120.0, columns), np.degrees(angles))
    image, result = reconstruct(tmp_path, path, axis="auto", half_acquisition=True)
    assert abs(result.axis - edge) < 0.25, result.axis  # measured: 0.01 px
    size = image.shape[0]
    assert image.shape == (size, size) and size >= 2 * (160 - edge) - 2
    reference = truth(big, size, slice_centre(stitched_geometry(160, result.axis)[2]))  # the axis's pixel
    assert_is_the_object(image, reference)
    # the same object seen whole by a 240-pixel detector over 180 degrees, as many angles
    full = write_dxchange(str(tmp_path / "full.h5"), frames(big, regular_angles(360), 120.0), np.degrees(regular_angles(360)))
    whole, _ = reconstruct(tmp_path, full, axis=120.0)
    ideal = rmse(whole, truth(big))
    assert rmse(image, reference) < 1.1 * ideal + 0.002 * MU, (rmse(image, reference), ideal)
    # on the full-field slice's grid: its pixel i + 2 is the half acquisition's i (half a pixel off before)
    lined_up, half_off = rmse(image, whole[2:, 2:]), rmse(image, truth(big, size, size / 2 - 0.5))
    assert lined_up < 1.5 * ideal < half_off, (lined_up, ideal, half_off)


@pytest.mark.parametrize("axis", [12.5, 83.5, 75.7])
def test_half_acquisition_axis_of_a_small_object_beside_empty_air(axis):
    """A 96-pixel phantom turned about an axis near one detector edge leaves the other edge in
    air (zeros): mirrored pairs 'match' there perfectly, which must not beat the object's side."""
    from ufo.tomo.axis import axis_half_acquisition

    phantom = Phantom(96, height=20)
    angles = regular_angles(300, 2 * np.pi)
    sino = 0.01 * np.array([phantom.projection(a, axis=axis)[10] for a in angles])
    assert (sino[:, :4] == 0).all() or (sino[:, -4:] == 0).all()  # air on one side
    assert abs(axis_half_acquisition(sino, angles) - axis) < 0.1


def test_half_acquisition_on_either_edge_matches_the_phantom():
    big = Phantom(240)
    angles = regular_angles(720, 2 * np.pi)
    sino = big.sinogram(angles, axis=120.3)
    ideal = rmse(fbp(big.sinogram(regular_angles(360), axis=120.3), axis=120.3), big.slice())
    for columns, axis in ((slice(80, 240), 40.3), (slice(0, 160), 120.3)):  # axis near the left, the right edge
        half = stitch(sino[:, columns], axis, angles)
        image = fbp(half.sinogram, axis=half.axis, angles=half.angles)
        assert rmse(image, big.slice(size=image.shape[0])) < 1.1 * ideal + 0.002


def test_start_at_90_degrees_dxchange(tmp_path, phantom):
    axis = 64.0
    angles = np.pi / 2 + regular_angles(180)
    path = write_dxchange(str(tmp_path / "s90.h5"), frames(phantom, angles, axis), np.degrees(angles))
    image, result = reconstruct(tmp_path, path, axis=axis)
    assert result.plan.options.offset == pytest.approx(np.pi / 2)
    assert_is_the_object(image, truth(phantom))


def test_alignment_projections_are_left_out_and_reported(tmp_path, phantom, result_180):
    axis = 64 + 5.0
    angles = regular_angles(180)
    alignment = frames(phantom, np.radians([0.0, 90.0, 180.0]), axis)
    path = write_nxtomo(str(tmp_path / "align.nx"), frames(phantom, angles, axis), np.degrees(angles), alignment)
    image, result = reconstruct(tmp_path, path, axis=axis)
    assert result.plan.projections == 180
    assert any("3 alignment projection(s)" in w for w in result.plan.warnings), result.plan.warnings
    np.testing.assert_allclose(image, result_180, atol=1e-5)


def test_irregular_angles_are_backprojected_at_their_true_angles(tmp_path, phantom):
    """Rotation speed varying over the scan (+-2 steps) and jitter (+-0.3 step): once refused."""
    axis = 64.0
    count = 180
    step = np.pi / count
    i = np.arange(count)
    angles = i * step + 2 * step * np.sin(2 * np.pi * i / count) + np.random.default_rng(5).uniform(-0.3, 0.3, count) * step
    path = write_nxtomo(str(tmp_path / "irregular.nx"), frames(phantom, angles, axis), np.degrees(angles))
    image, result = reconstruct(tmp_path, path, axis=axis)
    assert result.plan.angles is not None and len(result.plan.angles) == count
    assert_is_the_object(image, truth(phantom))
    as_regular, _ = reconstruct(tmp_path, path, axis=axis, angle=step)
    assert rmse(image, truth(phantom)) < 0.9 * rmse(as_regular, truth(phantom))


def test_backproject_task_refuses_angles_that_do_not_fit():
    sinos = np.zeros((3, 90, 64), np.float32)
    with pytest.raises(GraphError, match="45 angles given for sinograms of 90"):
        ufo.Backproject(angles=np.zeros(45))(ufo.MemoryIn(data=sinos)()).collect()
    with pytest.raises(GraphError, match="half-acquisition needs the axis"):
        ufo.Backproject(half_acquisition=True)(ufo.MemoryIn(data=sinos)()).collect()
    with pytest.raises(GraphError, match="360-degree scan"):
        ufo.Backproject(half_acquisition=True, axis=10, angle_step=np.pi / 90)(ufo.MemoryIn(data=sinos)()).collect()
    one = ufo.Backproject(angles=regular_angles(90, 2 * np.pi), axis=10, half_acquisition=True)
    assert one(ufo.MemoryIn(data=sinos)()).collect().shape == (3, 107, 107)  # 2 x (63 - 10) + 1


def test_half_acquisition_of_a_180_degree_scan_is_refused(tmp_path, phantom):
    angles = regular_angles(90)
    path = write_dxchange(str(tmp_path / "s.h5"), frames(phantom, angles, 64.0), np.degrees(angles))
    with pytest.raises(UsageError, match="360-degree"):
        reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "o.tif"), axis=20, half_acquisition=True))
