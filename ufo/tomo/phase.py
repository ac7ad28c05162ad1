"""Single-distance phase retrieval (Paganin et al., J. Microsc. 206 (2002) 33).

For a homogeneous object the transport-of-intensity equation inverts to a low-pass filter:
I0 * exp(-mu T) = F^-1[ F[I(z)] / (1 + pi lambda z (delta/beta) |u|^2) ], with u the spatial
frequency in cycles per metre and mu = 4 pi beta / lambda.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

PLANCK_EV_M = 1.23984198e-6  # h c in eV m: lambda = hc / E


def wavelength(energy_kev: float) -> float:
    return PLANCK_EV_M / (energy_kev * 1e3)


def paganin_filter(shape: tuple[int, int], pixel_size: float, distance: float, energy_kev: float,
                   delta_beta: float) -> np.ndarray:
    """The filter on `rfft2` frequencies of a padded frame of `shape`."""
    fy = np.fft.fftfreq(shape[0], d=pixel_size)
    fx = np.fft.rfftfreq(shape[1], d=pixel_size)
    u2 = fy[:, None] ** 2 + fx[None, :] ** 2
    return 1.0 / (1.0 + np.pi * wavelength(energy_kev) * distance * delta_beta * u2)


def retrieve_phase(frame: np.ndarray, pixel_size: float, distance: float, energy_kev: float, delta_beta: float,
                   output: str = "absorption", workers: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Paganin retrieval of a flat-corrected transmission frame (not -log'ed).

    `output` 'absorption' gives -ln of the filtered transmission, mu * T, ready for
    back-projection (divide by mu = 4 pi beta / lambda for the thickness T when beta is
    known); 'transmission' gives the filtered transmission itself. Frames are padded to
    twice their size with edge values, so the filter does not wrap around.
    """
    data = np.asarray(frame, np.float32)
    rows, cols = data.shape
    pad_r = scipy.fft.next_fast_len(2 * rows, real=True)
    pad_c = scipy.fft.next_fast_len(2 * cols, real=True)
    top, left = (pad_r - rows) // 2, (pad_c - cols) // 2
    padded = np.pad(data, ((top, pad_r - rows - top), (left, pad_c - cols - left)), mode="edge")
    spectrum = scipy.fft.rfft2(padded, workers=workers)
    spectrum *= paganin_filter(padded.shape, pixel_size, distance, energy_kev, delta_beta).astype(np.float32)
    filtered = scipy.fft.irfft2(spectrum, s=padded.shape, workers=workers)[top: top + rows, left: left + cols]
    if output == "transmission":
        result = filtered
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = -np.log(np.clip(filtered, 1e-12, None))
    target = out if out is not None else np.empty((rows, cols), np.float32)
    np.copyto(target, result, casting="same_kind")
    return target
