"""NXtomo as facilities other than the ESRF write it: Diamond's GDA (an NXsubentry `tomo_entry`
with `definition = NXtomo` inside `/entry1`, its NXdata holding a link to the detector's raw
frames, their `image_key` and `rotation_angle`) and an NXtomo entry whose definition was left
out. Read as plain stacks they reconstructed darks and flats as projections at made-up angles
(correlation -0.79 with the reference), exit 0. Reference: scikit-image's `iradon` of the line
integrals (tests/test_foreign_files.py's scan).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.test_foreign_files import DARK, W, assert_matches, reconstruct, scan  # noqa: F401 - the fixture
from ufo import reco
from ufo.storage import open_source


def write_gda(path, scan, full: bool) -> str:  # noqa: F811
    """/entry1/pco1_hw_hdf/data (raw frames: 2 darks, 2 flats, projections, 2 flats) and the
    NXsubentry /entry1/tomo_entry: data/{data (hard link), image_key, rotation_angle}; `full`:
    also instrument/detector/{data, image_key} and sample/rotation_angle, as GDA writes them."""
    projections, darks, flats, degrees, _ = scan
    keys = np.asarray([2, 2, 1, 1] + [0] * len(projections) + [1, 1], np.int32)
    angles = np.concatenate([[0.0] * 4, degrees, [180.0, 180.0]])
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry1")
        entry.attrs["NX_class"] = "NXentry"
        raw = entry.create_group("pco1_hw_hdf")
        raw.attrs["NX_class"] = "NXdetector"
        raw["data"] = np.concatenate([darks, flats, projections, flats]).astype(np.uint16)
        tomo = entry.create_group("tomo_entry")
        tomo.attrs["NX_class"] = "NXsubentry"
        tomo["definition"] = "NXtomo"
        data = tomo.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        data["data"] = raw["data"]
        data["image_key"] = keys
        data["rotation_angle"] = angles
        data["rotation_angle"].attrs["units"] = "degrees"
        if full:
            detector = tomo.create_group("instrument/detector")
            detector["data"], detector["image_key"] = raw["data"], data["image_key"]
            tomo["sample/rotation_angle"] = data["rotation_angle"]
    return str(path)


@pytest.mark.parametrize("full", [True, False], ids=["full", "minimal"])
def test_a_diamond_gda_nxtomo_is_read_as_nxtomo(tmp_path, scan, full):  # noqa: F811
    path = write_gda(tmp_path / "gda.nxs", scan, full)
    for given in (path, f"{path}:/entry1/tomo_entry/data/data", f"{path}:/entry1/pco1_hw_hdf/data"):
        plan = reco.plan(reco.RecoOptions(projections=given, output=str(tmp_path / "s.h5:/data"), axis=W / 2))
        assert plan.projections == len(scan[0]) and plan.options.darks and plan.options.flats, given
        assert plan.options.angle == pytest.approx(np.pi / len(scan[0])), given
    assert_matches(reconstruct(tmp_path, projections=path), scan[4])


def test_an_nxtomo_without_its_definition_and_a_stack_with_keys_beside_it(tmp_path, scan):  # noqa: F811
    path = write_gda(tmp_path / "nodef.nx", scan, full=True)
    with h5py.File(path, "r+") as f:  # an NXtomo entry of its own, whose definition was left out
        f.copy("entry1/tomo_entry", "entry")
        del f["entry1"], f["entry/definition"]
        f["entry"].attrs["NX_class"] = "NXentry"
    plan = reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert plan.projections == len(scan[0]) and any("declares no definition" in w for w in plan.warnings)
    assert_matches(reconstruct(tmp_path, projections=path), scan[4])
    with h5py.File(tmp_path / "plain.h5", "w") as f:  # no NeXus at all: read as it is, and said
        f["g/data"] = np.full((5, 3, 4), DARK, np.uint16)
        f["g/image_key"] = np.asarray([2, 1, 0, 0, 0])
    source = open_source(f"{tmp_path / 'plain.h5'}:/g/data")
    assert source.count == 5 and any("1 dark(s), 1 flat(s)" in w for w in source.warnings)
    source.close()
