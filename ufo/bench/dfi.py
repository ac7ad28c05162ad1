"""Direct Fourier inversion against filtered back-projection (ufo's and scikit-image's): speed and
accuracy on the same sinograms with the same threads (benchmarks/dfi.py prints it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..tomo.dfi import dfi
from ..tomo.fbp import fbp
from ..tomo.phantom import Phantom


def per_thread(function: Callable[[np.ndarray], np.ndarray], sinos: np.ndarray,
               threads: int) -> tuple[float, np.ndarray]:
    """Seconds to reconstruct every sinogram, one per thread at a time; and the slices."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        slices = np.stack(list(pool.map(function, sinos)))
    return time.perf_counter() - start, slices


def compare(n: int, m: int, k: int, threads: int, peer_slices: int) -> list[tuple[str, int, float, float]]:
    """(method, slices, seconds, RMSE against the phantom inside 0.45 x width) for ufo's FBP, DFI
    one slice per thread and as a stack, and scikit-image's iradon on `peer_slices` slices."""
    phantom = Phantom(n, height=n)
    theta = np.arange(m) * np.pi / m
    heights = np.linspace(-0.2 * n, 0.2 * n, k)
    sinos = np.stack([phantom.sinogram(theta, z=z) for z in heights]).astype(np.float32)
    truths = np.stack([phantom.slice(z) for z in heights])
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n

    def rmse(slices: np.ndarray, count: int) -> float:
        return float(np.sqrt(np.mean((slices - truths[:count])[:, mask] ** 2)))

    small = sinos[:1, :32, :64]  # warm up the numba kernels: compilation is not what is measured
    dfi(small), fbp(small[0])
    rows = []
    seconds, slices = per_thread(lambda s: fbp(s, workers=1), sinos, threads)
    rows.append(("ufo fbp (slice per thread)", k, seconds, rmse(slices, k)))
    seconds, slices = per_thread(lambda s: dfi(s, workers=1), sinos, threads)
    rows.append(("ufo dfi (slice per thread)", k, seconds, rmse(slices, k)))
    start = time.perf_counter()
    slices = dfi(sinos, workers=threads)
    rows.append(("ufo dfi (stack, threads inside)", k, time.perf_counter() - start, rmse(slices, k)))
    if peer_slices:
        try:
            from skimage.transform import iradon
        except ImportError:
            return rows
        count = min(peer_slices, k)
        degrees = np.degrees(theta)
        seconds, slices = per_thread(lambda s: iradon(s.T.astype(np.float64), theta=degrees, filter_name="ramp"),
                                     sinos[:count], threads)
        rows.append(("scikit-image iradon (slice per thread)", count, seconds, rmse(slices, count)))
    return rows
