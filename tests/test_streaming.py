"""The streaming reconstructor against `ufo reco` on the same files, against the phantom, under bad input."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.tomo.phantom import Phantom
from ufo.tomo.streaming import StreamingReconstructor

from .reference import assert_matches, line_integrals

W, H, N = 96, 8, 120
AXIS = W / 2 + 1.3
ROWS = slice(2, 7)
MU = 0.01


def _save(path, frames):
    with tifffile.TiffWriter(path) as tif:
        for frame in frames:
            tif.write(frame, contiguous=False)
    return str(path)


def _scan(span, n=N, seed=0, flat_level=3000.0):
    rng = np.random.default_rng(seed)
    phantom = Phantom(W, height=H)
    angles = np.arange(n) * span / n
    clean = np.stack([100 + flat_level * np.exp(-MU * phantom.projection(a, AXIS)) for a in angles])
    proj = np.clip(np.rint(clean + rng.normal(0, 5, clean.shape)), 0, 65535).astype(np.uint16)
    darks = (100 + rng.integers(0, 3, (3, H, W))).astype(np.uint16)
    flats = np.clip(np.rint(100 + flat_level + rng.normal(0, 5, (4, H, W))), 0, 65535).astype(np.uint16)
    return angles, proj, darks, flats


def _feed(put, angles, proj, darks=(), flats=(), flats_after=()):
    """Darks, flats, projections (with angles), flats after: into `put(frame, meta)`."""
    for frame in darks:
        put(frame, {"image_key": 2})
    for frame in flats:
        put(frame, {"image_key": 1})
    for angle, frame in zip(angles, proj):
        put(frame, {"image_key": 0, "angle": float(angle)})
    for frame in flats_after:
        put(frame, {"image_key": 1})


def _stream(engine, angles, proj, darks=(), flats=(), flats_after=()):
    _feed(engine.add, angles, proj, darks, flats, flats_after)
    return engine.finish()


def _reco(tmp_path, span, axis, n=N, **files):
    options = reco.RecoOptions(axis=axis, region="2:7", angle=span / n, output=str(tmp_path / "out-%05i.tif"),
                               overwrite=True, replicas=1, **files)
    plan = reco.plan(options)
    reco.run(plan)
    slices = np.stack([tifffile.imread(tmp_path / f"out-{row:05d}.tif") for row in plan.rows])  # named by row
    return plan, slices


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def _truth(row):
    return MU * Phantom(W, height=H).slice(z=row - H / 2, size=W)


def _check(image, row, angles, proj, darks, flats, axis, window=None):
    """The slice against the phantom within 1.1 x the error of scikit-image's FBP of the same
    frames; a mirrored, half-pixel shifted, 0.7x scaled or constant slice fails (tests/reference.py)."""
    sino = line_integrals(proj[:, row], darks[:, row], flats[:, row])
    truth = _truth(row) if window is None else _truth(row)[window]
    return assert_matches(image, truth, sino, angles, axis, window=window)


@pytest.mark.parametrize("span", [np.pi, 2 * np.pi], ids=["180", "360"])
@pytest.mark.parametrize("axis", [AXIS, "auto"], ids=["given", "auto"])
def test_the_engine_equals_ufo_reco_on_the_same_scan(tmp_path, span, axis):
    angles, proj, darks, flats = _scan(span)
    files = dict(projections=_save(tmp_path / "p.tif", proj), darks=_save(tmp_path / "d.tif", darks),
                 flats=_save(tmp_path / "f.tif", flats))
    engine = StreamingReconstructor(axis=axis, rows=ROWS, device="cpu", threads=2)
    slices = _stream(engine, angles, proj, darks, flats)
    used = engine.found_axis if axis == "auto" else axis
    plan, expected = _reco(tmp_path, span, used, **files)
    assert slices.shape == expected.shape == (5, W, W)
    assert _relative(slices, expected) < 1e-5
    if axis == "auto":
        assert engine.found_axis == pytest.approx(AXIS, abs=0.3)
        if span == np.pi:  # the same sinogram as `ufo reco --axis auto`, so the same axis
            assert engine.found_axis == pytest.approx(reco.find_axis(plan), abs=1e-6)
    # right values: the phantom's slice, as close as scikit-image's FBP of the same frames gets
    # (at the axis used: the found one is checked above); wrong slices fail the same tolerance
    for index, row in enumerate(range(ROWS.start, ROWS.stop)):
        _check(slices[index], row, angles, proj, darks, flats, used)


def test_darks_and_flats_before_and_after_the_scan(tmp_path):
    angles, proj, darks, flats = _scan(np.pi)
    later = (flats.astype(np.float32) * 1.05).astype(np.uint16)  # the beam got brighter during the scan
    files = dict(projections=_save(tmp_path / "p.tif", proj), darks=_save(tmp_path / "d.tif", darks),
                 flats=_save(tmp_path / "f.tif", flats))
    # default: the flats after the scan are recorded, not used, as `ufo reco` without --flats2
    plain = StreamingReconstructor(axis=AXIS, rows=ROWS, device="cpu")
    slices = _stream(plain, angles, proj, darks, flats, later)
    _, expected = _reco(tmp_path, np.pi, AXIS, **files)
    assert _relative(slices, expected) < 1e-5
    assert plain.stats.late_references == len(later) and plain.stats.warnings
    # interpolate_flats: as `ufo reco --flats2`
    both = StreamingReconstructor(axis=AXIS, rows=ROWS, device="cpu", interpolate_flats=True)
    slices = _stream(both, angles, proj, darks, flats, later)
    _, expected = _reco(tmp_path, np.pi, AXIS, flats2=_save(tmp_path / "f2.tif", later), **files)
    assert _relative(slices, expected) < 1e-5
    # flats only after the projections: the rows are kept until they come, then the scan is as usual
    late = StreamingReconstructor(axis=AXIS, rows=ROWS, device="cpu")
    for frame in darks:
        late.add(frame, {"image_key": 2})
    for angle, frame in zip(angles, proj):
        late.add(frame, {"image_key": 0, "angle": float(angle)})
    assert late.pending_bytes == N * 5 * W * 2  # raw rows of the reconstructed band only
    for frame in flats:  # all of them are the flats: none came before the projections
        late.add(frame, {"image_key": 1})
    slices = late.finish()
    assert late.pending_bytes == 0 and late.stats.flats == len(flats)
    _, expected = _reco(tmp_path, np.pi, AXIS, **files)
    assert _relative(slices, expected) < 1e-5


def test_memory_stays_flat_on_a_long_stream_with_a_given_axis():
    rng = np.random.default_rng(1)
    frames = [rng.integers(900, 1100, (32, 128), dtype=np.uint16) for _ in range(16)]
    engine = StreamingReconstructor(axis=64.0, device="cpu", batch=16, angle_span=np.pi)
    engine.add(np.full((32, 128), 100, np.uint16), {"image_key": 2})
    engine.add(np.full((32, 128), 2000, np.uint16), {"image_key": 1})
    tracemalloc.start()
    try:
        sizes = []
        for i in range(3000):
            engine.add(frames[i % 16], {"image_key": 0, "angle": i * np.pi / 3000})
            if i in (499, 2999):
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert engine.pending_bytes == 0
    assert sizes[1] - sizes[0] < 256 * 1024, sizes  # 2500 more projections of 8 KiB: nothing kept
    assert engine.finish().shape == (32, 128, 128)


def test_auto_axis_keeps_a_half_turn_at_most_then_streams():
    angles, proj, darks, flats = _scan(2 * np.pi)
    engine = StreamingReconstructor(axis="auto", rows=ROWS, device="cpu")
    for frame in flats:
        engine.add(frame, {"image_key": 1})
    kept = []
    for angle, frame in zip(angles, proj):
        engine.add(frame, {"image_key": 0, "angle": float(angle)})
        kept.append(engine.pending_bytes)
    # the first half turn's rows, until it is complete: a full turn's axis comes from it (Vo's method)
    assert max(kept) == (N // 2) * 5 * W * 2
    assert kept[-1] == 0 and engine.found_axis == pytest.approx(AXIS, abs=0.3)
    assert engine.current() is not None  # slices exist during the second half turn


def test_bad_input_gives_one_clear_error():
    engine = StreamingReconstructor(axis=10.0, device="cpu")
    engine.add(np.ones((4, 20), np.uint16), {"image_key": 1})
    engine.add(np.ones((4, 20), np.uint16), {"image_key": 0, "angle": 0.0})
    with pytest.raises(ValueError, match=r"frame 2 has shape \(4, 21\), but the stream started with \(4, 20\)"):
        engine.add(np.ones((4, 21), np.uint16), {"image_key": 0, "angle": 0.1})
    with pytest.raises(ValueError, match="has no 'angle' in its metadata; send angles with the frames or give angle_step"):
        engine.add(np.ones((4, 20), np.uint16), {"image_key": 0})
    with pytest.raises(ValueError, match="has angle nan"):
        engine.add(np.ones((4, 20), np.uint16), {"image_key": 0, "angle": float("nan")})
    no_flats = StreamingReconstructor(axis=10.0, device="cpu")
    no_flats.add(np.ones((4, 20), np.uint16), {"image_key": 0, "angle": 0.0})
    with pytest.raises(ValueError, match="no flats .* arrived: flat-field correction is not possible"):
        no_flats.finish()
    with pytest.raises(ValueError, match="not 'middle'"):
        StreamingReconstructor(axis="middle")
    with pytest.raises(ValueError, match="unknown filter"):
        StreamingReconstructor(filter="blackman")
    with pytest.raises(ValueError, match="rows 2:9 reach outside the 4 detector rows"):
        StreamingReconstructor(rows=slice(2, 9), device="cpu").add(np.ones((4, 20)), {"image_key": 1})
    # a frame counted as projections without an angle, with a step given: angle = index x step
    stepped = StreamingReconstructor(axis=10.0, device="cpu", angle_step=np.pi / 4)
    stepped.add(np.full((4, 20), 2, np.uint16), {"image_key": 1})
    for _ in range(4):
        stepped.add(np.ones((4, 20), np.uint16), {"image_key": 0})
    assert stepped.finish().shape == (4, 20, 20)


def test_a_slice_region_and_a_row_list_are_the_same_pixels_as_the_whole():
    angles, proj, darks, flats = _scan(np.pi, n=60)
    whole = _stream(StreamingReconstructor(axis=AXIS, rows=ROWS, device="cpu"), angles, proj, darks, flats)
    region = _stream(StreamingReconstructor(axis=AXIS, rows=[3, 5], roi=(10, 20, 50, 40), device="cpu"),
                     angles, proj, darks, flats)
    assert region.shape == (2, 40, 50)
    np.testing.assert_allclose(region, whole[[1, 3], 20:60, 10:60], rtol=1e-5, atol=1e-7)
    _check(region[1], 5, angles, proj, darks, flats, AXIS, window=(slice(20, 60), slice(10, 60)))  # the right window


def test_a_reconstruction_that_fails_mid_scan_stops_it_and_the_raw_frames_stay_readable(tmp_path):
    """Bad input inside an experiment (here: rows the detector does not have): one clear error
    from the run, the scan stops, and the NXtomo written beside it holds every frame taken."""
    import asyncio

    import ufo
    from ufo.control import ImageWriter, OnlineReconstruction, SimulatedBeamline, Tomography
    from ufo.storage.walker import DirectoryWalker

    async def main():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=200, darks=2, flats=2)
            writer = tomo.attach(ImageWriter())
            tomo.attach(OnlineReconstruction(axis=16.0, rows=slice(0, 8)))
            with pytest.raises(ValueError, match="rows 0:8 reach outside the 4 detector rows"):
                await tomo.run()
            return tomo, writer

    tomo, writer = asyncio.run(main())
    assert tomo.state != "running" and 1 <= writer.frames < 204  # stopped early
    frames = ufo.Reader(path=str(tmp_path / "scan_0000" / "scan.nx"))().collect()
    assert len(frames) == writer.frames and frames.shape[1:] == (4, 32)


@pytest.mark.parametrize("method", ["sinogram", "scan"])
def test_ufo_reco_finds_the_axis_of_a_360_degree_scan(tmp_path, method):
    angles, proj, darks, flats = _scan(2 * np.pi)
    options = reco.RecoOptions(projections=_save(tmp_path / "p.tif", proj), darks=_save(tmp_path / "d.tif", darks),
                               flats=_save(tmp_path / "f.tif", flats), axis="auto", axis_method=method,
                               region="2:7", angle=2 * np.pi / N, output=str(tmp_path / "o-%05i.tif"))
    assert reco.find_axis(reco.plan(options)) == pytest.approx(AXIS, abs=0.3)


def test_alignment_projections_of_an_nxtomo_are_left_out_by_ufo_reco_and_the_engine(tmp_path):
    """ESRF-style NXtomo: after the scan, projections at 0, 90 and 180 degrees with image_key 0 but
    image_key_control -1 (alignment). They are not part of the scan's angles."""
    import h5py

    from ufo.storage import open_writer

    angles, proj, darks, flats = _scan(np.pi)
    path = str(tmp_path / "scan.nx")
    with open_writer(path) as writer:
        _feed(writer.write, angles, proj, darks, flats)
        for index in (0, N // 2, N - 1):
            writer.write(proj[index], {"image_key": 0, "angle": float(angles[index])})
    with h5py.File(path, "r+") as f:
        control = f["/entry/instrument/detector/image_key_control"]
        control[-3:] = -1
    plan = reco.plan(reco.RecoOptions(projections=path, axis=AXIS, region="2:7", output=str(tmp_path / "o-%05i.tif")))
    assert plan.projections == N
    reco.run(plan)
    expected = np.stack([tifffile.imread(tmp_path / f"o-{row:05d}.tif") for row in range(2, 7)])  # named by row
    from ufo.core.registry import create

    engine = StreamingReconstructor(axis=AXIS, rows=ROWS, device="cpu")
    for frame in create("read", path=path)():
        engine.add(np.asarray(frame), dict(frame.meta))
    assert engine.stats.alignment == 3 and engine.stats.projections == N
    assert _relative(engine.finish(), expected) < 1e-5


def _lent(engine, angles, proj, darks, flats):
    """Every frame lent from a pool of 3 buffers: a buffer released is at once filled with garbage
    (as a reader refills it), so a release that comes before the engine took its band shows in
    the slices; returns the slices and how often each lent frame was released."""
    pool = [np.empty_like(proj[0]) for _ in range(3)]
    free = list(range(3))
    released: dict[int, int] = {}
    frames = [(f, {"image_key": 2}) for f in darks] + [(f, {"image_key": 1}) for f in flats] + \
        [(f, {"image_key": 0, "angle": float(a)}) for a, f in zip(angles, proj)]

    def release(number: int, slot: int) -> None:
        released[number] = released.get(number, 0) + 1
        pool[slot][...] = 65535 if number % 2 else 0  # garbage where the band was
        free.append(slot)

    for number, (frame, meta) in enumerate(frames):
        slot = free.pop(0)  # IndexError: the engine held more than it may
        pool[slot][...] = frame
        engine.add(pool[slot], meta, release=lambda n=number, s=slot: release(n, s))
    return engine.finish(), released, len(frames)


@pytest.mark.parametrize("case", ["regular", "irregular", "auto", "half"])
def test_lent_frames_give_the_slices_of_copied_ones(case):
    """ufo reco's resident path lends the reader's buffers (`add(..., release=)`) instead of the
    engine copying each band: the slices must be those of copied frames, bit for bit, on regular and
    irregular angles (the first band is kept to the end), with the axis searched (bands kept until
    it is found) and with half acquisition (corrected copies kept); each frame released once."""
    span = 2 * np.pi if case == "half" else np.pi
    angles, proj, darks, flats = _scan(span, n=2 * N if case == "half" else N)
    if case == "irregular":
        angles = np.sort(angles + np.random.default_rng(3).uniform(-0.3, 0.3, len(angles)) * np.pi / N)
    options = dict(axis="auto" if case == "auto" else (W - 8.5 if case == "half" else AXIS), rows=ROWS,
                   device="cpu", half_acquisition=case == "half")
    if case == "half":
        options["axis"] = AXIS  # the phantom's axis; pairs are stitched around it all the same
    copied = _stream(StreamingReconstructor(**options), angles, proj, darks, flats)
    lent, released, count = _lent(StreamingReconstructor(**options), angles, proj, darks, flats)
    assert np.array_equal(lent, copied)
    assert released == {n: 1 for n in range(count)}
    assert np.isfinite(copied).all() and np.abs(copied).max() > 0


def _feed_one_changed(engine, change, *, dtype=np.uint16, at=5):
    """Darks, flats and 20 projections of `dtype`, projection `at` passed through `change`."""
    for key, level in ((2, 10), (2, 10), (1, 1000), (1, 1000)):
        engine.add(np.full((8, 32), level, dtype), {"image_key": key})
    for i in range(20):
        frame = np.full((8, 32), 600, dtype)
        engine.add(change(frame) if i == at else frame, {"image_key": 0, "angle": i * np.pi / 20})


def test_a_frame_of_another_type_is_refused_and_a_non_finite_one_said():
    """An int32 frame with negative values was cast into the uint16 stream (wrapped: 20 % of the
    slice's range off), a NaN frame corrected into something finite but wrong, both without a word."""
    from ufo.tomo.streaming import StreamingReconstructor

    engine = StreamingReconstructor(axis=16.0, device="cpu")
    with pytest.raises(ValueError, match="frame 9 is int32, but the stream started with uint16: its values would be cast"):
        _feed_one_changed(engine, lambda f: f.astype(np.int32) - 70000)
    engine = StreamingReconstructor(axis=16.0, device="cpu")
    _feed_one_changed(engine, lambda f: f.astype(np.uint8))  # a type whose every value fits: taken
    engine.finish()
    assert engine.stats.warnings == []
    engine = StreamingReconstructor(axis=16.0, device="cpu")
    _feed_one_changed(engine, lambda f: np.where(np.arange(32) == 4, np.nan, f).astype(np.float32), dtype=np.float32)
    engine.finish()
    assert [w for w in engine.stats.warnings if w.startswith("frame 9 holds NaN or infinite values")]


@pytest.mark.parametrize("axis, half", [(5000.0, False), (-300.0, False), (63.5, True)])
def test_a_given_axis_off_the_detector_is_refused_at_the_first_frame(axis, half):
    """The online reconstruction took axis=5000 on 2048 pixels: every slice zero, no word (the Tango
    reconstruction server said ON)."""
    from ufo.tomo.streaming import StreamingReconstructor

    if axis < 0:  # no detector's: refused at once, before the darks are taken
        with pytest.raises(ValueError, match="no detector position"):
            StreamingReconstructor(axis=axis, half_acquisition=half)
        return
    engine = StreamingReconstructor(axis=axis, half_acquisition=half)
    with pytest.raises(ValueError, match=f"axis {axis} lies outside the detector"):
        engine.add(np.ones((4, 64), np.float32), {"image_key": 0, "angle": 0.0})


def test_the_reconstruction_server_s_status_carries_the_engine_s_warnings():
    """Its status said only "reconstructed N projection(s)": the engine's words (darks that came after
    projections were back-projected, say) were left out."""
    import types

    pytest.importorskip("tango")
    from ufo.tango.reco import UfoReconstruction
    from ufo.tomo.streaming import StreamingReconstructor

    class Frames(list):  # a receiver's frames, its stream whole
        check = types.SimpleNamespace(reports=[])

        def close(self):
            pass

    frames = Frames([(np.full((4, 32), 1000, np.uint16), {"image_key": 1}),
                     *[(np.full((4, 32), 600, np.uint16), {"image_key": 0, "angle": i * np.pi / 8}) for i in range(8)],
                     (np.full((4, 32), 100, np.uint16), {"image_key": 2})])  # a dark after the projections
    engine = StreamingReconstructor(axis=16.0)
    status = UfoReconstruction._run(types.SimpleNamespace(_received=0), engine, frames)
    assert engine.stats.warnings and all(w in status for w in engine.stats.warnings)
    assert status.startswith("reconstructed 8 projection(s) from 10 frame(s); warning: ")


@pytest.mark.parametrize("angle, said", [(1e300, "has angle 1e+300 rad"), (float("inf"), "has angle inf rad"),
                                         ("abc", "has angle 'abc', not a number")])
def test_an_angle_that_is_no_angle_is_refused_naming_the_frame(angle, said):
    """1e300 rad was taken (its cosine is noise, and the intervals weighting its neighbours grew
    without bound); a string failed as Python's 'could not convert string to float'."""
    engine = StreamingReconstructor(axis=8.0, device="cpu")
    engine.add(np.zeros((2, 16), np.uint16), {"image_key": 2})
    engine.add(np.full((2, 16), 100, np.uint16), {"image_key": 1})
    engine.add(np.full((2, 16), 50, np.uint16), {"image_key": 0, "angle": 0.0})
    with pytest.raises(ValueError, match=f"frame 3 \\(projection 1\\) {re.escape(said)}"):
        engine.add(np.full((2, 16), 50, np.uint16), {"image_key": 0, "angle": angle})
    engine.add(np.full((2, 16), 50, np.uint16), {"image_key": 0, "angle": 1000.0})  # a helical scan's: taken
