"""A scan of scikit-image's Shepp-Logan phantom whose beam fades over the projections, shared by
the tests of other facilities' layouts (ALS 8.3.2, TOMCAT), and the checks of their slices.

Raw frames: dark + (flat - dark) x beam x exp(-line integrals), the flat non-uniform across the
detector and the beam fading linearly to `fade` of its start, so flats taken after the scan
differ from those before it. Slices are checked against scikit-image's FBP of the same line
integrals (tests.reference: a mirrored, shifted or scaled slice fails).
"""

from __future__ import annotations

from typing import NamedTuple

import h5py
import numpy as np

from tests.reference import assert_matches
from ufo import reco

DARK, FLAT = 100.0, 1000.0


class FadingScan(NamedTuple):
    projections: np.ndarray  # angles x rows x width, raw counts
    before: np.ndarray  # the flat before the scan, rows x width
    after: np.ndarray  # the flat after it
    line: np.ndarray  # the line integrals, angles x rows x width
    truth: np.ndarray  # the phantom's slice in the same units (row r is (1 + 0.25 r) times it)
    degrees: np.ndarray


def phantom(width: int) -> np.ndarray:
    """Shepp-Logan at `width`, with a bright disc off centre (a mirrored slice shows), inside a circle."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    image = resize(shepp_logan_phantom(), (width, width), anti_aliasing=True)
    yy, xx = np.mgrid[:width, :width]
    image[(yy - 0.3 * width) ** 2 + (xx - 0.7 * width) ** 2 < (0.06 * width) ** 2] += 0.8
    return image * ((xx - width / 2) ** 2 + (yy - width / 2) ** 2 < (width / 2 - 3) ** 2)


def fading_scan(width: int, rows: int, degrees: np.ndarray, fade: float = 0.8) -> FadingScan:
    from skimage.transform import radon

    truth = phantom(width) * 0.02
    sino = radon(truth, theta=degrees, circle=True).T
    line = np.stack([sino * (1 + 0.25 * r) for r in range(rows)], axis=1)
    flat = FLAT * (1 + 0.3 * np.linspace(0, 1, width))[None, :].repeat(rows, 0)
    beam = np.linspace(1.0, fade, len(degrees))[:, None, None]
    projections = DARK + (flat - DARK) * beam * np.exp(-line)
    return FadingScan(projections, flat, DARK + (flat - DARK) * fade, line, truth, degrees)


def reconstruct(tmp_path, axis: float, **options) -> np.ndarray:
    """`ufo reco`'s slices (CPU) of the options, read back from an HDF5 file."""
    out = tmp_path / "slices.h5"
    reco.run(reco.plan(reco.RecoOptions(output=f"{out}:/data", axis=axis, gpus="cpu", overwrite=True, **options)))
    with h5py.File(out, "r") as f:
        return f["/data"][()]


def check(slices: np.ndarray, scan: FadingScan) -> None:
    """Each slice as close to the phantom as scikit-image's FBP of its line integrals, where it sits."""
    rows, width = scan.line.shape[1:]
    assert slices.shape == (rows, width, width)
    for r, got in enumerate(slices):
        assert_matches(got, scan.truth * (1 + 0.25 * r), scan.line[:, r], np.radians(scan.degrees), width / 2)
