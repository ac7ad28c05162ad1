"""Files changed by another program while ufo reads or writes them (a probe of 2026-12-05): an HDF5
input cut short or rewritten during a read gave zero frames with exit 0; two writers of one TIFF
sequence wrote into each other's frames and both reported success."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from ufo.core import InputError
from ufo.storage import open_source, open_writer

FRAMES = np.arange(40 * 64 * 64, dtype=np.uint16).reshape(40, 64, 64)


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "in.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=FRAMES, chunks=(1, 64, 64))
    return path


def test_an_hdf5_input_cut_short_while_it_is_read_is_an_error(scan):
    source = open_source(f"{scan}:/d")
    try:
        assert np.array_equal(source.read(0, slice(None), None), FRAMES[0])
        os.truncate(scan, os.path.getsize(scan) // 2)
        with pytest.raises(InputError, match="was cut short while it was read"):
            for index in range(1, 40):  # HDF5 reads the frames past the cut as zeros
                source.read(index, slice(None), None)
    finally:
        source.close()


def test_an_hdf5_input_rewritten_while_it_is_read_is_an_error(scan):
    source = open_source(f"{scan}:/d")
    try:
        source.read(0, slice(None), None)
        with open(scan, "r+b") as f:  # another writer, in place: same size, other bytes
            f.seek(os.path.getsize(scan) // 2)
            f.write(b"\0" * 4096)
        with pytest.raises(InputError, match="was modified while it was read"):
            source.read(1, slice(None), np.empty((64, 64), np.uint16))
    finally:
        source.close()


def test_an_hdf5_input_replaced_by_a_rename_is_read_as_it_was_opened(scan):
    """A new file renamed over it (as rsync and most tools write) is another inode: the open one is
    read whole, as it was, without an error."""
    source = open_source(f"{scan}:/d")
    try:
        source.read(0, slice(None), None)
        shutil.copy(scan, str(scan) + ".new")
        with h5py.File(str(scan) + ".new", "a") as f:
            f["d"][...] = 0
        os.replace(str(scan) + ".new", scan)
        assert np.array_equal(np.stack([source.read(i, slice(None), None) for i in range(40)]), FRAMES)
    finally:
        source.close()


def test_a_second_writer_of_one_tiff_sequence_is_refused_and_the_lock_goes_with_the_first(tmp_path):
    pattern = str(tmp_path / "seq" / "s-%04i.tif")
    first = open_writer(pattern)
    try:
        first.write(FRAMES[0], {})
        code = ("import sys; from ufo.storage import open_writer\n"
                "try:\n    open_writer(sys.argv[1], overwrite=True)\n"
                "except Exception as exc:\n    print(exc); sys.exit(3)\n")
        other = subprocess.run([sys.executable, "-c", code, pattern], capture_output=True, text=True, timeout=60)
        assert other.returncode == 3 and "is being written by another process" in other.stdout, other
        first.write(FRAMES[1], {})
    finally:
        first.close()
    assert sorted(os.listdir(tmp_path / "seq")) == ["s-0000.tif", "s-0001.tif"]  # no lock file left
    second = open_writer(pattern, overwrite=True)
    second.write(FRAMES[2], {})
    second.close()
    assert np.array_equal(tifffile.imread(tmp_path / "seq" / "s-0000.tif"), FRAMES[2])
