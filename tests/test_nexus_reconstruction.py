"""`ufo reco --output rec.nx`: a NeXus reconstruction (NXdata at /entry/data/data, NXtomoproc's places) that
silx's NeXus reader finds by its default-plot attributes, not an NXtomo scan of slices."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import ufo
from ufo import reco
from ufo.storage import open_writer

from .resident_scan import write_scan
from .resident_scan import options as _options


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_scan(str(tmp_path_factory.mktemp("scan") / "scan.nx"))[0]


@pytest.fixture(scope="module")
def plain(scan, tmp_path_factory):
    """The same reconstruction into a plain HDF5 dataset: the values the NeXus file must hold."""
    out = tmp_path_factory.mktemp("plain") / "rec.h5"
    reco.run(reco.plan(_options(scan, f"{out}:/data")))
    with h5py.File(out) as f:
        return f["data"][:]


@pytest.mark.parametrize("pass_height", [None, 7], ids=["one-writer", "passes-appended"])
def test_a_nexus_output_is_an_nxdata_entry_that_silx_plots(scan, plain, tmp_path, pass_height):
    from silx.io.nxdata import get_default

    out = tmp_path / "rec.nx"
    reco.run(reco.plan(_options(scan, out, pass_height=pass_height)))
    with h5py.File(out) as f:
        nxdata = get_default(f)
        assert nxdata is not None and nxdata.is_valid and nxdata.signal.name == "/entry/data/data"
        np.testing.assert_array_equal(nxdata.signal[()], plain)
        assert "definition" not in f["entry"]  # slices stored z, y, x: not NXtomoproc's x, y, z
        assert f["entry/reconstruction"].attrs["NX_class"] == "NXprocess"
        assert f["entry/reconstruction/program"][()] == b"ufo reco"
        assert f["entry/reconstruction/parameters/raw_file"][()].decode() == scan
        assert "instrument" not in f["entry"] and "image_key" not in f["entry/data"]  # not a scan's NXtomo
        assert sorted(f["entry/data"]) == ["data"]  # the volume writer's count of frames is gone
    np.testing.assert_array_equal(ufo.Reader(path=str(out))().collect(), plain)  # found without a name


def test_the_nxdata_layout_at_another_path_and_overwritten(tmp_path):
    frames = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    path = str(tmp_path / "v.nx")
    with open_writer(f"{path}:/scan1/recon/volume", layout="nxdata", expected_frames=3) as writer:
        for frame in frames:
            writer.write(frame, {})
    with h5py.File(path) as f:
        assert f.attrs["default"] == "scan1" and f["scan1"].attrs["default"] == "recon"
        assert f["scan1"].attrs["NX_class"] == "NXentry" and f["scan1/recon"].attrs["signal"] == "volume"
        assert "reconstruction" not in f["scan1"]  # NXtomoproc's places only around /entry/data/data
        np.testing.assert_array_equal(f["scan1/recon/volume"][:], frames)
    with open_writer(f"{path}:/scan1/recon/volume", layout="nxdata", overwrite=True) as writer:
        writer.write(frames[0] + 1, {})
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["scan1/recon/volume"][:], frames[:1] + 1)
    with open_writer(str(tmp_path / "flat.nx:/data"), layout="nxdata") as writer:  # no group to make NeXus
        writer.write(frames[0], {})
    with h5py.File(tmp_path / "flat.nx") as f:
        assert "default" not in f.attrs and list(f) == ["data"]


def test_the_scan_s_pixel_size_is_the_slices_voxel_size(tmp_path):
    """An absorption reconstruction of an NXtomo scan that records its pixel size wrote no voxel size
    in any format: ImageJ showed pixels (only --pixel-size of phase retrieval gave one)."""
    import tifffile

    path = write_scan(str(tmp_path / "scan.nx"))[0]
    with h5py.File(path, "a") as f:
        f["entry/instrument/detector/x_pixel_size"] = 6.5
        f["entry/instrument/detector/x_pixel_size"].attrs["units"] = "um"
    reco.run(reco.plan(_options(path, tmp_path / "s.tif")))
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.imagej_metadata["unit"] == "micron" and tif.imagej_metadata["spacing"] == pytest.approx(6.5)
    reco.run(reco.plan(_options(path, f"{tmp_path / 'v.h5'}:/data")))
    with h5py.File(tmp_path / "v.h5") as f:
        assert f["data"].attrs["pixel_size"] == pytest.approx(6.5e-6)


def test_the_default_delta_beta_of_phase_retrieval_is_recorded(tmp_path):
    """The configuration said delta_beta null and the NeXus ufo_config nothing: 100 was used."""
    import dataclasses

    path = write_scan(str(tmp_path / "scan.nx"))[0]
    options = dataclasses.replace(_options(path, tmp_path / "p.nx"), energy=20.0, distance=0.1, pixel_size=6.5e-6)
    reco.run(reco.plan(options))
    with h5py.File(tmp_path / "p.nx") as f:
        assert f["entry/reconstruction/configuration/ufo_config/delta_beta"][()] == pytest.approx(100.0)
