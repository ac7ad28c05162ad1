"""`ufo reco`'s GPU-resident path (ufo.reco.resident): every frame read once, streamed into slices
kept on the device. Its engine runs on the CPU too, so CI checks the path against the sinogram path
(an independent implementation: graph tasks, transposition, stacked kernels) and the phantom; the
GPU-marked tests check the real GPU run, file to file, and the integers converted on the GPU."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.core.errors import Cancelled, UsageError
from ufo.gpu import available
from ufo.reco import running
from ufo.reco.passes import resident_passes
from ufo.reco.planning import resident_reason
from ufo.reco.resident import early_reader, run_resident
from ufo.storage import open_writer
from ufo.tomo.phantom import Phantom
from ufo.tomo.timing import StageTimes

from .resident_scan import AXIS, DARK, FLAT, MU, N, H, W, write_scan
from .resident_scan import options as _options


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_scan(str(tmp_path_factory.mktemp("resident") / "scan.nx"))


@pytest.fixture(scope="module")
def odd_scans(tmp_path_factory):
    """Two scans the resident path must handle as the sinogram path does: irregular angles
    (jittered steps, weighted by interval) and a 360-degree half acquisition (axis near an edge)."""
    root = tmp_path_factory.mktemp("resident-odd")
    phantom = Phantom(W, height=H)
    rng = np.random.default_rng(2)
    scans = {}
    jitter = np.sort(np.arange(N) * np.pi / N + rng.uniform(-0.3, 0.3, N) * np.pi / N)
    for name, angles, axis in (("irregular", jitter, AXIS), ("half", np.arange(2 * N) * np.pi / N, W - 12.5)):
        path = str(root / f"{name}.nx")
        with open_writer(path, overwrite=True) as writer:
            for key, level in ((2, DARK), (1, FLAT)):
                for _ in range(2):
                    writer.write(np.full((H, W), level, np.uint16), {"image_key": key})
            for angle in angles:
                frame = DARK + (FLAT - DARK) * np.exp(-MU * phantom.projection(angle, axis=axis))
                writer.write(np.clip(np.rint(frame), 0, None).astype(np.uint16), {"image_key": 0, "angle": angle})
        scans[name] = (path, axis)
    return scans


@pytest.mark.parametrize("auto", [False, True], ids=["axis-given", "axis-auto"])
@pytest.mark.parametrize("name", ["irregular", "half"])
def test_resident_equals_the_sinogram_path_on_odd_scans(odd_scans, tmp_path, name, auto):
    """With --axis auto the resident path finds the axis from the middle row it reads first
    (`Reader.middle_sinogram`), the sinogram path through its graph: the same axis, the same slices."""
    path, axis = odd_scans[name]
    kw = {"axis": "auto" if auto else str(axis), "half_acquisition": name == "half"}
    reference = reco.run(reco.plan(_options(path, tmp_path / "s.h5:/data", gpu_path="sinograms", **kw)))
    plan = reco.plan(_options(path, tmp_path / "r.h5:/data", **kw))
    assert (plan.angles is not None) == (name == "irregular")
    times = StageTimes()
    _, found, _ = run_resident(plan, times, None, running.writer, device="cpu")
    a, b = _read(tmp_path / "s.h5"), _read(tmp_path / "r.h5")
    assert a.shape == b.shape
    assert np.abs(a - b).max() / np.abs(a).max() < 2e-5
    # --profile's rows: the wait for the middle row apart from the search itself, only when searched
    assert ("middle row" in times.seconds, "axis search" in times.seconds) == (auto, auto)
    # --profile's timeline: each event once, in the order that cause and effect allow
    events = [event for event, _ in times.timeline()]
    order = ["first frame read", "last frame read", "slices complete", "first slices to the writer",
             "last slices to the writer", "slices written"]
    assert [e for e in events if e in order] == order and "engine ready" in events
    assert ("axis found" in events) == auto
    if auto:
        assert found == pytest.approx(reference.axis, abs=1e-6) and abs(found - axis) < 0.5


@pytest.mark.parametrize("name", ["irregular", "half"])
def test_axis_auto_in_passes_on_odd_scans_equals_the_sinogram_path(odd_scans, tmp_path, name):
    """In passes the middle row is read before the first pass (resident_sample.middle_axis): the
    same axis and slices as the sinogram path, irregular angles and a half acquisition too."""
    path, axis = odd_scans[name]
    kw = {"axis": "auto", "half_acquisition": name == "half", "pass_height": 7}
    reference = reco.run(reco.plan(_options(path, tmp_path / "s.h5:/data", gpu_path="sinograms", **kw)))
    plan = reco.plan(_options(path, tmp_path / "r.h5:/data", **kw))
    times = StageTimes()
    _, found, _ = run_resident(plan, times, None, running.writer, device="cpu")
    a, b = _read(tmp_path / "s.h5"), _read(tmp_path / "r.h5")
    assert a.shape == b.shape and np.abs(a - b).max() / np.abs(a).max() < 2e-5
    assert found == pytest.approx(reference.axis, abs=1e-6) and abs(found - axis) < 0.5
    assert "axis found" in times.marks and "slices complete (pass 1 of 3)" in times.marks


def _resident(path, output, early=False, times=None, **kw):
    plan = reco.plan(_options(path, output, **kw))
    handles = []
    result = run_resident(plan, times if times is not None else StageTimes(),
                          lambda h, _: handles.append(h), running.writer, device="cpu",
                          early=early_reader(plan) if early else None)
    return result, handles


def _read(output):
    with h5py.File(str(output).split(":")[0]) as f:
        return f["data"][:]


@pytest.mark.parametrize("kw", [{}, {"axis": "auto"}, {"region": "2:19:4"}, {"roi": (10, 14, 60, 50)},
                                {"output_bits": 16}, {"pass_height": 7}, {"early": True},
                                {"pass_height": 7, "early": True, "axis": "auto"},
                                {"pass_height": 7, "output_bits": 16}, {"pass_height": 6, "output_bits": 8, "early": True},
                                {"pass_height": 6, "axis": "auto", "output_bits": 16}],
                         ids=["given", "auto", "region", "roi", "bits16", "passes", "early", "early-passes",
                              "passes-bits16", "early-passes-bits8", "passes-auto-bits16"])
def test_resident_equals_the_sinogram_path(scan, tmp_path, kw):
    path, _ = scan
    kw = dict(kw)
    early = kw.pop("early", False)
    reference = reco.run(reco.plan(_options(path, tmp_path / "s.h5:/data", gpu_path="sinograms", **kw)))
    times = StageTimes()
    (plan, axis, handles), _ = _resident(path, tmp_path / "r.h5:/data", early=early, times=times, **kw)
    # in passes the scale and the axis come from rows read before the first pass (resident_sample)
    assert ("scale found" in times.marks) == ("output_bits" in kw and "pass_height" in kw)
    assert ("middle row read" in times.marks) == (kw.get("axis") == "auto" and "pass_height" in kw)
    # the inputs are closed while the last slices are written, by a thread that ends with the run
    assert "inputs closed" in times.marks and not [t for t in threading.enumerate() if t.name == "ufo:reco-close"]
    a, b = _read(tmp_path / "s.h5"), _read(tmp_path / "r.h5")
    assert a.shape == b.shape and a.dtype == b.dtype
    if kw.get("output_bits") in (8, 16):
        assert np.abs(a.astype(int) - b).max() <= 1  # one scale, from the same sample rows
        with h5py.File(tmp_path / "s.h5") as f, h5py.File(tmp_path / "r.h5") as g:
            for key in ("scale_min", "scale_max"):  # the stored scale itself, not only the integers
                assert g["data"].attrs[key] == pytest.approx(f["data"].attrs[key], rel=1e-5)
    else:
        assert np.abs(a - b).max() / np.abs(a).max() < 2e-5
        assert np.abs(a[:, ::-1] - b).max() / np.abs(a).max() > 0.05  # a mirrored slice fails
    assert axis == pytest.approx(reference.axis, abs=1e-6)
    if kw.get("axis") == "auto":
        assert abs(axis - AXIS) < 0.3


@pytest.mark.parametrize("kw", [{}, {"pass_height": 7}, {"region": "3:18:2"}], ids=["one-pass", "passes", "region"])
def test_the_middle_row_for_the_hints_is_the_one_the_sinogram_path_reads(scan, tmp_path, kw):
    """`ufo reco`'s quality hints take the middle row's sinogram from the resident run (no second
    read): it must be the row, corrected as, the sinogram path's flat-field task and transposition
    make it (an independent path), and a neighbouring row must not pass."""
    _check_the_middle_row(scan, tmp_path, kw, "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("kw", [{}, {"axis": "auto"}], ids=["given", "auto"])
def test_the_middle_row_for_the_hints_on_the_gpu_is_the_one_the_sinogram_path_reads(scan, tmp_path, kw):
    """On the GPU the hints' row is corrected there (no numba import), in the hints' own thread."""
    _check_the_middle_row(scan, tmp_path, kw, "gpu")


def _check_the_middle_row(scan, tmp_path, kw, device):
    from ufo.core.registry import create
    from ufo.reco.planning import Pass

    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "r.h5:/data", **kw))
    got = []
    run_resident(plan, StageTimes(), None, running.writer, device=device,
                 middle_row=got.append)
    assert len(got) == 1
    made = []
    thread = threading.Thread(target=lambda: made.append(got[0]()))  # the hints' thread, as in `ufo reco`
    thread.start()
    thread.join(60)
    row = plan.rows[len(plan.rows) // 2]

    def sinogram(r):
        frames = running.corrected(plan, Pass(r, 1, 1, slice(0, 1), 0), True)
        return create("transpose-projections", number=plan.projections)(frames).collect()[0]

    made, reference = made[0], sinogram(row)
    assert isinstance(made, np.ndarray) and made.shape == reference.shape == (N, W)
    np.testing.assert_allclose(made, reference, rtol=1e-5, atol=1e-6)
    assert np.abs(made - sinogram(row + 1)).max() > 10 * np.abs(made - reference).max() + 1e-3


def test_resident_slices_match_the_phantom(scan, tmp_path):
    """Against the phantom (tests/reference.py): within 1.1 x scikit-image's error on the same data,
    at the same position; mirrored, shifted, scaled and constant slices fail the same check."""
    from .reference import assert_matches, line_integrals

    path, phantom = scan
    _resident(path, tmp_path / "r.h5:/data")
    row = H // 2
    with h5py.File(path) as f:
        data = f["entry/instrument/detector/data"][:, row].astype(np.float64)
        keys = f["entry/instrument/detector/image_key"][:]
    sino = line_integrals(data[keys == 0], data[keys == 2], data[keys == 1])
    truth = MU * phantom.slice(z=row - H / 2, size=W)  # row r is the plane z = r - height / 2
    assert_matches(_read(tmp_path / "r.h5")[row], truth, sino, np.arange(N) * np.pi / N, AXIS)


def test_cancel_while_reading_stops_at_once_and_leaves_no_thread(scan, tmp_path):
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "c.h5:/data"))
    started = threading.Event()

    def on_start(handle, _):
        handle.cancel()  # the reading handle: a Ctrl-C or the GUI's stop before any slice exists
        started.set()

    with pytest.raises(Cancelled):
        run_resident(plan, StageTimes(), on_start, running.writer, device="cpu")
    assert started.is_set()
    assert not [t for t in threading.enumerate() if t.name in ("ufo:reco-read", "ufo:reco-download")]


def test_a_writer_stopped_between_passes_stops_the_run_and_leaves_no_thread(scan, tmp_path):
    """With several passes the writer starts while the first is read (`resident_output.Starting`);
    stopping it (its handle, as a Ctrl-C) stops the reading of the next pass, and no thread of the
    run (reader, download, the writer's start, the write graph) outlives it."""
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "c.h5:/data", pass_height=7))
    handles = []

    def on_start(handle, _):
        handles.append(handle)
        if len(handles) == 2:  # the write graph, handed over once the first pass is read
            handle.cancel()

    with pytest.raises(Cancelled):
        run_resident(plan, StageTimes(), on_start, running.writer, device="cpu")
    assert len(handles) == 2
    names = ("ufo:reco-read", "ufo:reco-download", "ufo:reco-output", "ufo:reco-ahead", "ufo:write", "ufo:feed")
    assert not [t.name for t in threading.enumerate() if t.name in names]


def test_which_plans_take_the_resident_path(scan, tmp_path):
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "p.h5:/data"))
    assert resident_reason(plan, 1) is None
    assert "GPU" in resident_reason(plan, 0) and "one GPU" in resident_reason(plan, 2)
    for kw, word in (({"remove_stripes": 21}, "stripes"), ({"method": "dfi"}, "dfi"),
                     ({"remove_outliers": 3.0}, "outliers"), ({"gpu_path": "sinograms"}, "sinograms")):
        assert word in resident_reason(reco.plan(_options(path, tmp_path / "p.h5:/data", **kw)), 1)
    with pytest.raises(UsageError, match="resident is not possible.*GPU"):
        reco.run(reco.plan(_options(path, tmp_path / "p.h5:/data", gpu_path="resident")))


def test_passes_are_sized_to_the_device_memory(scan, tmp_path):
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "p.h5:/data"))
    assert len(resident_passes(plan, 2**40)) == 1
    per_row = W * W * 4 + 2 * 32 * W * 2 + 2 * 32 * W * 8
    small = resident_passes(plan, int(per_row * 8 / 0.8) + 1)  # 8 rows fit: passes of 4, two at once
    assert [p.rows for p in small] == [4] * 5 and [p.first_slice for p in small] == [0, 4, 8, 12, 16]  # small bands: even
    assert [p.first_row for p in small] == [plan.rows[p.first_slice] for p in small]
    with pytest.raises(UsageError, match="does not fit"):
        resident_passes(plan, 1000)


def test_prescaled_integers_are_stored_as_they_are_with_the_scale(tmp_path):
    from ufo.core import Graph
    from ufo.core.memory import Feed
    from ufo.core.registry import create

    frames = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5) * 1000
    feed = Feed(shape=(4, 5), dtype=np.uint16, count=2)
    out = create("write", path=str(tmp_path / "i.h5:/data"), bits=16, minimum=-1.0, maximum=3.0, prescaled=True)
    handle = Graph([out(feed())]).run(device="cpu")
    for frame in frames:
        feed.put(frame)
    feed.close()
    handle.wait()
    with h5py.File(tmp_path / "i.h5") as f:
        np.testing.assert_array_equal(f["data"][:], frames)
        assert f["data"].attrs["scale_min"] == -1.0 and f["data"].attrs["scale_max"] == 3.0


@pytest.mark.parametrize("kw", [{}, {"axis": "auto"}, {"output_bits": 16}, {"pass_height": 6},
                                {"pass_height": 6, "output_bits": 16}, {"pass_height": 6, "axis": "auto"}],
                         ids=["given", "auto", "bits16", "passes", "passes-bits16", "passes-auto"])
@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_resident_run_equals_the_sinogram_path(scan, tmp_path, kw):
    path, _ = scan
    options = dict(gpus="all", **kw)
    ref = reco.run(reco.plan(_options(path, tmp_path / "s.h5:/data", gpu_path="sinograms", **options)))
    got = reco.run(reco.plan(_options(path, tmp_path / "r.h5:/data", gpu_path="resident", **options)))
    assert got.path == "resident" and ref.path == "sinograms"
    a, b = _read(tmp_path / "s.h5"), _read(tmp_path / "r.h5")
    if kw.get("output_bits") == 16:
        assert b.dtype == np.uint16 and np.abs(a.astype(int) - b).max() <= 1
        with h5py.File(tmp_path / "s.h5") as f, h5py.File(tmp_path / "r.h5") as g:
            assert g["data"].attrs["scale_max"] == pytest.approx(f["data"].attrs["scale_max"], rel=1e-4)
    else:
        assert np.abs(a - b).max() / np.abs(a).max() < 1e-4
        assert np.abs(a[:, ::-1] - b).max() / np.abs(a).max() > 0.05
    assert got.axis == pytest.approx(ref.axis, abs=0.05)


@pytest.mark.parametrize("name", ["irregular", "half"])
@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_resident_run_on_odd_scans_equals_the_sinogram_path(odd_scans, tmp_path, name):
    path, axis = odd_scans[name]
    kw = {"axis": str(axis), "half_acquisition": name == "half", "gpus": "all"}
    ref = reco.run(reco.plan(_options(path, tmp_path / "s.h5:/data", gpu_path="sinograms", **kw)))
    got = reco.run(reco.plan(_options(path, tmp_path / "r.h5:/data", gpu_path="resident", **kw)))
    assert got.path == "resident" and ref.path == "sinograms"
    a, b = _read(tmp_path / "s.h5"), _read(tmp_path / "r.h5")
    assert a.shape == b.shape and np.abs(a - b).max() / np.abs(a).max() < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_integers_are_the_cpu_writers_integers():
    import cupy

    from ufo.kernels.cuda_convert import scale_to_integers_gpu
    from ufo.storage.convert import to_bits

    values = np.random.default_rng(0).normal(0.5, 1.0, (3, 64, 64)).astype(np.float32)
    values[0, 0, :4] = [np.nan, np.inf, -np.inf, 0.5]
    for bits in (8, 16):
        got = scale_to_integers_gpu(cupy.asarray(values), bits, -1.0, 2.0).get()
        np.testing.assert_array_equal(got, to_bits(values, bits, -1.0, 2.0))


def test_a_work_handle_is_stopped_like_a_graph():
    """core.handle.WorkHandle: the reading loop's handle; cancel() reaches the loop, stop_all()
    (what a command's Ctrl-C calls) finds it while it runs, wait() reports the cancel."""
    from ufo.core.handle import WorkHandle, running, stop_all

    asked = threading.Event()
    handle = WorkHandle(asked.set)
    assert handle in running() and not handle.done
    assert stop_all(node_timeout=0.0) >= 1 and asked.is_set() and handle.cancelled
    handle.end()
    assert handle.done and handle not in running()
    with pytest.raises(Cancelled):
        handle.wait(1)
    quiet = WorkHandle(lambda: None)
    quiet.end()
    assert quiet.wait(1) is quiet and not quiet.cancelled


def test_dry_run_says_which_path_and_why(scan, tmp_path):
    import subprocess
    import sys

    path, _ = scan
    base = [sys.executable, "-m", "ufo", "reco", "--projections", path, "--axis", str(AXIS), "--output",
            str(tmp_path / "d.h5:/data"), "--dry-run", "--gpus", "cpu"]
    plain = subprocess.run(base, capture_output=True, text=True)
    stripes = subprocess.run([*base, "--remove-stripes", "21"], capture_output=True, text=True)
    assert plain.returncode == stripes.returncode == 0, plain.stderr + stripes.stderr
    assert "path: sinograms (not resident: it needs a GPU)" in plain.stdout
    assert "not resident: --remove-stripes needs whole sinograms" in stripes.stdout
    assert not (tmp_path / "d.h5").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")
def test_dry_run_on_a_gpu_shows_the_resident_passes(scan, tmp_path):
    """On one GPU the plan's `passes:` line is the resident path's (not the sinogram path's)."""
    import subprocess
    import sys

    path, _ = scan
    got = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", path, "--axis", str(AXIS), "--output",
                          str(tmp_path / "d.h5:/data"), "--dry-run", "--pass-height", "7"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    assert "path: resident (one GPU)" in got.stdout
    heights = [7] * (H // 7) + ([H % 7] if H % 7 else [])
    assert f"passes: {len(heights)} of {', '.join(map(str, heights))} rows" in got.stdout
