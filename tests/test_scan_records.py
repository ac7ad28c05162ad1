"""What an NXtomo scan records of itself, taken where the options leave it open (found side by side
with nabu, which reads the same fields): a half acquisition (`field_of_view` Half) read as a full
field gave an axis 170 px off and a slice of half the width, with exit 0; `--delta-beta` alone was
ignored without a word; phase retrieval was refused though the file records energy, distance and
pixel size. The scans are written by the `nxtomo` package, as ESRF's tools write them."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pint
import pytest
from nxtomo import NXtomo
from nxtomo.nxobject.nxdetector import ImageKey

from ufo import reco
from ufo.tomo.phantom import Phantom

W, H, ROW = 96, 4, 2
DARK, FLAT = 100.0, 4000.0
units = pint.get_application_registry()


def ufo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufo", "reco", *args], capture_output=True, text=True, timeout=300)


def write_nxtomo(path: str, degrees: float, n: int, axis: float, fov: str, modern: bool = True) -> str:
    """An NXtomo as the `nxtomo` package writes it: a half acquisition by `half_acquisition` (its field
    since 3.1), or by the older `field_of_view` (which 3.1 still writes, beside half_acquisition false)."""
    phantom = Phantom(W, height=H)
    angles = np.arange(n) * degrees / n
    frames = [np.full((H, W), DARK), np.full((H, W), FLAT)]
    frames += [DARK + (FLAT - DARK) * np.exp(-0.02 * phantom.projection(np.radians(a), axis=axis)) for a in angles]
    nx = NXtomo()
    nx.instrument.detector.data = np.rint(np.stack(frames)).astype(np.uint16)
    nx.instrument.detector.image_key_control = [ImageKey.DARK_FIELD, ImageKey.FLAT_FIELD] + [ImageKey.PROJECTION] * n
    nx.sample.rotation_angle = np.concatenate([[0.0, 0.0], angles]) * units.degree
    nx.instrument.detector.x_pixel_size = 1e-6 * units.meter
    nx.instrument.detector.y_pixel_size = 1e-6 * units.meter
    nx.instrument.detector.distance = 0.5 * units.meter
    nx.energy = 20.0 * units.keV
    if modern:
        nx.instrument.detector.half_acquisition = fov == "Half"
    else:
        nx.instrument.detector.field_of_view = fov
    nx.save(path, data_path="entry0000")
    return path


def slices(path) -> np.ndarray:
    with h5py.File(path) as f:
        return f["data"][...]


@pytest.fixture(scope="module", params=["modern", "field_of_view"])
def half(tmp_path_factory, request):
    axis = W - 16.5
    path = str(tmp_path_factory.mktemp("records") / "half.nx")
    return write_nxtomo(path, 360.0, 240, axis, "Half", modern=request.param == "modern"), axis


def test_a_recorded_half_acquisition_is_reconstructed_as_one(half, tmp_path):
    path, axis = half
    common = ["--axis", str(axis), "--region", f"{ROW}:{ROW + 1}"]
    told = ufo("--projections", path, "--half-acquisition", "--output", f"{tmp_path / 'told.h5'}:/data", *common)
    assert told.returncode == 0, told.stderr
    found = ufo("--projections", path, "--output", f"{tmp_path / 'found.h5'}:/data", *common)
    assert found.returncode == 0, found.stderr
    assert "records a half acquisition" in " ".join(found.stderr.split())
    a, b = slices(tmp_path / "told.h5"), slices(tmp_path / "found.h5")
    assert a.shape == b.shape and a.shape[-1] > 1.5 * W  # the stitched width, not the detector's
    np.testing.assert_array_equal(a, b)
    full = ufo("--projections", path, "--no-half-acquisition", "--output", f"{tmp_path / 'full.h5'}:/data", *common)
    assert full.returncode == 0, full.stderr
    assert slices(tmp_path / "full.h5").shape[-1] == W
    bare = ufo("--projections", path, "--output", f"{tmp_path / 'bare.h5'}:/data", "--region", "0:1", "-q")
    assert bare.returncode == 2 and "--axis auto" in bare.stderr and "half acquisition" in bare.stderr


def test_the_auto_axis_of_a_recorded_half_acquisition_is_the_true_one(half, tmp_path):
    path, axis = half
    plan = reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "x.h5:/data"), axis="auto",
                                      region=f"{ROW}:{ROW + 1}"))
    assert plan.options.half_acquisition is True
    assert "overlap of opposite projections" in plan.describe()
    result = reco.run(plan)
    assert result.axis == pytest.approx(axis, abs=0.25)  # read as a full field: 58.5 against 230.4 (nabu probe)


def test_phase_retrieval_takes_what_the_scan_records(tmp_path):
    path = write_nxtomo(str(tmp_path / "full.nx"), 180.0, 120, W / 2, "Full")
    common = ["--axis", str(W / 2)]
    given = ufo("--projections", path, "--energy", "20", "--distance", "0.5", "--pixel-size", "1e-6", "--delta-beta",
                "200", "--output", f"{tmp_path / 'given.h5'}:/data", *common)
    assert given.returncode == 0, given.stderr
    recorded = ufo("--projections", path, "--delta-beta", "200", "--output", f"{tmp_path / 'rec.h5'}:/data", *common)
    assert recorded.returncode == 0, recorded.stderr
    message = " ".join(recorded.stderr.split())
    assert "energy 20 keV" in message and "distance 0.5 m" in message and "pixel size 1 um" in message, message
    np.testing.assert_array_equal(slices(tmp_path / "given.h5"), slices(tmp_path / "rec.h5"))
    plain = ufo("--projections", path, "--output", f"{tmp_path / 'plain.h5'}:/data", *common)
    assert plain.returncode == 0, plain.stderr
    assert np.abs(slices(tmp_path / "plain.h5") - slices(tmp_path / "rec.h5")).max() > 1e-3  # no phase unless asked
    dry = ufo("--projections", path, "--energy", "30", "--output", f"{tmp_path / 'd.h5'}:/data", "--dry-run", *common)
    assert dry.returncode == 0 and "phase retrieval (Paganin): 30 keV, 0.5 m, pixel 1 um, delta/beta 100" in dry.stdout


def test_phase_retrieval_without_a_record_names_what_is_missing(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "p.tif", np.ones((40, H, W), np.float32))
    result = ufo("--projections", str(tmp_path / "p.tif"), "--delta-beta", "200", "--output", str(tmp_path / "o.tif"))
    assert result.returncode == 2
    assert "give --energy, --distance, --pixel-size" in " ".join(result.stderr.split())


def test_a_recorded_placeholder_is_named_as_such(tmp_path):
    """An energy of 0 (a placeholder some writers leave) was reported as 'not recorded in the scan'."""
    path = write_nxtomo(str(tmp_path / "zero.nx"), 180.0, 60, W / 2, "Full")
    with h5py.File(path, "r+") as f:
        f["entry0000/instrument/beam/incident_energy"][()] = 0.0
    result = ufo("--projections", path, "--delta-beta", "200", "--axis", str(W / 2), "--output",
                 f"{tmp_path / 'o.h5'}:/data")
    message = " ".join(result.stderr.split())
    assert result.returncode == 2 and "--energy" in message and "records 0" in message, message
