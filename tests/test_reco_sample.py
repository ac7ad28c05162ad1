"""Rows read before a resident run's first pass (ufo.reco.resident_rows) and what is made of them
(ufo.reco.resident_sample): the rows read are the scan's rows (plain and compressed HDF5), the
8/16-bit scale and the --axis auto axis equal the sinogram path's, and a stopped run stops the
reading."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.core.errors import Cancelled
from ufo.reco.outputs import sample_passes, with_output_scale
from ufo.reco import running
from ufo.reco.resident import _engine
from ufo.reco.resident_reader import Sources
from ufo.reco.resident_sample import SampleScale, middle_axis
from ufo.storage import open_writer
from ufo.tomo.timing import StageTimes

from .resident_scan import AXIS, write_scan
from .resident_scan import options as _options


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """The scan as written (each sample row one positioned read) and gzip-compressed (frame by frame)."""
    root = tmp_path_factory.mktemp("sample")
    plain = write_scan(str(root / "scan.nx"))[0]
    packed = str(root / "packed.nx")
    with h5py.File(plain, "r", locking=False) as f:
        data = f["entry/instrument/detector/data"][:]
        keys = f["entry/instrument/detector/image_key"][:]
        angles = f["entry/sample/rotation_angle"][:]
    with open_writer(packed, overwrite=True, compression="gzip") as writer:
        for frame, key, angle in zip(data, keys, angles):
            writer.write(frame, {"image_key": int(key), **({"angle": float(np.deg2rad(angle))} if key == 0 else {})})
    return {"plain": plain, "gzip": packed}


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_the_sample_rows_are_the_scans_rows_and_give_the_sinogram_paths_scale(scans, tmp_path, kind):
    scan = scans[kind]
    plan = reco.plan(_options(scan, tmp_path / "o.h5:/data", output_bits=16, pass_height=5))
    (p,) = sample_passes(plan)
    rows = list(range(p.first_row, p.first_row + p.rows * p.step, p.step))
    assert len(rows) > 4 and rows[0] < 5 and rows[-1] > 14  # spread over the height, not the first pass's
    sources, times = Sources(), StageTimes()
    try:
        sample = SampleScale(plan, sources, times)
        sample.rows.wait()
        assert "scale sample read" in times.marks
        with h5py.File(scan, "r", locking=False) as f:  # ufo has it open (without locking)
            data = f["entry/instrument/detector/data"][:]
            keys = f["entry/instrument/detector/image_key"][:]
        for kind, frames in sample.rows.frames:
            np.testing.assert_array_equal(frames, data[keys == kind][:, rows])
        scaled = sample.scaled(lambda: _engine(plan, plan.axis, "cpu"))
    finally:
        sources.close()
    reference = with_output_scale(plan, plan.axis, running.graph)  # the sinogram path's sample
    assert scaled.options.output_min == pytest.approx(reference.options.output_min, rel=1e-5, abs=1e-9)
    assert scaled.options.output_max == pytest.approx(reference.options.output_max, rel=1e-5)
    assert scaled.options.output_max > scaled.options.output_min
    assert "scale found" in times.marks


def test_a_stopped_run_stops_the_sample_read(scans, tmp_path):
    scan = scans["plain"]
    plan = reco.plan(_options(scan, tmp_path / "o.h5:/data", output_bits=8, pass_height=5))
    stop = threading.Event()
    stop.set()
    sources = Sources()
    try:
        sample = SampleScale(plan, sources, StageTimes(), stop)
        sample.rows.thread.join(30)
        assert not sample.rows.thread.is_alive()
        with pytest.raises(Cancelled):
            sample.scaled(lambda: _engine(plan, plan.axis, "cpu"))
        sample.close()  # twice is fine
    finally:
        sources.close()


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_the_axis_from_the_middle_row_read_first_is_the_sinogram_paths(scans, tmp_path, kind):
    plan = reco.plan(_options(scans[kind], tmp_path / "o.h5:/data", axis="auto", pass_height=5))
    sources, times = Sources(), StageTimes()
    try:
        axis, middle = middle_axis(plan, sources, times, "cpu")
    finally:
        sources.close()
    assert axis == pytest.approx(running.find_axis(plan), abs=1e-6)
    assert abs(axis - AXIS) < 0.3  # and the scan's own
    with h5py.File(scans[kind], "r", locking=False) as f:
        row = f["entry/instrument/detector/data"][:, plan.rows[len(plan.rows) // 2]]
        keys = f["entry/instrument/detector/image_key"][:]
    np.testing.assert_array_equal(np.concatenate([band for _, _, band in middle.kept]), row[keys == 0])
    assert {"middle row read", "axis found"} <= set(times.marks)
