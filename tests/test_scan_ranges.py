"""Regular scans over more than a half turn and not a whole number of them (200, 270 degrees;
600 projections of an 800-projection full turn): the directions of the overlap are seen twice.
One weight for every projection counted them double (rms 13x that of a 180-degree scan, the
worst pixel off by the phantom's background); each projection now gets the interval it covers,
as irregular angles did. The reference is the analytic phantom (tests/test_geometry.py) and the
same projections over 180 degrees.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_geometry import ROW, assert_is_the_object, frames, reconstruct, rmse, truth, write_dxchange
from ufo import reco
from ufo.core import UsageError
from ufo.kernels.wedge import one_weight_fits
from ufo.tomo.fbp import fbp
from ufo.tomo.phantom import Phantom
from ufo.tomo.streaming import StreamingReconstructor

W = 128


@pytest.fixture(scope="module")
def phantom():
    return Phantom(W, height=4)


def test_one_weight_fits_half_turns_only():
    step = np.pi / 180
    assert one_weight_fits(180, step) and one_weight_fits(90, step) and one_weight_fits(360, step)
    assert one_weight_fits(540, step) and one_weight_fits(360, -step)
    assert not one_weight_fits(200, step) and not one_weight_fits(270, step) and not one_weight_fits(181, step)


@pytest.mark.parametrize("degrees", [200, 270])
def test_ufo_reco_of_more_than_a_half_turn_is_as_good_as_a_half_turn(tmp_path, phantom, degrees):
    step = 0.5
    half = np.radians(np.arange(0, 180, step))
    longer = np.radians(np.arange(0, degrees, step))
    axis = W / 2 + 0.5
    reference, _ = reconstruct(tmp_path, write_dxchange(str(tmp_path / "half.h5"), frames(phantom, half, axis),
                                                        np.degrees(half)), axis=axis)
    projections = frames(phantom, longer, axis)
    path = write_dxchange(str(tmp_path / "long.h5"), projections, np.degrees(longer))
    image, _ = reconstruct(tmp_path, path, axis=axis)
    expected = truth(phantom)
    assert rmse(image, expected) < 1.2 * rmse(reference, expected), (rmse(image, expected), rmse(reference, expected))
    assert_is_the_object(image, expected)
    # the Python API's step path and its true-angle path agree
    sino = -np.log((projections[:, ROW] - 100.0) / 4000.0)
    np.testing.assert_allclose(fbp(sino, axis=axis, angle_step=np.radians(step)), fbp(sino, axis=axis, angles=longer),
                               atol=1e-6)
    with pytest.raises(UsageError, match=f"cover {degrees} degrees.*--method fbp"):
        reconstruct(tmp_path, path, axis=axis, method="dfi")
    engine = StreamingReconstructor(axis=axis, rows=slice(ROW, ROW + 1), device="cpu")  # online: said
    engine.add(np.full(projections.shape[1:], 100.0, np.float32), {"image_key": 2})
    engine.add(np.full(projections.shape[1:], 4100.0, np.float32), {"image_key": 1})
    for angle, frame in zip(longer, projections):
        engine.add(frame, {"image_key": 0, "angle": float(angle)})
    engine.finish()
    assert any(f"cover {degrees} degrees" in w for w in engine.stats.warnings), engine.stats.warnings


def test_part_of_a_full_turn_by_number(tmp_path, phantom):
    """--number 600 of an 800-projection 360-degree scan: 270 degrees."""
    full = np.radians(np.arange(800) * 360 / 800)
    axis = W / 2 + 0.5
    path = write_dxchange(str(tmp_path / "full.h5"), frames(phantom, full, axis), np.degrees(full))
    whole, _ = reconstruct(tmp_path, path, axis=axis)
    part, _ = reconstruct(tmp_path, path, axis=axis, number=600)
    expected = truth(phantom)
    assert rmse(part, expected) < 1.2 * rmse(whole, expected), (rmse(part, expected), rmse(whole, expected))
    plan = reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "x.tif"), axis=axis, number=600))
    assert "weights of their own" in reco.planning.resident_reason(plan, 1)


@pytest.mark.parametrize("degrees,flagged", [(180, False), (200, True)])
def test_a_jittered_half_turn_is_no_overlap(tmp_path, phantom, degrees, flagged):
    """Irregular angles of a half turn whose ends lie a fraction of a step past it (a fly scan's
    jitter) overlap by less than one projection: the resident GPU path takes them and the online
    engine warns of nothing (the GPU check of the resident path against the sinogram path was
    refused after the overlap rule came in); 200 degrees jittered still need their own weights."""
    n = 180
    rng = np.random.default_rng(2)
    jitter = np.sort(np.arange(n) * np.radians(degrees) / n + rng.uniform(-0.3, 0.3, n) * np.pi / n)
    assert jitter[-1] - jitter[0] + np.pi / n > np.pi  # past the half turn, by less than a step
    axis = W / 2 + 0.5
    projections = frames(phantom, jitter, axis)
    path = write_dxchange(str(tmp_path / "jitter.h5"), projections, np.degrees(jitter))
    opts = reco.RecoOptions(projections=path, output=str(tmp_path / "x.tif"), axis=axis)
    plan = reco.plan(opts)
    assert plan.angles is not None
    reason = reco.planning.resident_reason(plan, 1)
    assert (reason is not None and "weights of their own" in reason) == flagged, reason
    engine = StreamingReconstructor(axis=axis, rows=slice(ROW, ROW + 1), device="cpu")
    engine.add(np.full(projections.shape[1:], 100.0, np.float32), {"image_key": 2})
    engine.add(np.full(projections.shape[1:], 4100.0, np.float32), {"image_key": 1})
    for angle, frame in zip(jitter, projections):
        engine.add(frame, {"image_key": 0, "angle": float(angle)})
    engine.finish()
    assert any("degrees" in w and "half turn" in w for w in engine.stats.warnings) == flagged, engine.stats.warnings
