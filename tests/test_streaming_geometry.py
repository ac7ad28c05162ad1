"""The streaming reconstructor on irregular angles, 360-degree scans and half acquisition.

Frames of the analytic phantom go to the engine one by one and, written as DXchange files, to
`ufo reco`; the engine's slices must equal `ufo reco`'s (true-angle weights, the stitched wide
sinogram) and the phantom's own slice (tests/test_geometry.py's helpers and checks).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_geometry import DARK, FLAT, ROW, ROWS, assert_is_the_object, frames, reconstruct, rmse, truth, \
    write_dxchange
from ufo.kernels.backproject import angle_weights
from ufo.tomo.halftomo import regular_angles, slice_centre, stitched_geometry
from ufo.tomo.phantom import Phantom
from ufo.tomo.stream_geometry import StreamWeights
from ufo.tomo.streaming import StreamingReconstructor

from .reference import assert_matches, line_integrals


def stream(engine: StreamingReconstructor, projections: np.ndarray, angles: np.ndarray,
           watch: list[int] | None = None) -> np.ndarray:
    """2 darks, 2 flats (as write_dxchange writes them), then the projections with their angles."""
    shape = projections.shape[1:]
    for _ in range(2):
        engine.add(np.full(shape, DARK, np.float32), {"image_key": 2})
    for _ in range(2):
        engine.add(np.full(shape, FLAT, np.float32), {"image_key": 1})
    for angle, frame in zip(angles, projections):
        engine.add(frame, {"image_key": 0, "angle": float(angle)})
        if watch is not None:
            watch.append(engine.pending_bytes)
    slices = engine.finish()
    assert slices is not None
    return slices[0]


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference inside the reconstruction circle, relative to the largest value. Outside
    it, corners see rays past the detector edge at some angles, where the one-slice kernel (`ufo
    reco` of one row) and the stacked one (the engine) round the column bounds differently: on
    the 360-degree scan 2.7e-5 absolute (1e-3 relative) at a corner, as fbp() itself gives."""
    n = b.shape[0]
    inside = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    return float(np.abs(a - b)[inside].max() / np.abs(b).max())


def streamed_weights(angles: np.ndarray) -> np.ndarray:
    """What StreamWeights gives each projection in the end (its pieces summed, times the scale)."""
    weights = StreamWeights()
    total = np.zeros(len(angles))
    pieces = [out for i, a in enumerate(angles) for out in weights.push(float(a), i)] + weights.finish()
    for _, i, r in pieces:
        total[i] += r
    return total * weights.scale()


@pytest.mark.parametrize("kind", ["jittered 180", "shorter than a half turn", "end point included",
                                  "regular 360", "backwards"])
def test_stream_weights_are_angle_weights(kind):
    rng = np.random.default_rng(3)
    step = np.pi / 100
    angles = {"jittered 180": np.arange(100) * step + rng.uniform(-0.3, 0.3, 100) * step,
              "shorter than a half turn": np.arange(50) * step + rng.uniform(-0.2, 0.2, 50) * step,
              "end point included": np.arange(101) * step,
              "regular 360": regular_angles(200, 2 * np.pi, 0.4),
              "backwards": 2.0 - np.arange(100) * step - rng.uniform(0, 0.3, 100) * step}[kind]
    np.testing.assert_allclose(streamed_weights(angles), angle_weights(angles), rtol=1e-9)


def test_irregular_angles_equal_ufo_reco(tmp_path, monkeypatch):
    """Rotation speed varying over the scan and jitter (tests/test_geometry.py's irregular scan)."""
    phantom = Phantom(128, height=ROWS)
    axis, count = 64.0, 180
    step = np.pi / count
    i = np.arange(count)
    angles = i * step + 2 * step * np.sin(2 * np.pi * i / count) + \
        np.random.default_rng(5).uniform(-0.3, 0.3, count) * step
    projections = frames(phantom, angles, axis)
    path = write_dxchange(str(tmp_path / "irregular.h5"), projections, np.degrees(angles))
    expected, _ = reconstruct(tmp_path, path, axis=axis)
    engine = StreamingReconstructor(axis=axis, rows=slice(ROW, ROW + 1), device="cpu", batch=16)
    image = stream(engine, projections, angles)
    assert relative(image, expected) < 1e-5, relative(image, expected)  # measured: 1.2e-6
    assert_is_the_object(image, truth(phantom))
    # the true angles with one weight for all (the engine before): measurably different, so the
    # comparison above sees the weights
    monkeypatch.setattr(StreamWeights, "_relative", lambda self, left, right: 1.0)
    engine = StreamingReconstructor(axis=axis, rows=slice(ROW, ROW + 1), device="cpu", batch=16)
    one_weight = stream(engine, projections, angles)
    assert relative(one_weight, expected) > 1e-3, relative(one_weight, expected)


@pytest.mark.parametrize("span", [None, 2 * np.pi], ids=["span-unknown", "span-given"])
def test_360_degree_auto_axis_from_the_pairs(tmp_path, span):
    phantom = Phantom(128, height=ROWS)
    axis = 64 + 5.0
    angles = regular_angles(360, 2 * np.pi)
    projections = frames(phantom, angles, axis)
    kept: list[int] = []
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu", angle_span=span)
    image = stream(engine, projections, angles, kept)
    assert engine.found_axis is not None and abs(engine.found_axis - axis) < 0.25, engine.found_axis
    # a half turn, then nothing: the axis came from the first half turn, once it was in
    assert max(kept) <= 180 * 128 * 4 and kept[-1] == 0
    path = write_dxchange(str(tmp_path / "s360.h5"), projections, np.degrees(angles))
    expected, result = reconstruct(tmp_path, path, axis=engine.found_axis)
    assert relative(image, expected) < 1e-5
    assert_is_the_object(image, truth(phantom))
    sino = line_integrals(projections[:, ROW], np.full((1, 128), DARK), np.full((1, 128), FLAT))
    assert_matches(image, truth(phantom), sino, angles, engine.found_axis)  # as close as scikit-image's FBP


@pytest.mark.parametrize("scale, offset", [(1.6, 5.3), (1.4, -15.2)])
def test_a_full_turns_axis_is_found_where_the_sample_reaches_past_the_detector(scale, offset):
    """From the first 8 pairs (theta, theta + pi) a full turn's axis was 68 px (and 60 px) off when
    the sample reached past the field of view, with no warning; `ufo reco` of the file was right."""
    phantom = Phantom(128, height=ROWS, scale=scale)
    axis = 64 + offset
    angles = regular_angles(360, 2 * np.pi)
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu")
    stream(engine, frames(phantom, angles, axis), angles)
    assert abs(engine.found_axis - axis) < 0.3, engine.found_axis


@pytest.mark.parametrize("order", ["interlaced-2", "interlaced-4", "pairs-swapped", "golden-angle"])
def test_projections_out_of_angle_order_are_weighed_as_the_file_would_be(order):
    """Gaps in arrival order were taken for each projection's interval: an interlaced scan came out
    2 or 4 times too bright, a golden-angle one 85 times, without a word (or with one about the
    coverage). Now each is weighed alike, said, and the slice is the offline one."""
    from ufo.tomo.fbp import fbp

    phantom = Phantom(128, height=ROWS)
    base = regular_angles(180, np.pi)
    angles = {"interlaced-2": np.concatenate([base[0::2], base[1::2]]),
              "interlaced-4": np.concatenate([base[k::4] for k in range(4)]),
              "pairs-swapped": base[np.arange(180) ^ 1],
              "golden-angle": np.mod(np.arange(180) * np.radians(111.246117975), np.pi)}[order]
    projections = frames(phantom, angles, 66.3)
    engine = StreamingReconstructor(axis=66.3, rows=slice(ROW, ROW + 1), device="cpu")
    image = stream(engine, projections, angles)
    sino = line_integrals(projections[:, ROW], np.full((1, 128), DARK), np.full((1, 128), FLAT))
    offline = fbp(sino, axis=66.3, angles=angles)  # ufo reco's weights, from the sorted angles
    if order == "golden-angle":  # irregular: alike is a quadrature of its own, as good as the intervals'
        assert rmse(image, truth(phantom)) < 1.1 * rmse(offline, truth(phantom))
        assert abs(image.mean() / offline.mean() - 1) < 0.01  # not 85 times
    else:
        assert relative(image, offline) < 1e-5, relative(image, offline)
        assert_is_the_object(image, truth(phantom))
    assert any("out of angle order" in w for w in engine.stats.warnings), engine.stats.warnings


@pytest.fixture(scope="module")
def half_scan(tmp_path_factory):
    """A 240-pixel object on a 160-pixel detector, the axis 40 px from its left edge, 720 angles."""
    big = Phantom(240, height=ROWS)
    angles = regular_angles(720, 2 * np.pi)
    projections = frames(big, angles, 120.0, slice(80, 240))
    path = write_dxchange(str(tmp_path_factory.mktemp("half") / "half.h5"), projections, np.degrees(angles))
    return big, angles, projections, path


@pytest.mark.parametrize("axis", [40.0, "auto"])
def test_half_acquisition_equals_ufo_reco_and_the_phantom(tmp_path, half_scan, axis):
    big, angles, projections, path = half_scan
    kept: list[int] = []
    engine = StreamingReconstructor(axis=axis, rows=slice(ROW, ROW + 1), device="cpu", half_acquisition=True)
    image = stream(engine, projections, angles, kept)
    used = engine.found_axis if axis == "auto" else axis
    assert abs(used - 40.0) < 0.25, used
    expected, _ = reconstruct(tmp_path, path, axis=used, half_acquisition=True)
    assert image.shape == expected.shape and image.shape[0] >= 2 * (160 - 40) - 2
    assert relative(image, expected) < 1e-4, relative(image, expected)
    reference = truth(big, image.shape[0], slice_centre(stitched_geometry(160, used)[2]))  # the axis's pixel
    even = image.shape[0] // 2 * 2  # the mirror of an even size is not the object's own (it is nearly symmetric)
    assert_is_the_object(image[:even, :even], reference[:even, :even])
    band = 160 * 4  # one corrected row band (1 row, float32)
    if axis == "auto":  # raw rows (float32 here) until the pairs exist, then pairs waiting
        assert max(kept) <= (360 + 8 + 1) * band
    else:  # the first half turn's bands until their pair arrives, and the two latest past it
        assert max(kept) <= (360 + 2) * band
    assert kept[-1] <= 2 * band


def test_half_acquisition_needs_an_axis_and_a_full_turn():
    with pytest.raises(ValueError, match="needs the axis"):
        StreamingReconstructor(half_acquisition=True, device="cpu")
    phantom = Phantom(64, height=ROWS)
    angles = regular_angles(90)
    engine = StreamingReconstructor(axis=10.0, rows=slice(ROW, ROW + 1), device="cpu", half_acquisition=True)
    with pytest.raises(ValueError, match="360-degree"):
        stream(engine, frames(phantom, angles, 10.0), angles)


@pytest.mark.parametrize("degrees", [120, 160])
def test_auto_axis_on_a_scan_short_of_a_half_turn_is_refused_offline_and_online(tmp_path, degrees):
    """Vo's metric needs each ray's mirror 180 degrees on: over 160 degrees it was 1.9 px off,
    over 120 11 px, reported as found (the online engine of a scan stopped early, and `ufo
    reco`). Both now refuse, naming the range and the fix; 172 degrees too, by what its 8 degrees
    cost at this width (`test_axis_rows`: 175 degrees put it 26 px off at 2048 px); a half turn finds it."""
    from ufo import reco
    from ufo.core import UsageError

    phantom = Phantom(128, height=ROWS)
    axis = 64 + 5.3
    angles = np.radians(np.arange(0, degrees, 1.0))
    projections = frames(phantom, angles, axis)
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu")
    with pytest.raises(ValueError, match=rf"covers {degrees}\.0 degrees.*give the axis"):
        stream(engine, projections, angles)
    path = write_dxchange(str(tmp_path / "short.h5"), projections, np.degrees(angles))
    with pytest.raises(UsageError, match=rf"--axis auto: .*covers {degrees}\.0 degrees"):
        reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "s.tif"), axis="auto"))
    angles = np.radians(np.arange(0, 172, 1.0))
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu")
    with pytest.raises(ValueError, match=r"covers 172\.00 degrees: 8\.00 short"):
        stream(engine, frames(phantom, angles, axis), angles)
    angles = np.radians(np.arange(0, 180, 1.0))
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu")
    stream(engine, frames(phantom, angles, axis), angles)
    assert abs(engine.found_axis - axis) < 0.3, engine.found_axis


def test_auto_axis_from_too_few_projections_and_a_negative_axis_are_refused(tmp_path):
    """A complete half turn of 3 projections 'found' the axis 30 px off; axis=-40 or NaN was refused
    only at the first frame, after the darks were taken."""
    from ufo import reco
    from ufo.core import UsageError

    phantom = Phantom(128, height=ROWS)
    angles = np.arange(3) * np.pi / 3
    engine = StreamingReconstructor(axis="auto", rows=slice(ROW, ROW + 1), device="cpu")
    with pytest.raises(ValueError, match="8 projections or more over a half turn, and this scan has 3"):
        stream(engine, frames(phantom, angles, 69.3), angles)
    path = write_dxchange(str(tmp_path / "three.h5"), frames(phantom, angles, 69.3), np.degrees(angles))
    with pytest.raises(UsageError, match="--axis auto: .*this scan has 3"):
        reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "s.tif"), axis="auto"))
    for axis in (-40.0, float("nan")):
        with pytest.raises(ValueError, match="no detector position"):
            StreamingReconstructor(axis=axis, device="cpu")
