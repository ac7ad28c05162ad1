"""`ufo reco --angles-file`: every projection's angle by hand, for scans whose files carry none
(TIFF folders, plain HDF5 stacks) or carry them elsewhere (an NSLS-II FXI fly scan). With one
`--angle` step an irregular scan only got a mean step. Reference: the analytic phantom
(tests/test_geometry.py) at the true, irregular angles."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from tests.test_geometry import DARK, FLAT, ROW, assert_is_the_object, frames, reconstruct, rmse, truth
from ufo import reco
from ufo.core import UsageError
from ufo.tomo.phantom import Phantom


@pytest.fixture(scope="module")
def irregular(tmp_path_factory):
    """A TIFF stack of raw frames at irregular angles (radians), with darks and flats beside it."""
    folder = tmp_path_factory.mktemp("fly")
    phantom = Phantom(128, height=4)
    i = np.arange(180)
    angles = i * np.pi / 180 + 3 * (np.pi / 180) * np.sin(2 * np.pi * i / 180)  # a stage that speeds up and slows
    tifffile.imwrite(folder / "proj.tif", frames(phantom, angles, 64.0).astype(np.float32))
    tifffile.imwrite(folder / "darks.tif", np.full((2, 4, 128), DARK, np.float32))
    tifffile.imwrite(folder / "flats.tif", np.full((2, 4, 128), FLAT, np.float32))
    return folder, phantom, angles


def test_an_angles_file_reconstructs_an_irregular_scan(tmp_path, irregular):
    folder, phantom, angles = irregular
    np.savetxt(tmp_path / "angles.txt", np.degrees(angles))
    common = dict(darks=str(folder / "darks.tif"), flats=str(folder / "flats.tif"), axis=64.0)
    given, result = reconstruct(tmp_path, str(folder / "proj.tif"), angles_file=str(tmp_path / "angles.txt"), **common)
    mean_step, _ = reconstruct(tmp_path, str(folder / "proj.tif"), **common)
    expected = truth(phantom)
    assert_is_the_object(given, expected)
    # the true angles: the error of a regular scan (0.00143 at 128 px); one mean step: 0.00203
    assert rmse(given, expected) < 0.8 * rmse(mean_step, expected), (rmse(given, expected), rmse(mean_step, expected))
    np.save(tmp_path / "angles.npy", np.degrees(angles))
    with h5py.File(tmp_path / "angles.h5", "w") as f:
        f["a"] = angles
        f["a"].attrs["units"] = "rad"
    for path in (str(tmp_path / "angles.npy"), f"{tmp_path / 'angles.h5'}:/a"):
        other, _ = reconstruct(tmp_path, str(folder / "proj.tif"), angles_file=path, **common)
        np.testing.assert_allclose(other, given, atol=1e-6)
    assert any("angles from" in w for w in result.plan.warnings)


def test_an_angles_file_that_does_not_fit_is_refused(tmp_path, irregular):
    folder, _, angles = irregular
    np.savetxt(tmp_path / "short.txt", np.degrees(angles[:-3]))
    (tmp_path / "words.txt").write_text("0 1 two 3")
    huge = np.degrees(angles)
    huge[7] = 1e300  # was taken: its cosine is noise
    np.savetxt(tmp_path / "huge.txt", huge)
    for path, message in ((tmp_path / "short.txt", "holds 177 angles for 180 projections"),
                          (tmp_path / "words.txt", "holds no list of numbers"), (tmp_path / "none.txt", "does not exist"),
                          (tmp_path / "huge.txt", "finite numbers within \\+-360000 degrees")):
        with pytest.raises(UsageError, match=message):
            reco.plan(reco.RecoOptions(projections=str(folder / "proj.tif"), output=str(tmp_path / "s.tif"),
                                       angles_file=str(path), region=f"{ROW}:{ROW + 1}"))
    with pytest.raises(UsageError, match="leave --angle out"):
        reco.plan(reco.RecoOptions(projections=str(folder / "proj.tif"), output=str(tmp_path / "s.tif"),
                                   angles_file=str(tmp_path / "short.txt"), angle=0.01))


def test_an_angles_file_of_radians_without_units_is_read_as_radians_and_said(tmp_path, irregular):
    """np.savetxt of a tomopy theta (radians): read as degrees it was a scan of 3.1 degrees,
    reconstructed, exit 0 (99.9 % off)."""
    folder, phantom, angles = irregular
    common = dict(darks=str(folder / "darks.tif"), flats=str(folder / "flats.tif"), axis=64.0)
    np.savetxt(tmp_path / "radians.txt", angles)
    given, result = reconstruct(tmp_path, str(folder / "proj.tif"), angles_file=str(tmp_path / "radians.txt"), **common)
    assert_is_the_object(given, truth(phantom))
    assert any("read as radians" in w for w in result.plan.warnings)
    with h5py.File(tmp_path / "deg.h5", "w") as f:  # units said: a small span of degrees stays degrees
        f["a"] = angles
        f["a"].attrs["units"] = "degree"
    from ufo.reco.angles_file import load_angles

    np.testing.assert_allclose(load_angles(f"{tmp_path / 'deg.h5'}:/a"), np.radians(angles))


def test_sinograms_take_the_angles_file_and_refuse_number(tmp_path, irregular):
    """With --sinograms, --angles-file was ignored (a regular step over 180 degrees assumed:
    correlation 0.875 for 250 random angles, 0.105 for a full turn from 30 degrees) and --number
    too, exit 0. The angles are used now, and equal the projections' reconstruction."""
    from tests.test_geometry import MU

    folder, phantom, angles = irregular
    raw = tifffile.imread(folder / "proj.tif")
    tifffile.imwrite(tmp_path / "sino.tif", (-np.log((raw - DARK) / (FLAT - DARK))).transpose(1, 0, 2),
                    photometric="minisblack")
    np.savetxt(tmp_path / "angles.txt", np.degrees(angles))
    common = dict(darks=str(folder / "darks.tif"), flats=str(folder / "flats.tif"), axis=64.0)
    from_projections, _ = reconstruct(tmp_path, str(folder / "proj.tif"), angles_file=str(tmp_path / "angles.txt"),
                                      **common)
    out = str(tmp_path / "from-sino.tif")
    options = dict(sinograms=str(tmp_path / "sino.tif"), output=out, region=f"{ROW}:{ROW + 1}", axis=64.0)
    reco.run(reco.plan(reco.RecoOptions(angles_file=str(tmp_path / "angles.txt"), **options)))
    from_sinograms = tifffile.imread(out)
    assert MU > 0 and np.abs(from_sinograms - from_projections).max() < 1e-4 * np.abs(from_projections).max()
    with pytest.raises(UsageError, match="--number selects projections"):
        reco.plan(reco.RecoOptions(number=90, **options), outputs=False)


def test_number_of_a_scan_without_angles_keeps_its_step(tmp_path):
    """`--number 90` of 180 projections over a half turn (a TIFF: no angles) spread the first 90
    over 180 degrees (correlation 0.115 with the object): they are the first 90 degrees, as a file
    of those 90 alone at the scan's step."""
    phantom = Phantom(128, height=4)
    angles = np.arange(180) * np.pi / 180
    tifffile.imwrite(tmp_path / "proj.tif", frames(phantom, angles, 64.0))
    tifffile.imwrite(tmp_path / "first.tif", frames(phantom, angles[:90], 64.0))
    darks, flats = tmp_path / "darks.tif", tmp_path / "flats.tif"
    tifffile.imwrite(darks, np.full((2, 4, 128), DARK, np.float32))
    tifffile.imwrite(flats, np.full((2, 4, 128), FLAT, np.float32))
    common = dict(darks=str(darks), flats=str(flats), axis=64.0)
    cut, result = reconstruct(tmp_path, str(tmp_path / "proj.tif"), number=90, **common)
    alone, _ = reconstruct(tmp_path, str(tmp_path / "first.tif"), angle=np.pi / 180, **common)
    np.testing.assert_allclose(cut, alone, atol=1e-5 * np.abs(alone).max())
    assert any("the angle step stays 180 degrees / 180" in w for w in result.plan.warnings)


def test_an_angles_file_that_is_the_output_is_refused_before_it_is_overwritten(tmp_path, irregular):
    """`--angles-file ang.h5:/theta -o ang.h5:/theta --overwrite` replaced the 180 angles by the
    slices, exit 0 (the next run: "holds 65536 angles for 180 projections")."""
    folder, _, angles = irregular
    with h5py.File(tmp_path / "ang.h5", "w") as f:
        f["theta"] = np.degrees(angles)
    options = reco.RecoOptions(projections=str(folder / "proj.tif"), darks=str(folder / "darks.tif"),
                               flats=str(folder / "flats.tif"), axis=64.0, angles_file=f"{tmp_path / 'ang.h5'}:/theta",
                               output=f"{tmp_path / 'ang.h5'}:/theta", overwrite=True)
    with pytest.raises(UsageError, match="is input"):
        reco.plan(options)
    with h5py.File(tmp_path / "ang.h5", "r") as f:
        assert f["theta"].shape == (180,)


def test_dfi_takes_an_angles_file_of_one_step_and_refuses_an_irregular_one(tmp_path, irregular):
    """Every --angles-file was refused by --method dfi as irregular angles; one of equal steps (a
    scan of 30 .. 210 degrees written out) is a step and a start, the slices those of --angle/--offset."""
    folder, phantom, irregular_angles = irregular
    regular = np.radians(30) + np.arange(180) * np.pi / 180
    tifffile.imwrite(tmp_path / "proj.tif", frames(phantom, regular, 64.0).astype(np.float32))
    np.savetxt(tmp_path / "angles.txt", np.degrees(regular) + np.random.default_rng(2).uniform(-1e-4, 1e-4, 180))
    common = dict(darks=str(folder / "darks.tif"), flats=str(folder / "flats.tif"), axis=64.0, method="dfi")
    given, _ = reconstruct(tmp_path, str(tmp_path / "proj.tif"), angles_file=str(tmp_path / "angles.txt"), **common)
    stepped, _ = reconstruct(tmp_path, str(tmp_path / "proj.tif"), angle=np.pi / 180, offset=np.radians(30), **common)
    np.testing.assert_allclose(given, stepped, atol=1e-3 * np.abs(stepped).max())
    assert_is_the_object(given, truth(phantom))
    np.savetxt(tmp_path / "fly.txt", np.degrees(irregular_angles))
    with pytest.raises(UsageError, match="irregular angles"):
        reconstruct(tmp_path, str(folder / "proj.tif"), angles_file=str(tmp_path / "fly.txt"), **common)


@pytest.mark.parametrize(("units", "factor"), [("mrad", 1e-3), ("grad", np.pi / 200), ("urad", 1e-6), ("°", np.pi / 180)])
def test_angles_in_other_units_are_converted_and_units_that_are_no_angle_refused(tmp_path, units, factor):
    """A data set's `units` other than rad* were read as degrees: mrad gave a step of 0.609 rad where it was
    0.0349 (an 8.6-turn scan of 90 projections, exit 0), grad 10 % too small, encoder counts as degrees."""
    from ufo.reco.angles_file import load_angles
    from ufo.storage import open_source

    angles = np.arange(90) * np.pi / 90
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["theta"] = angles / factor
        f["theta"].attrs["units"] = units
        f["counts"] = np.arange(90) * 100.0
        f["counts"].attrs["units"] = "counts"
        f["exchange/data"] = np.ones((90, 4, 8), np.float32)  # DXchange: its theta read through the layout
        f["exchange/theta"] = angles / factor
        f["exchange/theta"].attrs["units"] = units
    np.testing.assert_allclose(load_angles(f"{tmp_path / 'a.h5'}:/theta"), angles, atol=1e-9)
    with pytest.raises(UsageError, match="units 'counts' are no angle unit"):
        load_angles(f"{tmp_path / 'a.h5'}:/counts")
    source = open_source(str(tmp_path / "a.h5"))
    try:
        np.testing.assert_allclose([source.meta(i)["angle"] for i in range(source.count)], angles, atol=1e-9)
    finally:
        source.close()


@pytest.mark.parametrize(("units", "degrees_per_unit"), [
    ("degree(s)", 1.0), ("deg(s)", 1.0), ("degrees (°)", 1.0), ("° (degree)", 1.0), ("Deg.", 1.0), ("DEGREES", 1.0),
    ("Rads", 180 / np.pi), ("rads", 180 / np.pi), ("radian [rad]", 180 / np.pi), ("rad (angle)", 180 / np.pi),
    ("Grad", 0.9), ("Gradians", 0.9), ("mrad", 0.18 / np.pi), ("1", 1.0), ("xyz", 1.0)])
def test_unit_texts_files_carry_read_as_they_always_were_or_converted(units, degrees_per_unit):
    """A review of the conversion: pint read 'degree(s)' as degree x second (a traceback), 'degrees (°)' as
    degree squared (57 x too small), 'Rads' not at all (degrees), 'rads' as a dose, 'Grad' as gigaradians."""
    from ufo.core.units import radians_per

    factor = radians_per(units)
    assert np.degrees(factor if factor is not None else np.pi / 180) == pytest.approx(degrees_per_unit)
