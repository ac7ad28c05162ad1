"""The resident path's reader (ufo.reco.resident_reader): runs of whole frames, bands of a pass,
inputs shared across passes, the early reader's rows and its stop."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.reco.passes import resident_passes
from ufo.reco.planning import Pass, scan_angles
from ufo.reco.resident import early_reader
from ufo.reco.resident_reader import _END, Reader, Sources, run_length

from .resident_scan import H, write_scan
from .resident_scan import options as _options


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_scan(str(tmp_path_factory.mktemp("resident") / "scan.nx"))


def test_a_closed_early_reader_stops_reading_at_once(scan, tmp_path):
    """An early reader has buffers for much of the scan, so it never waits for one; closed (a
    volume of several passes, a Ctrl-C while the GPU starts) it must still stop at the next
    frame, not read the scan to its end first (it did: 2.3 s of a 1024^3 run on the H200 host)."""
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "e.h5:/data"))
    reader = Reader(plan, Pass(0, H, 1, slice(0, H), 0), scan_angles(plan), ahead=10_000)
    reader.stop.set()  # closed before its first frame (close() is stop.set() and a join)
    reader.thread.start()
    reader.close()
    frames = []
    while (item := reader.queue.get()) is not _END:
        frames.append(item)
    assert not frames, f"{len(frames)} frames read after close()"


def test_the_reader_reads_whole_frames_64_mib_at_a_time(scan, tmp_path):
    """Runs of whole frames: 64 MiB a call (32 frames of 1024^2 uint16, 6 of 2560 x 2160), with two
    runs' worth of buffers."""
    assert run_length(1024 * 1024 * 2) == 32 and run_length(2560 * 2160 * 2) == 6
    assert run_length(4096 * 4096 * 4) == 1 and run_length(64 * 64 * 2) == 32
    path, _ = scan
    with h5py.File(path, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        data = f["/entry/instrument/detector/data"][()][keys == 0]
    plan = reco.plan(_options(path, tmp_path / "r.h5:/data"))
    whole = Reader(plan, Pass(0, H, 1, slice(0, H), 0), scan_angles(plan))
    u16 = np.dtype(np.uint16)
    assert whole._run_of(u16) == 32 and whole._ahead(u16) == 64
    assert Reader(plan, Pass(0, H, 1, slice(0, H), 0), scan_angles(plan), run=8)._run_of(u16) == 8
    whole.thread.start()  # and what it reads is every frame, in order, whole
    got = [(meta["image_key"], frame.copy(), whole.recycle(buffer)) for frame, meta, buffer in whole.frames()]
    whole.close()
    assert [k for k, _, _ in got].count(0) == plan.projections
    assert np.array_equal(np.stack([f for k, f, _ in got if k == 0]), data)


@pytest.mark.parametrize("ahead", [None, 1])
def test_a_band_is_read_in_blocks_each_free_once_every_frame_came_back(scan, tmp_path, ahead):
    """A pass's band of rows: `run` frames with one copy into a block, lent frame by frame; a block
    is refilled only once all its frames came back. The consumer here holds each frame until the
    next one arrived (as the engine's weights do) and checks it again when handing it back: a
    block reused early (`ahead=1` leaves two blocks) would have overwritten it."""
    path, _ = scan
    with h5py.File(path, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        data = f["/entry/instrument/detector/data"][()][keys == 0][:, 3:11]
    plan = reco.plan(_options(path, tmp_path / "b.h5:/data"))
    reader = Reader(plan, Pass(3, 8, 1, slice(0, 8), 0), scan_angles(plan), ahead=ahead, run=16 if ahead else None)
    reader.thread.start()
    held, got, blocks = None, [], set()
    for frame, meta, buffer in reader.frames():
        assert type(buffer).__name__ == "_Block"
        blocks.add(id(buffer))
        if held is not None:
            assert np.array_equal(held[0], held[2]), "a held frame was overwritten before it came back"
            reader.recycle(held[1])
        if meta["image_key"] == 0:
            got.append(frame.copy())
        held = (frame, buffer, frame.copy())
    reader.recycle(held[1])
    reader.close()
    assert np.array_equal(np.stack(got), data)
    assert len(blocks) == 2  # two runs' worth (`ahead` None: 64 frames) or the least there may be


def _projections(reader):
    """The projections a started reader reads (copies; each buffer handed back)."""
    out = []
    for frame, meta, buffer in reader.frames():
        if meta["image_key"] == 0:
            out.append(frame.copy())
        reader.recycle(buffer)
    return out


def test_the_passes_share_inputs_opened_once(scan, tmp_path):
    """`Sources`: each (file, image key) opened once for all passes, closed once at the end; two
    passes' readers read the same frames' bands through them."""
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "s.h5:/data"))
    sources = Sources()
    first = sources.get(path, None)
    assert sources.get(path, None) is first and sources.get(path, 0) is not first
    bands = []
    for p in (Pass(0, 10, 1, slice(0, 10), 0), Pass(10, 10, 1, slice(10, 20), 10)):
        reader = Reader(plan, p, scan_angles(plan), sources=sources)
        reader.thread.start()
        bands.append(_projections(reader))
        reader.close()
        projections = sources.get(path, 0)  # still open after the pass: it reads
        assert np.array_equal(projections.read(0, slice(0, 10), None), bands[0][0])
    whole = Reader(plan, Pass(0, H, 1, slice(0, H), 0), scan_angles(plan))
    whole.thread.start()
    frames = _projections(whole)
    whole.close()
    assert np.array_equal(np.concatenate([np.stack(bands[0]), np.stack(bands[1])], axis=1), np.stack(frames))
    sources.close()
    assert not sources._open


def test_with_a_pass_height_the_early_reader_reads_the_first_pass(scan, tmp_path):
    """--pass-height decides the bands before the GPU is up: the early reader reads the first
    band (run_resident keeps it) instead of every row (which it closed, its reads wasted)."""
    path, _ = scan
    plan = reco.plan(_options(path, tmp_path / "p.h5:/data", pass_height=7, axis="auto"))
    reader = early_reader(plan)
    try:
        assert reader.p == resident_passes(plan, 0)[0] == resident_passes(plan, 2**40)[0]
        assert reader.p.rows == 7 and reader.middle_index is None  # the axis: the middle row read first
    finally:
        reader.close()
    whole = early_reader(reco.plan(_options(path, tmp_path / "w.h5:/data")))
    try:
        assert whole.p.rows == H
    finally:
        whole.close()
