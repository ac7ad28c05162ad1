"""`ufo reco --method fbp|dfi`, `--slice middle|N` and the zinger/stripe hints, end to end on phantom scans."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.tomo.phantom import Phantom

from .test_reco import ANGLES, MU, N_PIX, ROWS, TRUE_AXIS, slice_rmse, ufo


def write_scan(root, zingers: bool = False, stripes: bool = False):
    """A scan as tests/test_reco.py writes it; optionally with zingers (bright pixels) and detector
    columns whose gain the flat field misses (stripes in the sinograms, rings in the slices)."""
    rng = np.random.default_rng(7)
    phantom = Phantom(N_PIX, height=ROWS)
    dark = 100 + 5 * rng.random((ROWS, N_PIX))
    gain = 2000 + 200 * rng.random((ROWS, N_PIX))
    miss = np.ones(N_PIX)
    if stripes:
        miss[[30, 61]] = (1.08, 0.92)
    (root / "proj").mkdir(parents=True)
    for i, angle in enumerate(np.arange(ANGLES) * np.pi / ANGLES):
        frame = dark + gain * miss * np.exp(-MU * phantom.projection(angle, axis=TRUE_AXIS))
        if zingers:
            hit = rng.random(frame.shape) < 2e-3
            frame[hit] *= 4.0
        tifffile.imwrite(root / "proj" / f"proj-{i:04d}.tif", frame.astype(np.float32))
    tifffile.imwrite(root / "darks.tif", np.stack([dark] * 4).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.stack([dark + gain] * 4).astype(np.float32), photometric="minisblack")
    return phantom


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    return root, write_scan(root)


def inputs(root):
    return ["--projections", str(root / "proj"), "--darks", str(root / "darks.tif"), "--flats", str(root / "flats.tif")]


def test_dfi_matches_the_phantom_within_1_2x_of_fbp(scan, tmp_path):
    root, phantom = scan
    errors = {}
    for method in ("fbp", "dfi"):
        result = ufo("reco", *inputs(root), "--axis", str(TRUE_AXIS), "--method", method,
                     "--output", str(tmp_path / method / "s-%03i.tif"))
        assert result.returncode == 0, result.stderr
        assert f"ufo reco ({method})" in result.stdout
        assert len(os.listdir(tmp_path / method)) == ROWS
        errors[method] = [slice_rmse(tifffile.imread(tmp_path / method / f"s-{row:03d}.tif"), phantom, row)
                          for row in (2, 6, 9)]
    for fbp_error, dfi_error in zip(errors["fbp"], errors["dfi"]):
        assert dfi_error < 1.2 * fbp_error


def test_dfi_graph_and_refusals(scan, tmp_path):
    root, _ = scan
    dry = ufo("reco", *inputs(root), "--method", "dfi", "--oversampling", "3", "--dry-run",
              "--output", str(tmp_path / "d.tif"))
    assert dry.returncode == 0, dry.stderr
    assert "dfi-sinc" in dry.stdout and "backproject" not in dry.stdout
    assert "oversampling=3" in dry.stdout.replace(" ", "").replace("3.0", "3")
    bad = ufo("reco", *inputs(root), "--method", "dfi", "--oversampling", "1", "--dry-run")
    assert bad.returncode == 2 and "oversampling" in bad.stderr
    half = ufo("reco", *inputs(root), "--method", "dfi", "--half-acquisition", "--axis", "80", "--dry-run",
               "--output", str(tmp_path / "h.tif"))
    assert half.returncode == 2 and "--method fbp" in half.stderr


def test_gui_method_and_oversampling_drive_the_reconstruction():
    from ufo.gui.engine import options, schema_fields

    fields = {f["name"]: f for f in schema_fields()}
    assert fields["method"]["choices"] == ["fbp", "dfi"] and fields["method"]["label"] == "Method"
    assert fields["oversampling"]["label"] == "Oversampling" and fields["oversampling"]["default"] == 2.0
    chosen, extra = options({"method": "dfi", "oversampling": "3"})
    assert chosen.method == "dfi" and chosen.oversampling == 3.0 and "method" not in extra


@pytest.mark.gpu
def test_dfi_on_the_gpu_matches_the_cpu(scan, tmp_path):
    pytest.importorskip("cupy")
    from ufo.gpu import available

    if not available():
        pytest.skip("no CUDA device")
    root, _ = scan
    common = dict(projections=str(root / "proj"), darks=str(root / "darks.tif"), flats=str(root / "flats.tif"),
                  axis=TRUE_AXIS, method="dfi", region="2:10:4")
    cpu = reco.run(reco.plan(reco.RecoOptions(**common, gpus="cpu", output=str(tmp_path / "cpu.tif"))))
    gpu = reco.run(reco.plan(reco.RecoOptions(**common, gpus="all", output=str(tmp_path / "gpu.tif"))))
    assert cpu.plan.slices == gpu.plan.slices == 2
    a, b = tifffile.imread(tmp_path / "cpu.tif"), tifffile.imread(tmp_path / "gpu.tif")
    assert np.abs(a - b).max() < 1e-4 * np.abs(a).max()


def test_slice_middle_equals_that_slice_of_the_full_reconstruction(scan, tmp_path):
    root, _ = scan
    full = ufo("reco", *inputs(root), "--axis", "auto", "--output", str(tmp_path / "full" / "s-%03i.tif"), "-q")
    assert full.returncode == 0, full.stderr
    one = ufo("reco", *inputs(root), "--axis", "auto", "--slice", "middle", "--output",
              str(tmp_path / "one" / "s-%03i.tif"))
    assert one.returncode == 0, one.stderr
    assert os.listdir(tmp_path / "one") == [f"s-{ROWS // 2:03d}.tif"]
    image = tifffile.imread(tmp_path / "one" / f"s-{ROWS // 2:03d}.tif")
    expected = tifffile.imread(tmp_path / "full" / f"s-{ROWS // 2:03d}.tif")
    np.testing.assert_allclose(image, expected, atol=1e-6 * np.abs(expected).max())
    line = next(x for x in one.stdout.splitlines() if x.startswith("slice of row"))
    assert str(tmp_path / "one" / f"s-{ROWS // 2:03d}.tif") in line
    assert f"mean {image.mean():.6g}" in line and f"max {image.max():.6g}" in line


@pytest.mark.parametrize("output", ["one.tif", "one.h5:/data", "seq/s-%03i.tif"])
def test_the_slice_line_of_an_integer_output_says_values_not_stored_integers(scan, tmp_path, output):
    """With --output-bits 16 it said 'min 4705 max 60806' where the float32 run said 'min -0.000883 ...'."""
    root, _ = scan
    lines = []
    for name, bits in ((f"f32-{output}", []), (f"u16-{output}", ["--output-bits", "16"])):
        result = ufo("reco", *inputs(root), "--axis", str(TRUE_AXIS), "--slice", "3", *bits, "--output",
                     str(tmp_path / name.replace("seq/", "seq-" + name[:3] + "/")))
        assert result.returncode == 0, result.stderr
        lines.append(next(x for x in result.stdout.splitlines() if x.startswith("slice of row")))
    values = [[float(v) for v in re.findall(r"(?:min|max|mean) (\S+)", line)] for line in lines]
    step = (values[0][1] - values[0][0]) / 65535  # the 16-bit scale spans the slice
    np.testing.assert_allclose(values[1], values[0], atol=4 * step + 1e-6 * abs(values[0][1]))


def test_slice_number_into_a_stack_and_refusals(scan, tmp_path):
    root, _ = scan
    result = ufo("reco", *inputs(root), "--axis", str(TRUE_AXIS), "--slice", "3", "--output",
                 str(tmp_path / "one.tif"), "-q")
    assert result.returncode == 0, result.stderr
    assert tifffile.imread(tmp_path / "one.tif").shape == (N_PIX, N_PIX)
    assert "slice of row 3:" in result.stdout
    raw = ufo("reco", *inputs(root), "--axis", str(TRUE_AXIS), "--slice", "3", "--output", str(tmp_path / "one.raw"),
              "-q")  # read back with its shape and type: "needs raw-width and raw-height", exit 2
    assert raw.returncode == 0 and result.stdout.split("  min")[1] == raw.stdout.split("  min")[1], raw.stderr
    for extra in (["--slice", str(ROWS)], ["--slice", "2", "--region", "1:5"], ["--slice", "top"]):
        bad = ufo("reco", *inputs(root), *extra, "--dry-run", "--output", str(tmp_path / "x.tif"))
        assert bad.returncode == 2, (extra, bad.stderr)


def test_hints_for_zingers_and_stripes_and_none_on_a_clean_scan(scan, tmp_path):
    root, _ = scan
    clean = ufo("reco", *inputs(root), "--axis", str(TRUE_AXIS), "--slice", "middle", "--output",
                str(tmp_path / "c.tif"))
    assert clean.returncode == 0, clean.stderr
    assert "hint:" not in clean.stdout
    dirty = tmp_path / "dirty"
    write_scan(dirty, zingers=True, stripes=True)
    result = ufo("reco", *inputs(dirty), "--axis", str(TRUE_AXIS), "--slice", "middle", "--output",
                 str(tmp_path / "d.tif"))
    assert result.returncode == 0, result.stderr
    assert "stripes detected" in result.stdout and "--remove-stripes 21" in result.stdout
    assert "outliers (zingers) detected" in result.stdout and "--remove-outliers" in result.stdout
    asked = ufo("reco", *inputs(dirty), "--axis", str(TRUE_AXIS), "--slice", "middle", "--remove-stripes", "21",
                "--output", str(tmp_path / "e.tif"))
    assert asked.returncode == 0, asked.stderr
    assert "stripes detected" not in asked.stdout and "outliers (zingers) detected" in asked.stdout


def test_half_acquisition_of_projections_without_angles_says_it_takes_360_degrees(scan, tmp_path):
    """A 180-degree TIFF scan given --half-acquisition was joined as 360 degrees without a word."""
    root, _ = scan
    dry = ufo("reco", *inputs(root), "--half-acquisition", "--axis", "80", "--dry-run", "--output", str(tmp_path / "h.tif"))
    assert dry.returncode == 0, dry.stderr
    assert "carry no angles: --half-acquisition takes them as 360 degrees" in " ".join(dry.stderr.split())
    given = ufo("reco", *inputs(root), "--half-acquisition", "--axis", "80", "--angle", "2deg", "--dry-run",
                "--output", str(tmp_path / "h.tif"))
    assert "carry no angles" not in given.stderr


def test_a_dry_run_of_a_half_acquisition_with_the_axis_to_find(scan, tmp_path):
    """--dry-run --axis auto --half-acquisition failed ('half-acquisition needs the axis'); the run itself works."""
    root, _ = scan
    dry = ufo("reco", *inputs(root), "--half-acquisition", "--axis", "auto", "--dry-run", "--output", str(tmp_path / "h.tif"))
    assert dry.returncode == 0, dry.stderr
    assert "axis: found when the run starts (--axis auto)" in dry.stdout and "backproject" in dry.stdout


def test_absorption_is_taken_of_flat_corrected_projections_and_refused_with_phase(tmp_path):
    """`--absorption` of projections corrected already (no darks or flats) was ignored: the slices
    were of transmission, -0.03 times the attenuation; with phase retrieval it took -log twice."""
    import subprocess
    import sys

    import tifffile
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, radon, resize

    phantom = resize(shepp_logan_phantom(), (64, 64)) * 0.05
    angles = np.linspace(0, 180, 120, endpoint=False)
    line = radon(phantom, angles, circle=True).T  # angles x width
    folder = tmp_path / "proj"
    folder.mkdir()
    for i, row in enumerate(np.exp(-line).astype(np.float32)):  # transmission, as a flat-corrected scan
        tifffile.imwrite(folder / f"p-{i:03d}.tif", np.tile(row, (3, 1)))
    out = tmp_path / "s.tif"
    done = subprocess.run([sys.executable, "-m", "ufo", "reco", "-q", "--projections", str(folder), "--axis", "32",
                           "--absorption", "--gpus", "cpu", "--output", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = iradon(line.T, angles, filter_name="ramp", circle=True)
    got = tifffile.imread(out)[1]
    inside = np.hypot(*np.mgrid[-32:32, -32:32] + 0.5) < 28
    error = np.sqrt(np.mean((got - reference)[inside] ** 2)) / np.sqrt(np.mean(reference[inside] ** 2))
    assert error < 0.05, error  # of transmission it was -0.03 times the attenuation
    refused = subprocess.run([sys.executable, "-m", "ufo", "reco", "-q", "--projections", str(folder), "--axis", "32",
                              "--absorption", "--energy", "20keV", "--distance", "0.1m", "--pixel-size", "1um",
                              "--output", str(tmp_path / "p.tif")], capture_output=True, text=True)
    assert refused.returncode == 2 and "-log twice" in refused.stderr


def test_the_axis_by_scan_finds_an_axis_far_from_the_detector_s_centre(tmp_path):
    """`--axis-method scan` searched the detector's middle quarter and took an entropy minimum at its
    edge: 161.5 for a true 171.3 on 256 pixels (on the GUI's 1024 demo 383.02 for 537.97). It now
    scans around Vo's estimate, as the GUI's axis view does."""
    import tifffile

    from ufo import reco

    width, axis = 256, 171.3
    angles = np.arange(180) * np.pi / 180
    u = np.arange(width) - axis
    sino = np.zeros((180, width))
    for x, y, r, mu in [(0, 0, 70, 0.01), (20, -10, 15, 0.03), (-25, 20, 10, 0.02)]:  # exact line integrals
        centre = x * np.cos(angles)[:, None] + y * np.sin(angles)[:, None]
        sino += mu * 2 * np.sqrt(np.clip(r ** 2 - (u[None] - centre) ** 2, 0, None))
    for row in range(2):
        tifffile.imwrite(tmp_path / "sino.tif", sino.astype(np.float32), append=row > 0)
    options = reco.RecoOptions(sinograms=str(tmp_path / "sino.tif"), output=str(tmp_path / "s.tif"), axis="auto",
                               axis_method="scan", gpus="cpu")
    assert reco.run(reco.plan(options)).axis == pytest.approx(axis, abs=0.2)
