"""`ufo reco` end to end: TIFF stacks of projections, darks and flats in, slices out, against ground truth."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

from ufo.core import UsageError
from ufo import reco
from ufo.tomo.phantom import Phantom

from .reference import assert_matches, line_integrals

N_PIX, ROWS, ANGLES = 96, 12, 150
TRUE_AXIS = N_PIX / 2 + 2.6
MU = 0.02


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A simulated scan: projections (one TIFF each), a dark stack and a flat stack, known phantom."""
    root = tmp_path_factory.mktemp("scan")
    rng = np.random.default_rng(5)
    phantom = Phantom(N_PIX, height=ROWS)
    dark = 100 + 5 * rng.random((ROWS, N_PIX))
    gain = 2000 + 200 * rng.random((ROWS, N_PIX))
    (root / "proj").mkdir()
    for i, angle in enumerate(np.arange(ANGLES) * np.pi / ANGLES):
        frame = dark + gain * np.exp(-MU * phantom.projection(angle, axis=TRUE_AXIS))
        tifffile.imwrite(root / "proj" / f"proj-{i:04d}.tif", frame.astype(np.float32))
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 4).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([dark + gain] * 4).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "small_flats.tif", np.ones((2, 10, 80), np.float32), photometric="minisblack")
    return root, phantom


def truth(phantom, row):
    return MU * phantom.slice(z=row - ROWS / 2)


def slice_rmse(image, phantom, row):
    mask = np.hypot(*(np.mgrid[:N_PIX, :N_PIX] - N_PIX / 2)) < 0.45 * N_PIX
    return float(np.sqrt(np.mean((image - truth(phantom, row))[mask] ** 2)))


def ideal_rmse(phantom, row):
    """The error of FBP itself on this grid: exact line integrals, exact axis, no pipeline around it."""
    from ufo.tomo.fbp import fbp

    sino = MU * phantom.sinogram(np.arange(ANGLES) * np.pi / ANGLES, axis=TRUE_AXIS, z=row - ROWS / 2)
    return slice_rmse(fbp(sino.astype(np.float32), axis=TRUE_AXIS), phantom, row)


def sinograms_of(root):
    """The scan's sinograms (-log of flat-corrected projections, transposed), computed with numpy."""
    projections = np.stack([tifffile.imread(root / "proj" / f) for f in sorted(os.listdir(root / "proj"))])
    dark = tifffile.imread(root / "darks.tif")[0]
    flat = tifffile.imread(root / "flats.tif")[0]
    return -np.log((projections - dark) / (flat - dark)).transpose(1, 0, 2).astype(np.float32)


def ufo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_reco_command_end_to_end_with_auto_axis(scan, tmp_path):
    root, phantom = scan
    result = ufo("reco", "--projections", str(root / "proj"), "--darks", str(root / "darks.tif"),
                 "--flats", str(root / "flats.tif"), "--axis", "auto", "--output", str(tmp_path / "s-%03i.tif"),
                 "--pass-height", "5")
    assert result.returncode == 0, result.stderr
    assert "GUPS" in result.stdout and "slices/s" in result.stdout
    files = sorted(os.listdir(tmp_path))
    assert len(files) == ROWS
    for row in (2, 6, 9):
        image = tifffile.imread(tmp_path / f"s-{row:03d}.tif")
        # the pipeline (flat-field, auto axis, passes) adds at most 10 % to FBP's own error (about 9 % of MU
        # here, dominated by the phantom's sharp edges on a 96 pixel grid)
        assert slice_rmse(image, phantom, row) < 1.10 * ideal_rmse(phantom, row)


def test_reco_in_python_with_region_into_hdf5(scan, tmp_path):
    root, phantom = scan
    options = reco.RecoOptions(projections=str(root / "proj"), darks=str(root / "darks.tif"),
                               flats=str(root / "flats.tif"), axis=TRUE_AXIS, region="1:12:3",
                               output=str(tmp_path / "s.h5:/data"), pass_height=2)
    plan = reco.plan(options)
    assert plan.rows == [1, 4, 7, 10] and len(plan.passes) == 2
    result = reco.run(plan)
    assert result.gups > 0 and result.axis == TRUE_AXIS
    with h5py.File(tmp_path / "s.h5") as f:
        data = f["data"][:]
    assert data.shape == (4, N_PIX, N_PIX)
    for image, row in zip(data, plan.rows):
        assert slice_rmse(image, phantom, row) <= 1.02 * ideal_rmse(phantom, row) + 1e-9
    # against an independent FBP (scikit-image's, float64) of the same files: mirrored, shifted,
    # scaled or constant slices fail the same tolerance (tests/reference.py)
    projections = np.stack([tifffile.imread(root / "proj" / f)[4] for f in sorted(os.listdir(root / "proj"))])
    sino = line_integrals(projections, tifffile.imread(root / "darks.tif")[:, 4], tifffile.imread(root / "flats.tif")[:, 4])
    assert_matches(data[1], truth(phantom, 4), sino, np.arange(ANGLES) * np.pi / ANGLES, TRUE_AXIS)


def test_reco_from_sinograms_matches_projections_path(scan, tmp_path):
    root, phantom = scan
    sinos = sinograms_of(root)
    tifffile.imwrite(tmp_path / "sinos.tif", sinos, photometric="minisblack")
    result = ufo("reco", "--sinograms", str(tmp_path / "sinos.tif"), "--axis", str(TRUE_AXIS), "--region", "6",
                 "--output", str(tmp_path / "one.tif"), "-q")
    assert result.returncode == 0, result.stderr
    image = tifffile.imread(tmp_path / "one.tif")
    assert slice_rmse(image, phantom, 6) < 1.02 * ideal_rmse(phantom, 6)


def test_phase_and_rings_and_outliers_options_build_and_run(scan, tmp_path):
    root, _ = scan
    result = ufo("reco", "--projections", str(root / "proj"), "--darks", str(root / "darks.tif"),
                 "--flats", str(root / "flats.tif"), "--energy", "20keV", "--distance", "5cm", "--pixel-size", "1um",
                 "--remove-stripes", "11", "--remove-outliers", "6", "--region", "4:8", "--output",
                 str(tmp_path / "p.tif"), "--dry-run")
    assert result.returncode == 0, result.stderr
    for name in ("retrieve-phase", "remove-stripes", "remove-outliers", "crop"):
        assert name in result.stdout
    result = ufo("reco", "--projections", str(root / "proj"), "--darks", str(root / "darks.tif"),
                 "--flats", str(root / "flats.tif"), "--energy", "20keV", "--distance", "5cm", "--pixel-size", "1um",
                 "--region", "4:8", "--output", str(tmp_path / "p.tif"), "-q")
    assert result.returncode == 0, result.stderr
    assert tifffile.imread(tmp_path / "p.tif").shape == (4, N_PIX, N_PIX)


def test_config_file_and_command_line_override(scan, tmp_path):
    root, _ = scan
    config = tmp_path / "reco.toml"
    config.write_text(f'[reco]\nprojections = "{root / "proj"}"\naxis = "40"\nfilter = "hann"\nregion = "0:4"\n')
    result = ufo("reco", "--config", str(config), "--axis", "50", "--dry-run", "--output", str(tmp_path / "x.tif"))
    assert result.returncode == 0, result.stderr
    assert "axis: 50.0" in result.stdout and "filter hann" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('axxis = 3\n')
    result = ufo("reco", "--config", str(bad), "--dry-run")
    assert result.returncode == 2 and "axxis" in result.stderr
    serving = tmp_path / "serve.toml"  # every run with this file became a server that never ended
    serving.write_text(f'serve = true\nprojections = "{root / "proj"}"\n')
    result = ufo("reco", "--config", str(serving), "--dry-run", "--output", str(tmp_path / "x.tif"))
    assert result.returncode == 2 and "unknown key 'serve'" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--axis", "500"], "outside the detector"),
    (["--darks", "{root}/darks.tif"], "--darks without --flats"),
    (["--energy", "20keV"], "--energy, --distance and --pixel-size"),
    (["--region", "50:60"], "selects no rows"),
    (["--region", "0:8:0"], "has a step of 0"),
    (["--roi", "1000,1000,10,10"], "lies outside the field of view"),
    (["--energy", "20mm", "--distance", "1m", "--pixel-size", "1um"], "keV"),
    (["--number", "1000"], "more projections than the 150"),
    (["--half-acquisition", "--axis", "95.9"], "axis 95.9 must lie between"),  # failed after the reading (exit 1)
    (["--darks", "{root}/darks.tif", "--flats", "{root}/small_flats.tif", "--region", "0:2"], "holds frames of 10 x 80 pixels, the projections 12 x 96"),
])
def test_bad_reco_options_are_usage_errors(scan, args, message):
    root, _ = scan
    result = ufo("reco", "--projections", str(root / "proj"), *[a.format(root=root) for a in args], "--dry-run")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_region_past_the_last_row_is_cut_there_with_a_warning(scan):
    """`0:1000` of a 12-row detector reconstructs its 12 rows (Python's slice rules), and says so:
    in the plan, and before a dry run's plan; a region inside the detector says nothing."""
    root, _ = scan
    plan = reco.plan(reco.RecoOptions(projections=str(root / "proj"), region="2:1000:3"))
    assert plan.rows == [2, 5, 8, 11]
    assert plan.warnings == ["region '2:1000:3' reaches past the detector's 12 rows: rows 2 .. 11 (4 slices) "
                             "are reconstructed"]
    assert not reco.plan(reco.RecoOptions(projections=str(root / "proj"), region=f"0:{ROWS}")).warnings
    result = ufo("reco", "--projections", str(root / "proj"), "--region", "0:1000", "--dry-run")
    assert result.returncode == 0 and "reaches past the detector's 12 rows" in " ".join(result.stderr.split())


def test_projections_given_as_sinograms_are_flagged(scan):
    root, _ = scan
    plan = reco.plan(reco.RecoOptions(sinograms=str(root / "proj")))
    assert any("use --projections" in w for w in plan.warnings)
    with pytest.raises(UsageError, match="exactly one"):
        reco.plan(reco.RecoOptions())


def test_passes_fit_the_memory_budget(scan):
    root, _ = scan
    # half the memory is the budget: 4 rows fit, and two passes are in flight at once (pipelined)
    plan = reco.plan(reco.RecoOptions(projections=str(root / "proj")), available=ANGLES * N_PIX * 4 * 3 * 2 * 4)
    assert [p.keep.stop - p.keep.start for p in plan.passes] == [2] * 6
    assert sum(p.keep.stop - p.keep.start for p in plan.passes) == ROWS


def test_one_pass_when_it_fits_else_two_in_flight():
    from ufo.reco.planning import pass_rows

    assert pass_rows(1024, fits=1024) == 1024  # one pass: nothing else is in memory beside it
    assert pass_rows(1024, fits=10**6) == 1024
    assert pass_rows(1025, fits=1024) == 512  # split: the next pass is read while one is drained
    assert pass_rows(1024, fits=1) == 1


def test_the_2014_api_on_a_directory_of_sinograms(scan, tmp_path):
    """write(reco(read())).run().wait() with Backproject filtering and back-projecting by itself."""
    import ufo

    root, phantom = scan
    sinos = sinograms_of(root)
    (tmp_path / "sinos").mkdir()
    for row, sino in enumerate(sinos):
        tifffile.imwrite(tmp_path / "sinos" / f"sino-{row}.tif", sino)
    read = ufo.Reader(path=str(tmp_path / "sinos"))
    backproject = ufo.Backproject(axis=TRUE_AXIS)
    write = ufo.Writer(path=str(tmp_path / "slices" / "slice-%02i.tif"))
    write(backproject(read())).run().wait()
    image = tifffile.imread(tmp_path / "slices" / "slice-07.tif")
    assert slice_rmse(image, phantom, 7) <= 1.02 * ideal_rmse(phantom, 7)
    for result in backproject(read()):
        assert result.shape == (N_PIX, N_PIX)
