"""ufo's plain HDF5 layout keeps each frame's numbers beside the stack (`<name>_angle`, `<name>_image_key`):
they are read back as the scan's angles and frame kinds. A grab of 90 frames at 1 degree into 'scan.h5'
was reconstructed over 180 degrees (its recorded angles unread), the same frames in 'scan.nx' over 90."""

from __future__ import annotations

import math
import subprocess
import sys

import h5py
import numpy as np
import pytest

import ufo
from ufo.storage import open_source


def stack_file(path: str, stack: np.ndarray, units: str | None = None, written: int | None = None,
               **records: np.ndarray) -> str:
    """A plain stack at `path`:/data with `records` beside it (data_<key>), the angles' `units` and a
    laid-out volume's count of frames `written` where given; returns the reader's path."""
    from ufo.storage.formats import FRAMES_WRITTEN

    with h5py.File(path, "w") as f:
        f["data"] = stack
        for key, values in records.items():
            f[f"data_{key}"] = values
        if units is not None:
            f["data_angle"].attrs["units"] = units
        if written is not None:
            f["data" + FRAMES_WRITTEN] = np.array([written], np.int64)
    return path + ":/data"


def grab(out: str, number: int = 90) -> None:
    props = ["-p", "sensor-width=128", "-p", "sensor-height=4", "-p", "pattern=tomography", "-p", "angle-step=1deg"]
    subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", str(number), *props, "-o", out],
                   check=True, capture_output=True, timeout=120)


def test_a_plain_grab_is_reconstructed_at_its_recorded_angles_as_the_same_grab_in_nxtomo(tmp_path):
    plain, nexus = str(tmp_path / "s.h5"), str(tmp_path / "s.nx")
    grab(plain + ":/data")
    grab(nexus)
    with h5py.File(plain) as f:
        assert f["data_angle"].attrs["units"] == "rad"
    source = open_source(plain + ":/data")
    try:
        np.testing.assert_allclose(source.angles, np.radians(np.arange(90)), atol=1e-12)
    finally:
        source.close()
    slices = {}
    for name, path in (("plain", plain + ":/data"), ("nexus", nexus)):
        out = str(tmp_path / f"{name}.tif")
        done = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", path, "--axis", "64",
                               "--output", out, "--region", "0:2:1"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        import tifffile

        slices[name] = tifffile.imread(out)
    np.testing.assert_array_equal(slices["plain"], slices["nexus"])  # 90 degrees both, not 180 for the plain file


def test_angles_written_without_units_by_earlier_versions_are_radians_and_missing_ones_are_none(tmp_path):
    last_none = np.concatenate([np.linspace(0, math.pi / 2, 11), [np.nan]])  # the last frame had none
    source = open_source(stack_file(str(tmp_path / "old.h5"), np.zeros((12, 4, 6), np.float32), angle=last_none))
    try:
        assert source.count == 12
        np.testing.assert_allclose(source.angles[:11], np.linspace(0, math.pi / 2, 11), atol=1e-12)
        assert source.angles[11] is None
    finally:
        source.close()


def test_frames_written_without_an_angle_record_nan_not_zero(tmp_path):
    from ufo.storage.hdf5 import Hdf5Writer

    path = str(tmp_path / "w.h5")
    writer = Hdf5Writer(path, "/data")
    for i in range(4):  # frame 2 came without its angle
        writer.write(np.full((4, 6), i, np.float32), {"angle": 0.1 * i} if i != 2 else {})
    writer.close()
    with h5py.File(path) as f:
        stored = f["data_angle"][()]
    np.testing.assert_allclose(stored[[0, 1, 3]], [0.0, 0.1, 0.3])
    assert math.isnan(stored[2])


def test_image_keys_beside_a_plain_stack_select_its_darks_and_flats(tmp_path):
    keys = np.array([2, 2, 1, 1, 0, 0, 0, 0, 0, 1])
    path = stack_file(str(tmp_path / "k.h5"), np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 3, 5), np.float32),
                      image_key=keys, angle=np.linspace(0, 1, 10)).removesuffix(":/data")
    for key, expected in ((2, [0, 1]), (1, [2, 3, 9]), (0, [4, 5, 6, 7, 8])):
        frames = ufo.Reader(path=path + ":/data", image_key=key)().collect()
        assert [int(frame[0, 0]) for frame in frames] == expected
    projections = open_source(path + ":/data", image_key=0)
    try:
        np.testing.assert_allclose(projections.angles, np.linspace(0, 1, 10)[4:9])
    finally:
        projections.close()


def test_a_laid_out_volume_stopped_part_way_is_read_up_to_its_frames_with_their_angles(tmp_path):
    source = open_source(stack_file(str(tmp_path / "v.h5"), np.ones((10, 3, 5), np.float32), written=4,
                                    angle=np.linspace(0, 0.9, 10)))
    try:
        assert source.count == 4
        np.testing.assert_allclose(source.angles, np.linspace(0, 0.9, 10)[:4])
        assert any("4 complete frame(s) of the 10" in w for w in source.warnings), source.warnings
    finally:
        source.close()


@pytest.mark.parametrize("units", ["degree", "mrad"])
def test_units_recorded_with_the_angles_are_used(tmp_path, units):
    source = open_source(stack_file(str(tmp_path / "u.h5"), np.zeros((3, 2, 2), np.float32), units=units,
                                    angle=np.array([0.0, 10.0, 20.0])))
    try:
        factor = math.pi / 180 if units == "degree" else 1e-3
        np.testing.assert_allclose(source.angles, np.array([0.0, 10.0, 20.0]) * factor)
    finally:
        source.close()


def test_records_an_appending_writer_brings_start_at_its_own_frames(tmp_path):
    """A stack written without angles or keys, then appended with them: the records lined their first
    values up with frame 0 (the first writer's projections read as the second's darks and flats)."""
    from ufo.storage.hdf5 import Hdf5Writer

    path = str(tmp_path / "a.h5")
    writer = Hdf5Writer(path, "/data")
    for i in range(4):
        writer.write(np.full((4, 6), i, np.float32), {})
    writer.close()
    writer = Hdf5Writer(path, "/data", append=True)
    for i, key in enumerate([2, 1, 0]):
        writer.write(np.full((4, 6), 10 + i, np.float32), {"angle": 0.5 * i, "image_key": key})
    writer.close()
    source = open_source(path + ":/data")
    try:
        assert source.angles == [None] * 4 + [0.0, 0.5, 1.0]
    finally:
        source.close()
    darks = ufo.Reader(path=path + ":/data", image_key=2)().collect()
    assert [int(frame[0, 0]) for frame in darks] == [10]


@pytest.mark.parametrize("first", [0, np.float32(0.25)])
def test_an_angle_is_stored_as_a_float_whatever_the_type_of_the_first(tmp_path, first):
    """A first angle of 0 (an int, a JSON tag) or a float32 one made an int64 record: 0.4 rad read 0."""
    from ufo.storage.hdf5 import Hdf5Writer

    path = str(tmp_path / "f.h5")
    writer = Hdf5Writer(path, "/data")
    for i in range(4):
        writer.write(np.zeros((2, 2), np.float32), {"angle": first if i == 0 else 0.4 * i})
    writer.close()
    with h5py.File(path) as f:
        np.testing.assert_allclose(f["data_angle"][()], [float(first), 0.4, 0.8, 1.2], rtol=1e-6)


def test_another_tool_s_angles_in_degrees_without_units_are_not_taken_for_radians(tmp_path):
    source = open_source(stack_file(str(tmp_path / "deg.h5"), np.zeros((180, 2, 4), np.float32), angle=np.arange(180.0)))
    try:
        np.testing.assert_allclose(source.angles, np.radians(np.arange(180.0)))
        assert any("read as degrees" in w for w in source.warnings)
    finally:
        source.close()


def test_a_stack_cut_short_with_image_keys_keeps_the_count_it_recorded(tmp_path):
    source = open_source(stack_file(str(tmp_path / "cut.h5"), np.ones((10, 2, 4), np.float32), written=6,
                                    image_key=np.zeros(10, np.int64)))
    try:
        assert source.count == 6 and source.short_of == 4  # `ufo reco` keeps the step of 10 frames
    finally:
        source.close()
