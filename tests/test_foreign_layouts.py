"""Scan files of other tools whose darks, flats, angles or entries are not what ufo first assumed:
each once gave a wrong reconstruction with exit 0 (raw counts back-projected, a 360-degree scan
taken as 180, a slice of zeros, the second NXtomo entry's darks read as projections).

The 360-degree scan is scikit-image's Shepp-Logan phantom (with an off-centre disc, so that a
mirror shows) through `radon`, its reference scikit-image's `iradon` of the same line integrals.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco
from ufo.core import UsageError

from .test_foreign_files import DARK, FLAT, ROWS, W, assert_matches, reconstruct, scan  # noqa: F401 - scan: a fixture

skimage_transform = pytest.importorskip("skimage.transform")
N360 = 90


@pytest.fixture(scope="module")
def scan360():
    """(projections angles x rows x width, darks, flats, degrees 0 .. 356, reference slices)."""
    from skimage.data import shepp_logan_phantom

    phantom = skimage_transform.resize(shepp_logan_phantom(), (W, W), anti_aliasing=True)
    yy, xx = np.mgrid[:W, :W]
    phantom[(yy - 0.3 * W) ** 2 + (xx - 0.7 * W) ** 2 < (0.06 * W) ** 2] += 0.8
    phantom *= (xx - W / 2) ** 2 + (yy - W / 2) ** 2 < (W / 2 - 3) ** 2
    degrees = np.arange(N360) * 360.0 / N360
    sino = skimage_transform.radon(phantom, theta=degrees, circle=True).T * 0.02
    line = np.stack([sino * (1 + 0.25 * r) for r in range(ROWS)], axis=1)
    projections = DARK + (FLAT - DARK) * np.exp(-line)
    ref = np.stack([skimage_transform.iradon(line[:, r].T, theta=degrees, filter_name="ramp", circle=True,
                                             output_size=W) for r in range(ROWS)])
    return projections, np.full((2, ROWS, W), DARK), np.full((2, ROWS, W), FLAT), degrees, ref


def dxchange(path, projections, darks=None, flats=None, theta=None) -> str:
    with h5py.File(path, "w") as f:
        f["/exchange/data"] = projections.astype(np.uint16)
        for name, frames in (("data_dark", darks), ("data_white", flats)):
            if frames is not None:
                f[f"/exchange/{name}"] = np.asarray(frames).astype(np.uint16)
        if theta is not None:
            f["/exchange/theta"] = theta
    return str(path)


def plan_of(projections: str, tmp_path) -> reco.Plan:
    return reco.plan(reco.RecoOptions(projections=projections, output=str(tmp_path / "s.h5:/data"), axis=W / 2))


@pytest.mark.parametrize("missing", ["darks", "flats", "empty darks"])
def test_one_kind_of_reference_frames_is_refused_or_said(tmp_path, scan, missing):  # noqa: F811
    """Flats without darks made no flat-field step at all: raw counts were back-projected (exit 0).
    Darks without flats are refused; flats without darks are corrected with a dark of 0, said
    (tests/test_series.py: the result)."""
    projections, darks, flats, degrees, _ = scan
    darks = darks[:0] if missing == "empty darks" else None if missing == "darks" else darks
    path = dxchange(tmp_path / "scan.h5", projections, darks, None if missing == "flats" else flats, degrees)
    if missing == "flats":
        with pytest.raises(UsageError, match="holds darks but no flats.*--flats"):
            plan_of(path, tmp_path)
        return
    plan = plan_of(path, tmp_path)
    assert plan.options.flats and not plan.options.darks
    assert any("no darks: a dark of 0 is taken" in w for w in plan.warnings), plan.warnings


def test_darks_of_another_detector_region_are_refused(tmp_path, scan):  # noqa: F811
    """The frames' shape came from the file's first frame, a dark: 4 slices of 8 rows were written."""
    projections, darks, flats, degrees, _ = scan
    path = dxchange(tmp_path / "scan.h5", projections, darks[:, :-1], flats, degrees)
    with pytest.raises(UsageError, match=rf"its darks, image_key 2\) holds frames of {ROWS - 1} x {W} pixels, "
                                         rf"the projections {ROWS} x {W}"):
        plan_of(path, tmp_path)


def test_theta_one_short_of_a_360_degree_scan_keeps_its_step(tmp_path, scan360):
    """A theta one value short was dropped for pi / projections: the 360-degree scan became 180."""
    projections, darks, flats, degrees, ref = scan360
    path = dxchange(tmp_path / "scan.h5", projections, darks, flats, degrees[:-1])
    plan = plan_of(path, tmp_path)
    assert any(f"holds {N360 - 1} angles for {N360} projections" in w for w in plan.warnings)
    assert plan.options.angle == pytest.approx(np.radians(4.0))
    assert_matches(reconstruct(tmp_path, projections=path), ref)
    uneven = np.sort(np.random.default_rng(0).uniform(0, 360, N360 - 1))
    with pytest.raises(UsageError, match="not evenly spaced: give --angle"):
        plan_of(dxchange(tmp_path / "uneven.h5", projections, darks, flats, uneven), tmp_path)


@pytest.mark.parametrize("theta", ["zeros", "nan", "huge"])
def test_placeholder_and_nan_angles_are_refused(tmp_path, scan, theta):  # noqa: F811
    """theta = zeros gave angle-step 0 and a slice of zeros; a NaN a message naming no file; 1e300
    degrees was taken (its cosine is noise)."""
    projections, darks, flats, degrees, _ = scan
    bad = {"nan": np.nan, "huge": 1e300}.get(theta, 0.0)
    values = np.zeros(len(degrees)) if theta == "zeros" else np.where(np.arange(len(degrees)) == 7, bad, degrees)
    path = dxchange(tmp_path / "scan.h5", projections, darks, flats, values)
    said = "one angle \\(0 degrees\\) for all" if theta == "zeros" else "1 angle\\(s\\) that are not finite.*projection 7"
    with pytest.raises(UsageError, match=f"'/exchange/theta' in '.*scan.h5' holds {said}"):
        plan_of(path, tmp_path)


def nxtomo_entry(f: h5py.File, name: str, projections, darks, flats, degrees) -> None:
    """An NXtomo entry as nxtomomill writes one: darks, flats, projections in one dataset, keyed."""
    entry = f.create_group(name)
    entry.attrs["NX_class"] = "NXentry"
    entry["definition"] = "NXtomo"
    frames = np.concatenate([darks, flats, projections]).astype(np.uint16)
    entry["instrument/detector/data"] = frames
    entry["instrument/detector/image_key_control"] = [2] * len(darks) + [1] * len(flats) + [0] * len(projections)
    entry["sample/rotation_angle"] = np.concatenate([np.zeros(len(darks) + len(flats)), degrees])
    entry["sample/rotation_angle"].attrs["units"] = "degree"


def test_the_second_nxtomo_entry_of_a_file(tmp_path, scan, scan360):  # noqa: F811
    """Its entry could not be named (an error) and its frames' dataset read darks and flats as projections."""
    path = str(tmp_path / "scans.nx")
    with h5py.File(path, "w") as f:
        nxtomo_entry(f, "entry0000", *scan[:4])
        nxtomo_entry(f, "entry0001", *scan360[:4])
    assert any("holds 2 NXtomo entries: reading /entry0000" in w and f"{path}:/entry0001" in w
               for w in plan_of(path, tmp_path).warnings)
    assert_matches(reconstruct(tmp_path, projections=path), scan[-1])
    for named in (f"{path}:/entry0001", f"{path}:/entry0001/instrument/detector/data"):
        plan = plan_of(named, tmp_path)
        assert plan.projections == N360 and plan.options.angle == pytest.approx(np.radians(4.0))
        assert_matches(reconstruct(tmp_path, projections=named), scan360[-1])


def test_image_keys_fewer_than_frames_are_said(tmp_path, scan):  # noqa: F811
    projections, darks, flats, degrees, _ = scan
    path = str(tmp_path / "scan.nx")
    with h5py.File(path, "w") as f:
        nxtomo_entry(f, "entry", projections, darks, flats, degrees)
        keys = f["entry/instrument/detector/image_key_control"][()]
        del f["entry/instrument/detector/image_key_control"]
        f["entry/instrument/detector/image_key_control"] = keys[:-10]
    plan = plan_of(path, tmp_path)
    assert plan.projections == len(projections) - 10
    assert any(f"holds {len(keys) - 10} values for {len(keys)} frames: the last 10 frame(s) are left out" in w
               for w in plan.warnings)


@pytest.mark.parametrize("names", [("projections", "darks", "flats"), ("tomo", "dark", "flat")])
def test_a_tofu_or_concert_scan_folder(tmp_path, scan, names):  # noqa: F811
    """A folder of darks/, flats/ and projections/ (tofu's, ufo's walker's) or tomo/ (Concert's) was
    refused: 'holds no .tif files'."""
    tifffile = pytest.importorskip("tifffile")
    projections, darks, flats, _, ref = scan
    for name, frames in zip(names, (projections, darks, flats)):
        (tmp_path / "scan" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            tifffile.imwrite(tmp_path / "scan" / name / f"frame_{i:06d}.tif", frame.astype(np.uint16))
    plan = plan_of(str(tmp_path / "scan"), tmp_path)
    assert plan.options.darks.endswith(names[1]) and plan.projections == len(projections)
    assert any("scan folder" in t and f"projections from {names[0]}/" in t for t in plan.taken)
    assert_matches(reconstruct(tmp_path, projections=str(tmp_path / "scan")), ref)


def test_a_note_on_the_inputs_is_said_once(tmp_path, scan):  # noqa: F811
    """The note on theta's units came four times: from the plan and from each of the three read tasks."""
    import subprocess
    import sys

    projections, darks, flats, degrees, _ = scan
    path = dxchange(tmp_path / "tomopy.h5", projections, darks, flats, np.radians(degrees))
    run = subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", path, "--output",
                          str(tmp_path / "s.tif"), "--slice", "1", "--gpus", "cpu", "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert " ".join(run.stderr.split()).count("has no units and spans") == 1, run.stderr
