"""Projections, darks and flats in one folder (Elettra SYRMEP, ALS 8.3.2 TIFF, Diamond L12, the
Australian Synchrotron): `ufo reco --projections FOLDER` read every TIFF as a projection and
reconstructed raw counts (correlation -0.78), exit 0; given by hand, the references were read
twice. Now refused, naming each series and the options that take them apart; following that
advice reconstructs the object (scikit-image's iradon of the line integrals: tests/test_foreign_files.py).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from tests.test_foreign_files import W, assert_matches, reconstruct, scan  # noqa: F401 - the fixture
from ufo import reco
from ufo.core import UsageError


def write(folder, name, frames, start=0):
    folder.mkdir(exist_ok=True)
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / name.format(i + start), np.asarray(frame, np.uint16))


def plan(folder, tmp_path, **options):
    return reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=W / 2,
                                      **options))


def test_a_folder_of_projections_darks_and_flats_is_taken_apart_as_the_message_says(tmp_path, scan):  # noqa: F811
    projections, darks, flats, _, ref = scan
    folder = tmp_path / "elettra"
    write(folder, "tomo_{:04d}.tif", projections, 1)
    write(folder, "dark_{}.tif", darks, 1)
    write(folder, "flat_{}.tif", flats, 1)
    with pytest.raises(UsageError, match="3 series of files.*reconstructed as projections") as refused:
        plan(folder, tmp_path)
    advice = dict(re.findall(r"--(\w+) '([^']+)'", str(refused.value)))
    assert set(advice) == {"projections", "darks", "flats"} and advice["darks"].endswith("dark_*.tif")
    with pytest.raises(UsageError, match=r"2 file\(s\) of --darks .* are among the --projections"):
        plan(folder, tmp_path, darks=advice["darks"], flats=advice["flats"])
    assert_matches(reconstruct(tmp_path, **advice), ref)


@pytest.mark.parametrize("names, expected", [
    ({"sample_0000_{:04d}.tif": 6, "samplebak_0000_{:04d}.tif": 2, "sampledrk_0000_{:04d}.tif": 1},  # ALS 8.3.2
     {"projections": "sample_0000_*.tif", "darks": "sampledrk_0000_*.tif", "flats": "samplebak_0000_*.tif"}),
    ({"SAMPLE_T_{:04d}.tif": 6, "BG__BEFORE_{:d}.tif": 2, "DF__BEFORE_{:d}.tif": 2, "BG__AFTER_{:d}.tif": 2},
     {"projections": "SAMPLE_T_*.tif", "darks": "DF__BEFORE_*.tif", "flats": "BG__BEFORE_*.tif",
      "flats2": "BG__AFTER_*.tif"}),  # the Australian Synchrotron: BG the open beam, DF the dark
    ({"im_{:06d}.tif": 6, "flat_{:06d}.tif": 1}, {"projections": "im_*.tif", "flats": "flat_*.tif"}),  # Diamond L12
    ({"scan_img_{:05d}.tif": 6, "scan_ref_{:05d}.tif": 2, "scan_dar_{:05d}.tif": 2},  # PETRA III P05
     {"projections": "scan_img_*.tif", "darks": "scan_dar_*.tif", "flats": "scan_ref_*.tif"}),
    ({"tomo_{:04d}.tif": 6, "OB_{:04d}.tif": 2, "DC_{:04d}.tif": 2},  # neutron imaging: open beam, dark current
     {"projections": "tomo_*.tif", "darks": "DC_*.tif", "flats": "OB_*.tif"}),
    ({"s_img_{:05d}.tif": 6, "s_ref_{:05d}.tif": 2, "s_xyz_{:05d}.tif": 2},  # an unknown series beside them: the
     {"projections": "s_img_*.tif", "flats": "s_ref_*.tif"}),  # advice no glob that takes the references too
])
def test_facilities_names_of_darks_and_flats_are_known(tmp_path, names, expected):
    folder = tmp_path / "scan"
    for name, count in names.items():
        write(folder, name, np.full((count, 4, 8), 100))
    with pytest.raises(UsageError) as refused:
        plan(folder, tmp_path)
    advice = {k: v.rsplit("/", 1)[1] for k, v in re.findall(r"--(\w+) '([^']+)'", str(refused.value))}
    assert advice == expected


def test_several_series_of_projections_are_read_and_said(tmp_path):
    folder = tmp_path / "two"
    write(folder, "part_a_{:03d}.tif", np.ones((6, 4, 8)))
    write(folder, "part_b_{:03d}.tif", np.ones((6, 4, 8)))
    planned = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=4))
    assert planned.projections == 12 and any("2 series of files" in w for w in planned.warnings)


def test_flats_without_darks_take_a_dark_of_zero_and_say_so(tmp_path, scan):  # noqa: F811
    """Diamond L12 writes flats and no darks (a detector whose dark is negligible): refused before
    ("needs both --darks and --flats"), with no way but a made-up file of zeros."""
    from tests.test_foreign_files import DARK

    projections, _, flats, _, ref = scan
    folder = tmp_path / "l12"
    write(folder, "im_{:06d}.tif", projections - DARK, 1000)
    write(folder, "flat_{:06d}.tif", flats - DARK)
    with pytest.raises(UsageError) as refused:
        plan(folder, tmp_path)
    advice = dict(re.findall(r"--(\w+) '([^']+)'", str(refused.value)))
    assert set(advice) == {"projections", "flats"}
    planned = plan(advice["projections"], tmp_path, flats=advice["flats"])
    assert any("no darks: a dark of 0 is taken" in w for w in planned.warnings), planned.warnings
    assert_matches(reconstruct(tmp_path, **advice), ref)
    with pytest.raises(UsageError, match="--darks without --flats"):
        plan(advice["projections"], tmp_path, darks=advice["flats"])


def test_reading_a_folder_of_several_series_says_so_and_skips_hidden_files(tmp_path):
    """`ufo run "read path=FOLDER"` of projections, darks and a macOS '._proj_0000.tif' read all 7
    as one stream (the hidden file first, then the darks), exit 0, no word."""
    from ufo.core.registry import create

    folder = tmp_path / "scan"
    write(folder, "proj_{:04d}.tif", [np.full((4, 6), 1000 + i) for i in range(4)])
    write(folder, "dark_{:04d}.tif", [np.full((4, 6), 100)] * 2)
    (folder / "._proj_0000.tif").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble: no TIFF
    read = create("read", path=str(folder))
    frames = read().collect()
    assert [int(f[0, 0]) for f in frames] == [100, 100, 1000, 1001, 1002, 1003]
    source = read._open()
    try:
        said = " ".join(source.warnings)
    finally:
        source.close()
    assert "holds 2 series of files" in said and "scan/proj_*.tif" in said
    alone = create("read", path=str(folder / "proj_*.tif"))._open()
    try:
        assert alone.count == 4 and not any("series" in w for w in alone.warnings)
    finally:
        alone.close()
