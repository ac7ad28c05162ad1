"""HDF5 files cut short (a copy stopped part-way, a disk or quota met under another tool's writer).

h5py refused them outright ("truncated file: eof = ... stored_eof = ..."), so a scan whose frames
up to the cut were whole could not be read at all; opened in SWMR mode, which skips that check,
frames past the cut read as zeros without a word. Now the frames stored wholly before the cut
are read, and the reader says how many of how many.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from ufo.storage import open_source

FRAME = 64 * 64 * 2


@pytest.mark.parametrize("libver", ["earliest", "latest"])
@pytest.mark.parametrize("chunks", [(1, 64, 64), None], ids=["chunked", "contiguous"])
def test_a_stack_cut_short_reads_its_whole_frames_and_says_so(tmp_path, chunks, libver):
    """h5py's default format (superblock 0: most writers') as well as SWMR's (superblock 3)."""
    path = tmp_path / "cut.h5"
    with h5py.File(path, "w", libver=libver) as f:
        data = f.create_dataset("data", (10, 64, 64), np.uint16, chunks=chunks)
        for i in range(10):
            data[i] = i + 1
    os.truncate(path, os.path.getsize(path) - int(1.5 * FRAME))  # the last frame and half the one before
    with pytest.raises(OSError, match="truncated file"):
        h5py.File(path, "r")
    source = open_source(str(path))
    try:
        assert source.count == 8 and "reading the 8 of its 10 frame(s)" in " ".join(source.warnings)
        assert [int(source.read(i, slice(None), None)[-1, -1]) for i in range(8)] == list(range(1, 9))
    finally:
        source.close()


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_an_nxtomo_scan_cut_short_keeps_its_darks_flats_and_the_projections_before_the_cut(tmp_path, libver):
    path = tmp_path / "scan.nx"
    keys = [2] * 2 + [1] * 2 + [0] * 8
    with h5py.File(path, "w", libver=libver) as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = entry.create_group("instrument/detector")
        data = detector.create_dataset("data", (12, 64, 64), np.uint16, chunks=(1, 64, 64))
        for i in range(12):
            data[i] = i + 1
        detector["image_key"] = np.array(keys, np.int32)
        entry["sample/rotation_angle"] = np.concatenate([np.zeros(4), np.arange(8) * 22.5])
    os.truncate(path, os.path.getsize(path) - 3 * FRAME)
    projections = open_source(str(path), image_key=0)
    darks = open_source(str(path), image_key=2)
    try:
        assert darks.count == 2 and projections.count < 8
        values = [int(projections.read(i, slice(None), None)[-1, -1]) for i in range(projections.count)]
        assert values == list(range(5, 5 + projections.count))
        assert any("cut short" in w for w in projections.warnings)
    finally:
        projections.close()
        darks.close()


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.6])
def test_a_swmr_file_cut_through_its_records_is_refused_or_read_at_once_never_hangs(tmp_path, fraction):
    """A file written as SWMR writers write it (superblock v3, frames appended), cut through its
    metadata: opened in SWMR mode, HDF5 retried reading it for good (Ctrl-C and SIGTERM did not
    stop it: a probe). Now it opens as any file, its missing end read as zeros."""
    import subprocess
    import sys

    whole, cut = tmp_path / "whole.h5", tmp_path / "cut.h5"
    with h5py.File(whole, "w", libver="latest") as f:
        data = f.create_dataset("data", (0, 16, 32), np.uint16, maxshape=(None, 16, 32), chunks=(1, 16, 32))
        f.swmr_mode = True
        for i in range(40):
            data.resize(i + 1, axis=0)
            data[i] = i + 1
            data.flush()
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * fraction)])
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"read path={cut} ! null"], capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in done.stderr
    assert done.returncode in (1, 2) or "cut short" in done.stderr, done.stderr
