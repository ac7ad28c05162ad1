"""8/16-bit NeXus volumes in NeXus's own words: NXdata's `data_scaling_factor` and `data_offset`
(NXdata.nxdl.xml: value = (stored + offset) * scaling_factor), and no `units` on the stored
integers. Before, only ufo's `scale_min`/`scale_step` attributes said how integers map to values,
and `units = "1/pixel"` sat on raw 0..65535, which NeXus readers (silx) showed as such."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.storage import open_writer
from ufo.storage.convert import from_bits, stored_metadata, to_bits

from .resident_scan import write_scan
from .resident_scan import options as _options


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_scan(str(tmp_path_factory.mktemp("scan") / "scan.nx"))[0]


@pytest.mark.parametrize("bits", [8, 16])
def test_a_scaled_volume_says_its_scale_as_nexus_does(tmp_path, bits):
    frames = np.linspace(-0.5, 1.5, 3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    metadata = stored_metadata({"program": "test"}, bits, -0.5, 1.5, "1/pixel")
    path = str(tmp_path / "v.nx")
    with open_writer(f"{path}:/entry/data/data", layout="nxdata", metadata=metadata, expected_frames=3) as writer:
        for frame in frames:
            writer.write(to_bits(frame, bits, -0.5, 1.5), {})
    step = metadata["scale_step"]
    with h5py.File(path, "r") as f:
        data = f["entry/data/data"]
        assert "units" not in data.attrs  # the integers are no attenuation
        assert data.attrs["scale_units"] == "1/pixel" and data.attrs["scale_step"] == step
        for group in ("entry/data", "entry/reconstruction/results"):  # the NXdata silx plots, and nabu's
            factor, offset = f[f"{group}/data_scaling_factor"], f[f"{group}/data_offset"]
            assert factor[()] == step and factor.attrs["units"] == "1/pixel"
            assert offset[()] == -0.5 / step
        stored = data[()]
        values = (stored + f["entry/data/data_offset"][()]) * f["entry/data/data_scaling_factor"][()]
    np.testing.assert_allclose(values, from_bits(stored, -0.5, 1.5), rtol=0, atol=1e-12)
    assert np.abs(values - frames).max() <= step / 2 + 1e-7


def test_a_reconstruction_in_16_bits_and_in_float32(scan, tmp_path):
    """`ufo reco --output-bits 16 --output rec.nx`: scaling fields, no units on the integers; float32
    slices keep their unit on the data and have no scaling fields."""
    out16, out32 = str(tmp_path / "r16.nx"), str(tmp_path / "r32.nx")
    reco.run(reco.plan(_options(scan, out16, output_bits=16)))
    reco.run(reco.plan(_options(scan, out32)))
    with h5py.File(out16, "r") as f16, h5py.File(out32, "r") as f32:
        data = f16["entry/data/data"]
        assert "units" not in data.attrs and data.attrs["scale_units"] == "1/pixel"
        assert f16["entry/data/data_scaling_factor"][()] == data.attrs["scale_step"]
        assert f16["entry/data/data_offset"][()] == data.attrs["scale_min"] / data.attrs["scale_step"]
        assert f32["entry/data/data"].attrs["units"] == "1/pixel"
        assert "data_scaling_factor" not in f32["entry/data"] and "data_offset" not in f32["entry/data"]
        decoded = (data[()] + f16["entry/data/data_offset"][()]) * f16["entry/data/data_scaling_factor"][()]
        step = data.attrs["scale_step"]
        inside = (data[()] > 0) & (data[()] < 65535)  # clipped voxels aside
        assert np.abs(decoded - f32["entry/data/data"][()])[inside].max() <= step / 2 + 1e-7


def test_a_volume_whose_attributes_came_first_is_made_nexus_alike(tmp_path):
    """A cluster's joined volume copies its parts' attributes (plain HDF5: `units` is ufo's record of
    the scale's unit there) before it is made a NeXus reconstruction: the unit leaves the integers."""
    from ufo.storage.nexus import nxdata_metadata, store_attributes

    metadata = stored_metadata({"program": "test"}, 8, 0.0, 2.55, "1/pixel")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["data"] = np.zeros((2, 3, 4), np.uint8)
        store_attributes(f["data"], metadata)
        assert f["data"].attrs["units"] == "1/pixel"  # ufo's plain layout keeps its record
    with h5py.File(tmp_path / "v.nx", "w") as f:
        f["entry/data/data"] = np.zeros((2, 3, 4), np.uint8)
        f["entry/data/data"].attrs.update({"units": "1/pixel", "scale_step": metadata["scale_step"]})
        nxdata_metadata(f, "/entry/data/data", metadata)
        assert "units" not in f["entry/data/data"].attrs and f["entry/data/data"].attrs["scale_units"] == "1/pixel"
        assert f["entry/data/data_scaling_factor"][()] == metadata["scale_step"]
        assert f["entry/data/data_offset"][()] == 0.0


def test_an_nxtomo_of_16_bits_from_ufo_run_says_its_scale_and_that_its_frames_had_no_angles(tmp_path):
    """`ufo run ... ! write path=x.nx bits=16`: the NXdata lacked the scaling fields `ufo reco`'s
    .nx has (NeXus readers got raw integers), and frames without angles were recorded at 0
    degrees each without a word."""
    import ufo
    from ufo.core.registry import create

    frames = [np.full((6, 8), k - 1.0, np.float32) for k in range(4)]
    path = str(tmp_path / "x.nx")
    write = create("write", path=path, bits=16, minimum=-2, maximum=4)
    handle = write(ufo.MemoryIn(data=frames)()).run()
    handle.wait(30)
    with h5py.File(path, "r") as f:
        stored = f["entry/data/data"][()]
        factor, offset = f["entry/data/data_scaling_factor"][()], f["entry/data/data_offset"][()]
    values = (stored + offset) * factor  # NXdata.nxdl.xml
    np.testing.assert_allclose(values[:, 0, 0], [-1, 0, 1, 2], atol=6 / 65535)
    assert any("4 projection(s) written to" in w and "without an angle" in w for w in handle.warnings)
