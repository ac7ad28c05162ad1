"""DXchange files as APS beamlines and tomocupy write them beyond the basic layout: no
/exchange/theta but the scan stated in /process/acquisition/rotation (a 360-degree scan was taken
as 180 degrees without a word, correlation 0.57); the flats and darks in a file of their own
(refused, with advice to use data_dark as --flats); projections alone, raw counts reconstructed
without a note. Reference: scikit-image's iradon (tests/test_foreign_files.py's scan).
"""

from __future__ import annotations

import h5py
import numpy as np

from tests.test_foreign_files import N, W, assert_matches, reconstruct, scan  # noqa: F401 - the fixture
from ufo import reco


def test_the_rotation_a_file_states_replaces_missing_angles_and_missing_ones_are_said(tmp_path, scan):  # noqa: F811
    projections, darks, flats, degrees, ref = scan
    path = tmp_path / "stated.h5"
    with h5py.File(path, "w") as f:
        f["/exchange/data"] = projections[::-1].astype(np.uint16)  # recorded from 180 - step down to 0
        f["/exchange/data_white"], f["/exchange/data_dark"] = flats.astype(np.uint16), darks.astype(np.uint16)
        f["/process/acquisition/rotation/rotation_start"] = np.array([degrees[-1]])
        f["/process/acquisition/rotation/rotation_step"] = np.array([-(degrees[1] - degrees[0])])
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert plan.options.angle < 0 and any("/process/acquisition/rotation" in w for w in plan.warnings)
    assert_matches(reconstruct(tmp_path, projections=str(path)), ref)
    with h5py.File(path, "r+") as f:
        del f["/process"]
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert any(f"taken as 180 degrees in {N} steps" in w for w in plan.warnings), plan.warnings


def test_flats_and_darks_in_a_file_of_their_own_and_projections_alone(tmp_path, scan):  # noqa: F811
    projections, darks, flats, _, ref = scan
    with h5py.File(tmp_path / "proj.h5", "w") as f:
        f["/exchange/data"] = projections.astype(np.uint16)
        f["/exchange/theta"] = np.arange(N) * 180.0 / N
    with h5py.File(tmp_path / "refs.h5", "w") as f:  # tomocupy's --flat-file-name: no /exchange/data
        f["/exchange/data_white"], f["/exchange/data_dark"] = flats.astype(np.uint16), darks.astype(np.uint16)
    proj, refs = str(tmp_path / "proj.h5"), str(tmp_path / "refs.h5")
    assert_matches(reconstruct(tmp_path, projections=proj, darks=refs, flats=refs), ref)
    plan = reco.plan(reco.RecoOptions(projections=proj, output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert any("integer (uint16) projections and no darks or flats" in w for w in plan.warnings), plan.warnings
