"""An independent reference for every reconstruction test, and the check that a wrong slice fails.

Why: a fixed tolerance such as "RMSE < 0.2 mu" passes a mirrored slice, a half-pixel axis error,
a 30 % scale error or a constant image. Here the tolerance is 1.1 x the error that a correct,
independent implementation of the same method (scikit-image's `iradon` with the ramp filter,
float64, after a float64 flat-field correction) makes on the *same data* against the analytic
phantom; and the slice must sit where that reference sits (cross-correlation, 0.2 px), since on
noisy data a half-pixel shift hides in the RMSE. `assert_matches` also shows, every time it is
called, that the mirrored, shifted by half a pixel, 0.7x scaled and constant versions of the slice
(and the reference reconstructed with the axis half a pixel off) would fail these same checks: a
check that cannot fail is no check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

FACTOR = 1.1  # the tolerance: 1.1 x the ideal error
POSITION = 0.2  # pixels the slice may sit off the reference (the registration resolves 1/40)


def line_integrals(projections: np.ndarray, darks: np.ndarray, flats: np.ndarray) -> np.ndarray:
    """-log((p - dark) / (flat - dark)) in float64, from the averaged darks and flats."""
    dark = np.asarray(darks, np.float64).mean(axis=0)
    flat = np.asarray(flats, np.float64).mean(axis=0)
    ratio = (np.asarray(projections, np.float64) - dark) / np.maximum(flat - dark, 1e-12)
    return -np.log(np.clip(ratio, 1e-12, None))


def _shift_columns(sino: np.ndarray, shift: float) -> np.ndarray:
    """Move every row by `shift` pixels (Fourier shift on a zero-padded row: no wrap-around)."""
    width = sino.shape[1]
    size = 2 * width
    k = np.fft.rfftfreq(size)
    spectrum = np.fft.rfft(sino, n=size, axis=1) * np.exp(-2j * np.pi * k * shift)
    return np.fft.irfft(spectrum, n=size, axis=1)[:, :width]


def iradon_slice(sino: np.ndarray, angles: np.ndarray, axis: float, filter_name: str = "ramp") -> np.ndarray:
    """scikit-image's FBP (`filter_name`: ramp, shepp-logan, cosine, hamming, hann; linear
    interpolation) of one sinogram (angles x width) whose rotation axis is at detector position
    `axis`, oriented as ufo's slices and the phantom (the axis at pixel (width / 2, width / 2))."""
    from skimage.transform import iradon

    sino = np.asarray(sino, np.float64)
    width = sino.shape[1]
    centred = _shift_columns(sino, width // 2 - axis)
    theta = np.degrees(np.asarray(angles, np.float64))
    return iradon(centred.T, theta=theta, filter_name=filter_name.replace("-", "_"), interpolation="linear",
                  circle=True, output_size=width)


def disk(width: int, fraction: float = 0.45) -> np.ndarray:
    """The field of view that every check uses: pixels within `fraction` x width of the centre."""
    return np.hypot(*(np.mgrid[:width, :width] - width / 2)) < fraction * width


def rmse(image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(image, np.float64) - truth)[mask] ** 2)))


def position(image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(rows, columns) by which `image` sits off `truth`, to 1/40 pixel (cross-correlation). Noise
    averages out here, so a half-pixel shift that hides in the RMSE of a noisy slice shows."""
    from skimage.registration import phase_cross_correlation

    shift = phase_cross_correlation(truth, np.asarray(image, np.float64), upsample_factor=40, normalization=None)[0]
    return np.asarray(shift, np.float64)


def _half_pixel_shift(image: np.ndarray) -> np.ndarray:
    spectrum = ndimage.fourier_shift(np.fft.fft2(np.asarray(image, np.float64)), (0.0, 0.5))
    return np.real(np.fft.ifft2(spectrum))


def wrong_versions(image: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The wrong answers every reconstruction test must tell apart from a right one."""
    constant = np.full(image.shape, float(np.mean(np.asarray(image, np.float64)[mask])))
    return {"mirrored left-right": image[:, ::-1], "mirrored up-down": image[::-1],
            "shifted by half a pixel": _half_pixel_shift(image), "scaled by 0.7": 0.7 * image,
            "constant": constant}


def assert_matches(image: np.ndarray, truth: np.ndarray, sino: np.ndarray, angles: np.ndarray, axis: float,
                   mask: np.ndarray | None = None, window: tuple[slice, slice] | None = None,
                   factor: float = FACTOR, wrong_axis: Sequence[float] = (-0.5, 0.5),
                   filter_name: str = "ramp") -> float:
    """Assert that `image` (a reconstructed slice) is as close to `truth` (the phantom's slice) as
    scikit-image's FBP of the same sinogram (`sino`, float64 line integrals, rotation axis at
    `axis`, filtered with `filter_name`) within `factor` (RMSE in the field of view), sits where
    that reference sits within POSITION pixels, and that the wrong versions of `image` and the
    reference reconstructed with the axis off by `wrong_axis` pixels all fail these checks.

    `window` selects the part of the full width x width slice that `image` covers (a region of
    interest). Returns the tolerance."""
    reference = iradon_slice(sino, angles, axis, filter_name)
    window = window or (slice(None), slice(None))
    mask = disk(sino.shape[1])[window] if mask is None else mask
    ideal = rmse(reference[window], truth, mask)
    tolerance = factor * ideal
    where = position(reference[window], truth)

    def failures(version: np.ndarray) -> list[str]:
        error, off = rmse(version, truth, mask), position(version, truth) - where
        wrong = [f"error {error:.4g} > {factor} x the ideal error {ideal:.4g}"] if error >= tolerance else []
        if np.abs(off).max() > POSITION:
            wrong.append(f"sits ({off[0]:.2f}, {off[1]:.2f}) px off scikit-image's slice of the same data")
        return wrong

    assert not (wrong := failures(image)), f"the slice is wrong: {'; '.join(wrong)}"
    versions = wrong_versions(np.asarray(image, np.float64), mask)
    for offset in wrong_axis:
        versions[f"axis off by {offset} px"] = iradon_slice(sino, angles, axis + offset, filter_name)[window]
    for name, version in versions.items():
        assert failures(version), f"a {name} slice would pass (tolerance {tolerance:.4g}): the check cannot fail"
    return tolerance
