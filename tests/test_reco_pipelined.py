"""`ufo reco`'s passes pipelined into one writer (ufo.reco.pipelined): the same slices as one pass,
in row order, every error raised, a cancel stopping every pass, no thread left behind."""

from __future__ import annotations

import threading
import time

import h5py
import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.core.errors import Cancelled
from ufo.tomo.phantom import Phantom

N_PIX, ROWS, ANGLES = 64, 20, 90
AXIS = N_PIX / 2 + 1.5
MU = 0.02


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelined")
    phantom = Phantom(N_PIX, height=ROWS)
    dark, gain = 100.0, 2000.0
    (root / "proj").mkdir()
    for i, angle in enumerate(np.arange(ANGLES) * np.pi / ANGLES):
        frame = dark + gain * np.exp(-MU * phantom.projection(angle, axis=AXIS))
        tifffile.imwrite(root / "proj" / f"proj-{i:04d}.tif", frame.astype(np.float32))
    tifffile.imwrite(root / "darks.tif", np.full((2, ROWS, N_PIX), dark, np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.full((2, ROWS, N_PIX), dark + gain, np.float32), photometric="minisblack")
    return root, phantom


def options(root, output, **kw):
    return reco.RecoOptions(projections=str(root / "proj"), darks=str(root / "darks.tif"),
                            flats=str(root / "flats.tif"), axis=str(AXIS), output=str(output), gpus="cpu",
                            replicas=2, **kw)


def ufo_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("ufo:reco-")]


def test_passes_give_the_slices_of_one_pass_in_row_order(scan, tmp_path):
    root, _ = scan
    one = reco.plan(options(root, tmp_path / "one.h5:/data", pass_height=ROWS))
    many = reco.plan(options(root, tmp_path / "many.h5:/data", pass_height=3))  # 7 passes, the last of 2 rows
    assert len(one.passes) == 1 and len(many.passes) == 7
    reco.run(one)
    result = reco.run(many)
    with h5py.File(tmp_path / "one.h5") as f1, h5py.File(tmp_path / "many.h5") as f2:
        a, b = f1["data"][:], f2["data"][:]
    np.testing.assert_array_equal(a, b)  # same steps, same order: bit for bit
    assert np.ptp(a[:, N_PIX // 2, N_PIX // 2]) > 0  # the rows differ, so a swapped pass would show
    front = [h for h in result.handles[1:]]
    assert len(front) == 7 and sum(s.frames_out for h in front for s in h.stats.values()
                                   if s.name == "transpose-projections") == ROWS
    assert ufo_threads() == []


def test_one_tiff_stack_is_written_by_one_writer(scan, tmp_path):
    root, _ = scan
    plan = reco.plan(options(root, tmp_path / "slices.tif", pass_height=5))
    reco.run(plan)
    with tifffile.TiffFile(tmp_path / "slices.tif") as tif:
        assert tif.is_imagej and not tif.is_bigtiff  # classic ImageJ: one writer knew the count
        assert len(tif.pages) == ROWS


def test_an_error_in_a_later_pass_is_raised_and_stops_everything(scan, tmp_path):
    root, _ = scan
    broken = tmp_path / "proj"
    broken.mkdir()
    for path in sorted((root / "proj").iterdir()):
        (broken / path.name).write_bytes(path.read_bytes())
    plan = reco.plan(reco.RecoOptions(projections=str(broken), darks=str(root / "darks.tif"),
                                      flats=str(root / "flats.tif"), axis=str(AXIS),
                                      output=str(tmp_path / "out.h5:/data"), gpus="cpu", pass_height=4))
    victim = broken / "proj-0050.tif"
    victim.write_bytes(victim.read_bytes()[:200])  # cut short after planning: every pass fails at frame 50
    started = time.perf_counter()
    with pytest.raises(Exception, match="proj-0050"):
        reco.run(plan)
    assert time.perf_counter() - started < 60  # failed, did not hang
    assert ufo_threads() == []


def test_a_cancel_stops_the_passes_read_ahead(scan, tmp_path):
    root, _ = scan
    plan = reco.plan(options(root, tmp_path / "out.h5:/data", pass_height=2))

    def cancel(handle, before):
        threading.Timer(0.05, handle.cancel).start()

    with pytest.raises(Cancelled):
        reco.run(plan, on_start=cancel)
    assert ufo_threads() == []


def test_a_cancel_while_a_pass_is_still_read_stops_at_once(scan, tmp_path):
    """The back graph cancelled while the feeder waits for a pass that is still being read (a
    Ctrl-C early in a large pass): the run ends at once, and the reading is stopped too."""
    from ufo.core.memory import Feed
    from ufo.core.registry import create
    from ufo.reco.pipelined import run_pipelined
    from ufo.reco.running import backprojected, writer
    from ufo.tomo.timing import StageTimes

    root, _ = scan
    plan = reco.plan(options(root, tmp_path / "out.h5:/data", pass_height=ROWS))
    read = []

    def slowly(feed, rows):  # a pass whose reading would take 30 s
        try:
            for _ in range(ANGLES):
                time.sleep(30 / ANGLES)
                feed.put(np.ones((rows, N_PIX), np.float32))
                read.append(1)
            feed.close()
        except Cancelled:  # the graph behind the feed stopped
            pass

    def sinograms(plan, p):
        feed = Feed(shape=(p.rows, N_PIX), count=ANGLES)
        threading.Thread(target=slowly, args=(feed, p.rows), daemon=True).start()
        return create("transpose-projections", number=ANGLES)(feed())

    started = time.perf_counter()
    with pytest.raises(Cancelled):
        run_pipelined(plan, lambda: (plan, AXIS), StageTimes(), lambda handle, before: handle.cancel(),
                      (sinograms, backprojected, writer))
    assert time.perf_counter() - started < 10
    time.sleep(0.5)
    count = len(read)
    time.sleep(0.5)
    assert len(read) == count < ANGLES  # the pass stopped being read
    assert ufo_threads() == []
