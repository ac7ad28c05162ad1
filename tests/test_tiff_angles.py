"""The angles ufo's TIFF writers record in each frame's description are the scan's angles in `ufo reco`
(`storage.tiff_angles`): 90 projections at 1 degree in a TIFF sequence were reconstructed as 180
degrees without a word, where the same frames in an NXtomo file were right."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from ufo.storage.tiff_angles import described_angles


def ufo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufo", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A 90-degree scan of 90 projections in NXtomo, its reconstruction the reference."""
    folder = tmp_path_factory.mktemp("scan")
    done = ufo("camera", "grab", "mock", "-n", "90", "-p", "sensor-width=128", "-p", "sensor-height=4", "-p",
               "pattern=tomography", "-p", "angle-step=1deg", "-o", str(folder / "s.nx"))
    assert done.returncode == 0, done.stderr
    reference = folder / "ref.tif"
    done = ufo("reco", "--projections", str(folder / "s.nx"), "--axis", "64", "--region", "0:2:1", "--output", str(reference))
    assert done.returncode == 0, done.stderr
    return folder, tifffile.imread(reference)


@pytest.mark.parametrize("form", ["sequence", "bigtiff"])
def test_a_tiff_scan_is_reconstructed_at_the_angles_its_frames_record(scan, tmp_path, form):
    folder, reference = scan
    target = str(tmp_path / ("f-%04i.tif" if form == "sequence" else "b.tif"))
    extra = ["tiff-format=bigtiff"] if form == "bigtiff" else []
    done = ufo("run", "read", f"path={folder / 's.nx'}", "image-key=0", "!", "write", f"path={target}", *extra)
    assert done.returncode == 0, done.stderr
    pattern = str(tmp_path / "f-*.tif") if form == "sequence" else target
    out = str(tmp_path / "rec.tif")
    done = ufo("reco", "--projections", pattern, "--axis", "64", "--region", "0:2:1", "--output", out)
    assert done.returncode == 0, done.stderr
    assert "angles as the frames' descriptions" in done.stderr
    np.testing.assert_allclose(tifffile.imread(out), reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())


def test_frames_without_recorded_angles_read_nothing_more_and_keep_the_assumed_half_turn(tmp_path):
    for i in range(3):
        tifffile.imwrite(tmp_path / f"p-{i}.tif", np.zeros((4, 4), np.float32), description='{"index": 1}')
    assert described_angles([(str(tmp_path / f"p-{i}.tif"), 0) for i in range(3)]) == []
    tifffile.imwrite(tmp_path / "q-0.tif", np.zeros((4, 4), np.float32), description='{"angle": 0.5}')
    tifffile.imwrite(tmp_path / "q-1.tif", np.zeros((4, 4), np.float32), description='{"index": 1}')
    assert described_angles([(str(tmp_path / f"q-{i}.tif"), 0) for i in range(2)]) == [0.5, None]


def test_tifffile_s_own_descriptions_are_not_read_for_angles(tmp_path):
    """tifffile writes `metadata=` as JSON with the shape: its angles' units are unknown (degrees, often)."""
    tifffile.imwrite(tmp_path / "t-0.tif", np.zeros((4, 4), np.float32), metadata={"angle": 1.0})
    tifffile.imwrite(tmp_path / "t-1.tif", np.zeros((4, 4), np.float32), metadata={"angle": 2.0})
    assert described_angles([(str(tmp_path / f"t-{i}.tif"), 0) for i in range(2)]) == []
