"""`ufo reco --output rec.nx` opened by tomoscan's HDF5Volume, the volume reader of tomwer and of
nabu's volume tools: it reads `<entry>/<process>/results/data` and `<process>/configuration` (nabu's
NXProcessWriter layout) and found nothing ("Data path entry/reconstruction/results/data not found")
where ufo put the slices at /entry/data/data only. Now the same dataset has both names (a hard
link), and the configuration says the voxel size and the axis as nabu's does."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco

from .resident_scan import AXIS, write_scan
from .resident_scan import options as _options

PIXEL = 6.5e-6  # m; 100 * PIXEL cm is PIXEL again in tomoscan's cm -> m


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    path = write_scan(str(tmp_path_factory.mktemp("scan") / "scan.nx"))[0]
    with h5py.File(path, "a") as f:
        f["entry/instrument/detector/x_pixel_size"] = PIXEL
        f["entry/instrument/detector/x_pixel_size"].attrs["units"] = "m"
    return path


@pytest.mark.parametrize("bits", [None, 16])
@pytest.mark.parametrize("pass_height", [None, 7], ids=["one-writer", "passes-appended"])
def test_tomoscan_opens_a_nexus_reconstruction(scan, tmp_path, pass_height, bits):
    from tomoscan.esrf.volume.hdf5volume import HDF5Volume
    from tomoscan.esrf.volume.utils import guess_volumes

    out = str(tmp_path / "rec.nx")
    reco.run(reco.plan(_options(scan, out, pass_height=pass_height, output_bits=bits)))
    with h5py.File(out, "r") as f:
        slices = f["entry/data/data"][()]
        assert f["entry/reconstruction/results"].attrs["NX_class"] == "NXdata"
        assert f["entry/reconstruction/configuration"].attrs["NX_class"] == "NXcollection"
    assert slices.shape == (20, 96, 96) and slices.dtype == (np.uint16 if bits else np.float32)
    volume = HDF5Volume(file_path=out, data_path="entry/reconstruction")
    read = volume.load_data()
    assert read.dtype == slices.dtype
    np.testing.assert_array_equal(read, slices)
    assert volume.voxel_size == (PIXEL, PIXEL, PIXEL)
    options = volume.load_metadata()["processing_options"]["reconstruction"]
    assert options["rotation_axis_position"] == AXIS and options["start_z"] == 0 and options["end_z"] == 19
    assert options["method"] == "FBP"
    found = guess_volumes(out)  # what tomwer does with a dropped file
    assert [v.data_path for v in found] == ["/entry/reconstruction"]


def test_the_voxel_size_along_z_follows_the_step_between_rows(scan, tmp_path):
    from tomoscan.esrf.volume.hdf5volume import HDF5Volume

    out = str(tmp_path / "rec.nx")
    reco.run(reco.plan(_options(scan, out, region="0:20:2")))
    volume = HDF5Volume(file_path=out, data_path="entry/reconstruction")
    assert volume.get_volume_shape() == (10, 96, 96)
    assert volume.voxel_size == (2 * PIXEL, PIXEL, PIXEL)
    ufo_options = volume.load_metadata()["ufo_config"]
    assert ufo_options["region"] == "0:20:2" and ufo_options["axis"] == AXIS


def test_the_nabu_layout_is_only_made_for_a_reconstruction_s_place(tmp_path):
    """A NeXus NXdata written elsewhere (write path=v.nx:/scan1/recon/volume layout=nxdata) stays as it was."""
    from ufo.storage import open_writer

    path = str(tmp_path / "v.nx")
    with open_writer(f"{path}:/scan1/recon/volume", layout="nxdata", expected_frames=2) as writer:
        for i in range(2):
            writer.write(np.full((3, 4), i, np.float32), {})
    with h5py.File(path, "r") as f:
        assert "reconstruction" not in f["scan1"] and "configuration" not in f["scan1/recon"]


def test_a_grab_s_count_time_is_indexed_per_frame_by_tomoscan(tmp_path):
    """NXdetector's count_time holds one value a frame; a grab wrote one scalar, and tomoscan's
    `count_time[i]` per projection failed ("invalid index to scalar variable")."""
    import subprocess
    import sys

    pytest.importorskip("tomoscan")
    from tomoscan.esrf.scan.nxtomoscan import NXtomoScan

    path = str(tmp_path / "c.nx")
    done = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "5", "-p", "sensor-width=64",
                           "-p", "sensor-height=8", "-p", "exposure-time=0.03", "-o", path], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    scan = NXtomoScan(path, "entry")
    assert [float(scan.count_time[i]) for i in scan.projections] == pytest.approx([0.03] * 5)
