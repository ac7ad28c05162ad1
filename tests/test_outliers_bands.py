"""--remove-outliers gives a row the same slice whatever rows are read with it: a --region, a
--pass-height or a cluster worker's band. The robust sigma was one statistic of the band read,
so each split removed other zingers (slices 1e-3 to 2.5e-3 apart on a signal of 0.02); now
each row's own. Reference: the one-pass run of every row, and scikit-image's iradon of the
zinger-free line integrals (the removal must bring the slice closer to it).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo import reco

skimage_transform = pytest.importorskip("skimage.transform")
W, ROWS, N = 96, 12, 120


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    from skimage.data import shepp_logan_phantom

    rng = np.random.default_rng(4)
    phantom = skimage_transform.resize(shepp_logan_phantom(), (W, W), anti_aliasing=True)
    degrees = np.arange(N) * 180.0 / N
    sino = skimage_transform.radon(phantom, theta=degrees, circle=True).T * 0.02
    line = np.stack([sino * (0.5 + 0.1 * r) for r in range(ROWS)], axis=1)  # rows differ: so do their sigmas
    counts = rng.poisson(20000.0 * np.exp(-line)).astype(np.float64)
    hits = rng.random(counts.shape) < 0.01
    counts[hits] *= 3.0  # zingers
    path = tmp_path_factory.mktemp("zingers") / "scan.h5"
    with h5py.File(path, "w") as f:
        f["/exchange/data"] = counts.astype(np.uint16)
        f["/exchange/data_white"] = np.full((2, ROWS, W), 20000, np.uint16)
        f["/exchange/data_dark"] = np.zeros((2, ROWS, W), np.uint16)
        f["/exchange/theta"] = degrees
    ref = np.stack([skimage_transform.iradon(line[:, r].T, theta=degrees, filter_name="ramp", circle=True,
                                             output_size=W) for r in range(ROWS)])
    return str(path), ref


def slices(tmp_path, path, name, **options):
    out = tmp_path / f"{name}.h5"
    reco.run(reco.plan(reco.RecoOptions(projections=path, output=f"{out}:/data", axis=W / 2, gpus="cpu",
                                        remove_outliers=3.0, overwrite=True, **options)))
    with h5py.File(out, "r") as f:
        return f["/data"][()]


def test_a_row_s_slice_does_not_depend_on_the_rows_read_with_it(tmp_path, scan):
    path, ref = scan
    full = slices(tmp_path, path, "full")
    np.testing.assert_allclose(slices(tmp_path, path, "one", region="5:6"), full[5:6], atol=1e-6)
    np.testing.assert_allclose(slices(tmp_path, path, "steps", region="1:12:4"), full[1:12:4], atol=1e-6)
    np.testing.assert_allclose(slices(tmp_path, path, "passes", pass_height=3), full, atol=1e-6)
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 5
    cleaned = np.sqrt(np.mean((full - ref)[:, inside] ** 2))
    out = tmp_path / "dirty.h5"
    reco.run(reco.plan(reco.RecoOptions(projections=path, output=f"{out}:/data", axis=W / 2, gpus="cpu")))
    with h5py.File(out, "r") as f:
        dirty = np.sqrt(np.mean((f["/data"][()] - ref)[:, inside] ** 2))
    assert cleaned < 0.6 * dirty, (cleaned, dirty)
