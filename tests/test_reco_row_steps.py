"""`ufo reco` steps that look at neighbouring detector rows (phase retrieval, the outlier median)
with a --region step, and --offset on a file's irregular angles, against independent references.

A region step used to read only every step-th row, so the Paganin filter and the 3 x 3 median
took rows `step` apart for neighbours (phase: slices wrong by as much as the phase effect itself;
outliers: real structure of the rows replaced by medians); --offset was silently ignored when
the file's angles are irregular (the slices came out turned by the offset).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from ufo import reco
from ufo.tomo.phantom import SHEPP_LOGAN, Phantom

from .reference import assert_matches, disk, line_integrals, rmse

W, H, N = 96, 40, 90
AXIS = W / 2 + 3.25
MU = 0.02
# Shepp-Logan with two features off its mirror symmetry: a mirrored slice differs
ELLIPSES = np.vstack([SHEPP_LOGAN, [(0.3, 0.12, 0.05, 0.45, 0.3, 30.0), (0.25, 0.05, 0.05, 0.3, -0.3, 0.0)]])


def ramp_fbp(sino: np.ndarray, angles: np.ndarray, axis: float) -> np.ndarray:
    """float64 FBP written out: band-limited ramp (Kak & Slaney), zero padding to 2 x the width,
    linear interpolation, t = x cos - y sin + axis, the axis at slice pixel (W / 2, W / 2)."""
    n, width = sino.shape
    size = 2 ** int(np.ceil(np.log2(2 * width)))
    k = np.arange(size)
    kernel = np.zeros(size)
    kernel[0] = 0.25
    kernel[1::2] = -1 / (np.pi * np.minimum(k, size - k)[1::2]) ** 2
    response = 2 * np.real(np.fft.fft(kernel))
    filtered = np.real(np.fft.ifft(np.fft.fft(sino, size, axis=1) * response, axis=1))[:, :width]
    y, x = np.mgrid[:width, :width] - width / 2
    out = np.zeros((width, width))
    for q, theta in zip(filtered, angles):
        out += np.interp(x * np.cos(theta) - y * np.sin(theta) + axis, np.arange(width), q, left=0, right=0)
    return out * np.pi / (2 * n)


def write_scan(root, counts: np.ndarray) -> list[str]:
    tifffile.imwrite(root / "proj.tif", counts.astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "darks.tif", np.full((3, H, W), 100, np.float32), photometric="minisblack")
    tifffile.imwrite(root / "flats.tif", np.full((3, H, W), 20100, np.float32), photometric="minisblack")
    return [str(root / name) for name in ("proj.tif", "darks.tif", "flats.tif")]


def run(root, paths: list[str], **options) -> np.ndarray:
    out = root / "slices.h5"
    plan = reco.plan(reco.RecoOptions(projections=paths[0], darks=paths[1], flats=paths[2], axis=AXIS,
                                      output=f"{out}:/data", overwrite=True, gpus="cpu", **options))
    reco.run(plan)
    with h5py.File(out) as f:
        return f["data"][:]


def paganin(transmission: np.ndarray, pixel: float, distance: float, energy_kev: float, delta_beta: float) -> np.ndarray:
    """Paganin et al. (2002) on one whole frame, edge-padded to twice its size; -ln of the result."""
    rows, cols = transmission.shape
    padded = np.pad(transmission, ((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2)), mode="edge")
    u2 = np.fft.fftfreq(2 * rows, pixel)[:, None] ** 2 + np.fft.fftfreq(2 * cols, pixel)[None, :] ** 2
    wavelength = 1.23984198e-6 / (energy_kev * 1e3)
    filtered = np.real(np.fft.ifft2(np.fft.fft2(padded) / (1 + np.pi * wavelength * distance * delta_beta * u2)))
    return -np.log(filtered[rows // 2: rows // 2 + rows, cols // 2: cols // 2 + cols])


def test_phase_retrieval_with_a_region_step_filters_whole_frames(tmp_path):
    phantom = Phantom(W, height=2 * H, ellipses=ELLIPSES)  # rows: planes z = row - H / 2
    angles = np.arange(N) * np.pi / N
    counts = 100 + 20000 * np.exp(-MU * np.stack([phantom.projection(a, AXIS, slice(H // 2, H // 2 + H)) for a in angles]))
    slices = run(tmp_path, write_scan(tmp_path, counts), region="6:40:15", energy=20.0, distance=0.05,
                 pixel_size=1e-6, delta_beta=100.0)
    retrieved = np.stack([paganin((c - 100) / 20000, 1e-6, 0.05, 20.0, 100.0) for c in counts])
    mask = disk(W)
    for image, row in zip(slices, (6, 21, 36)):
        expected = ramp_fbp(retrieved[:, row], angles, AXIS)
        without_phase = ramp_fbp(line_integrals(counts[:, row], np.full((1, W), 100.0), np.full((1, W), 20100.0)),
                                 angles, AXIS)
        effect = rmse(without_phase, expected, mask)
        assert effect > 0.2 * expected.max()  # phase retrieval changes these slices a lot
        # float32 pipeline against float64: 1 % of the phase effect (the rows 15 apart gave 30-100 %)
        assert rmse(image, expected, mask) < 0.01 * effect, row
        assert rmse(image[:, ::-1], expected, mask) > 0.05 * effect


def test_outlier_removal_with_a_region_step_keeps_the_rows_structure(tmp_path):
    phantom = Phantom(W, height=2 * H, ellipses=ELLIPSES)  # rows: planes z = row - H / 2
    angles = np.arange(N) * np.pi / N
    rng = np.random.default_rng(3)
    counts = rng.poisson(100 + 20000 * np.exp(-MU * np.stack([phantom.projection(a, AXIS, slice(H // 2, H // 2 + H)) for a in angles])))
    counts = counts.astype(np.float64)
    counts.flat[rng.integers(0, counts.size, counts.size // 500)] = 60000  # zingers
    slices = run(tmp_path, write_scan(tmp_path, counts), region="5:40:8", remove_outliers=3.0)
    # the reference: zingers replaced by the 3 x 3 median of the whole frame, then FBP and the phantom
    cleaned = np.empty_like(counts)
    for i, frame in enumerate(counts):
        median = ndimage.median_filter(frame, size=3, mode="reflect")
        limit = 3 * 1.4826 * np.median(np.abs(frame - median))
        cleaned[i] = np.where(np.abs(frame - median) > limit, median, frame)
    for image, row in zip(slices, (5, 13, 21, 29, 37)):
        sino = line_integrals(cleaned[:, row], np.full((1, W), 100.0), np.full((1, W), 20100.0))
        assert_matches(image, MU * phantom.slice(row - H / 2), sino, angles, AXIS, factor=1.15)


def test_offset_moves_a_files_irregular_angles(tmp_path):
    phantom = Phantom(W, height=2 * H, ellipses=ELLIPSES)  # rows: planes z = row - H / 2
    rng = np.random.default_rng(4)
    written = np.arange(N) * 180 / N + rng.uniform(-0.4, 0.4, N) * 180 / N  # irregular, degrees
    written[0] = 0.0
    true = np.radians(written + 30)  # the file's angles start at 0, the scan at 30 degrees
    li = MU * np.stack([phantom.sinogram(true, AXIS, z) for z in (-10.0, 4.0)], axis=1)
    path = tmp_path / "scan.nx"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        frames = np.concatenate([np.full((2, 2, W), 100.0), np.full((2, 2, W), 20100.0), 100 + 20000 * np.exp(-li)])
        entry["instrument/detector/data"] = frames.astype(np.float32)
        entry["instrument/detector/image_key"] = np.array([2, 2, 1, 1] + [0] * N)
        entry["sample/rotation_angle"] = np.concatenate([np.zeros(4), written])
        entry["sample/rotation_angle"].attrs["units"] = "degree"
    out = tmp_path / "slices.h5"
    plan = reco.plan(reco.RecoOptions(projections=str(path), axis=AXIS, offset=np.radians(30), gpus="cpu",
                                      output=f"{out}:/data"))
    assert plan.angles is not None and plan.angles[0] == pytest.approx(true[0])
    reco.run(plan)
    with h5py.File(out) as f:
        slices = f["data"][:]
    for image, row, z in zip(slices, (0, 1), (-10.0, 4.0)):
        assert_matches(image, MU * phantom.slice(z), li[:, row], true, AXIS)
