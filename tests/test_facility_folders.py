"""Other facilities' folders and files that ufo cannot read as a scan get a message that says what
is there and what to do: a folder of scan subfolders (PETRA III P05), ANKA's `radios/` beside
`darks/` and `flats/` (now taken as the projections), an HDF5 file of one frame per data set (ALS
8.3.2: the advice named one frame, which read a scan of one projection; the list ran to 12,345
characters)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.core import InputError
from ufo.storage import open_source


def test_folders_say_what_they_hold_and_radios_are_projections(tmp_path):
    for scan in ("scan_0000", "scan_0001"):
        (tmp_path / "p05" / scan).mkdir(parents=True)
    with pytest.raises(InputError, match=r"holds no .* files; it holds scan_0000/, scan_0001/: name a folder"):
        reco.plan(reco.RecoOptions(projections=str(tmp_path / "p05"), output=str(tmp_path / "s.tif"), axis=4))
    for part, count in (("radios", 6), ("darks", 2), ("flats", 2)):
        (tmp_path / "anka" / part).mkdir(parents=True)
        for i in range(count):
            tifffile.imwrite(tmp_path / "anka" / part / f"{i:04d}.tif", np.full((4, 8), 100 + i, np.uint16))
    plan = reco.plan(reco.RecoOptions(projections=str(tmp_path / "anka"), output=str(tmp_path / "s.tif"), axis=4))
    assert plan.projections == 6 and plan.options.darks.endswith("darks") and plan.options.flats.endswith("flats")


def test_an_hdf5_file_of_one_frame_per_data_set_is_read_as_als_writes_it(tmp_path):
    """ALS 8.3.2's naming is a scan (tests/test_als832.py); 3-D data sets of one frame each too."""
    path = tmp_path / "als.h5"
    with h5py.File(path, "w") as f:
        for i in range(40):
            f[f"/sample/sample_0000_{i:04d}.tif"] = np.full((1, 4, 8), i, np.uint16)
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.tif"), axis=4))
    assert plan.projections == 40 and any("ALS 8.3.2" in w for w in plan.warnings)
    source = open_source(str(path), image_key=0)
    assert source.shape == (4, 8) and source.read(39, slice(2, 3), None).tolist() == [[39] * 8]
    source.close()