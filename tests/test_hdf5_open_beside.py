"""A scan looked at with h5py in a notebook, then read by ufo in the same process: HDF5 refused the
second open ("file locking flag values don't match": ufo opens without locks) until the notebook
closed its handle."""

from __future__ import annotations

import h5py
import numpy as np

import ufo
from ufo.storage import open_source


def test_a_file_held_open_by_h5py_in_this_process_is_read(tmp_path):
    path = str(tmp_path / "s.h5")
    frames = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    with h5py.File(path, "w") as f:
        f["data"] = frames
    held = h5py.File(path, "r")  # HDF5's default locks, as a notebook opens it
    try:
        np.testing.assert_array_equal(ufo.Reader(path=path + ":/data")().collect(), frames)
    finally:
        held.close()


def test_an_nxtomo_held_open_by_h5py_gives_its_layout_and_angles(tmp_path):
    path = str(tmp_path / "s.nx")
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = f.create_group("entry/instrument/detector")
        detector["data"] = np.ones((6, 4, 4), np.float32)
        detector["image_key"] = np.array([2, 1, 0, 0, 0, 0], np.int32)
        f["entry/sample/rotation_angle"] = np.array([0, 0, 0, 45, 90, 135], np.float64)
        f["entry/sample/rotation_angle"].attrs["units"] = "degree"
    held = h5py.File(path, "r")
    try:
        source = open_source(path, image_key=0)
        try:
            assert source.count == 4
            np.testing.assert_allclose(source.angles, np.radians([0, 45, 90, 135]))
        finally:
            source.close()
    finally:
        held.close()
