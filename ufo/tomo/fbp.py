"""Filtered back-projection of sinograms and sinogram stacks (numpy in, numpy out)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from ..core.errors import Cancelled
from ..core.resources import available_cores, available_memory
from ..kernels.backproject import backproject_slice, backproject_stack, geometry, relative_weights
from ..kernels.wedge import one_weight_fits
from .filters import fbp_filter, padded_size
from .grid import slice_grid

__all__ = ["backproject", "fbp", "filter_rows", "slice_grid", "slices_per_batch"]


#: rows filtered per FFT call: the padded rows and their spectrum take a few MiB, not 3 x the stack
#: (peak memory of filtering 32 x 512 x 512: 196 MiB against 368 MiB in one call, same time)
ROWS_PER_CHUNK = 1024
#: voxel updates of one band of a stacked back-projection (about a second of one core): how soon a stop is seen
CHUNK_UPDATES = 1 << 31


def filter_rows(data: np.ndarray, name: str = "ramp", cutoff: float = 1.0, order: int = 4, padding: str = "zero",
                workers: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Filter every detector row (the last axis) with padding against wrap-around."""
    width = data.shape[-1]
    size = padded_size(width)
    response = fbp_filter(size, name, cutoff, order).astype(np.float32)
    rows = data.reshape(-1, width)
    contiguous = out is not None and out.dtype == np.float32 and out.flags.c_contiguous
    result = out if contiguous else np.empty(data.shape, np.float32)
    target = result.reshape(-1, width)
    chunk = ROWS_PER_CHUNK * max(1, workers)  # threads of one FFT call share its rows
    for lo in range(0, len(rows), chunk):
        part = rows[lo: lo + chunk].astype(np.float32, copy=False)
        if padding == "edge":
            left = (size - width) // 2
            padded = np.pad(part, [(0, 0), (left, size - width - left)], mode="edge")
        else:
            left = 0
            padded = np.zeros((len(part), size), np.float32)
            padded[:, :width] = part
        spectrum = scipy.fft.rfft(padded, axis=-1, workers=workers, overwrite_x=True)
        spectrum *= response
        filtered = scipy.fft.irfft(spectrum, n=size, axis=-1, workers=workers, overwrite_x=True)
        np.copyto(target[lo: lo + chunk], filtered[:, left: left + width], casting="same_kind")
    if out is not None and result is not out:
        np.copyto(out, result, casting="same_kind")
        return out
    return result


def backproject(sino: np.ndarray, axis: float | None = None, angle_step: float | None = None, angle_offset: float = 0.0,
                roi: tuple[int, int, int | None, int | None] = (0, 0, None, None),
                out: np.ndarray | None = None, centre: float | None = None,
                angles: np.ndarray | None = None, threads: int = 1, stop: threading.Event | None = None) -> np.ndarray:
    """Back-project filtered sinograms: (angles, width) -> slice, (K, angles, width) -> K slices.

    Stacks are split into bands of rows run by `threads` threads at once (the numba kernel releases
    the GIL), each band at most CHUNK_UPDATES voxel updates, so that `stop` (set: Cancelled) is seen
    within about a second: a stack of 32 slices of 2048^2 from 2048 angles is a minute and a half
    on two cores, which Ctrl-C waited for.

    `angles` (radians, one per sinogram row) are the true angles of the projections and replace
    `angle_step`/`angle_offset`; each projection is then weighted by the angular interval it
    covers (`ufo.kernels.backproject.angle_weights`), so irregular and 360-degree scans are right.
    """
    n_angles, width = sino.shape[-2:]
    if angles is None and not one_weight_fits(n_angles, np.pi / n_angles if angle_step is None else angle_step):
        angles = angle_offset + angle_step * np.arange(n_angles)  # 200, 270 degrees: weights per projection
    cos_, sin_, scale = geometry(n_angles, angle_step, angle_offset, angles)
    x0, y0, cols, rows = slice_grid(width, roi, centre)
    centre = width / 2 if axis is None else axis
    sino = np.ascontiguousarray(sino, dtype=np.float32)
    relative = relative_weights(angles) if angles is not None else None
    if relative is not None:  # unequal intervals: weight the rows, the kernels keep one scale
        sino = sino * relative[:, None]
    if sino.ndim == 2:
        target = out if out is not None else np.empty((rows, cols), np.float32)
        backproject_slice(sino, cos_, sin_, np.float32(centre), np.float32(x0), np.float32(y0), np.float32(scale), target)
        return target
    interleaved = np.ascontiguousarray(sino.transpose(1, 2, 0))
    result = np.empty((rows, cols, sino.shape[0]), np.float32)

    def band(lo: int, hi: int) -> None:  # rows [lo, hi): bands share nothing but the input
        backproject_stack(interleaved, cos_, sin_, np.float32(centre), np.float32(x0), np.float32(y0 + lo),
                          np.float32(scale), result[lo:hi])

    bands = min(rows, max(1, threads))
    height = max(1, min(-(-rows // bands), CHUNK_UPDATES // max(1, cols * sino.shape[0] * n_angles)))
    edges = [*range(0, rows, height), rows]

    def part(lo: int, hi: int) -> None:
        if stop is None or not stop.is_set():
            band(lo, hi)

    if bands == 1 or len(edges) == 2:
        for lo, hi in zip(edges[:-1], edges[1:]):
            part(lo, hi)
    else:
        with ThreadPoolExecutor(bands, thread_name_prefix="ufo-backproject") as pool:
            list(pool.map(part, edges[:-1], edges[1:]))
    if stop is not None and stop.is_set():
        raise Cancelled("the back-projection was stopped")
    if out is None:
        return np.ascontiguousarray(result.transpose(2, 0, 1))
    np.copyto(out, result.transpose(2, 0, 1))
    return out


def slices_per_batch(n_angles: int, width: int, rows: int, cols: int, memory: int | None = None,
                     most: int = 64) -> int:
    """How many single sinograms to back-project together (the stacked kernel's K).

    The kernel computes each detector position once for K slices, so K amortises the index
    arithmetic (one core, 512^3, float32 kernel: K = 16 2.4-3.0 GUPS, 32 4.7-5.4, 64 6.5-6.8;
    below 32 LLVM's vector loop falls back to its 4-wide remainder). K is a multiple of 32
    up to `most` while the batch (sinograms, their interleaved copy, the slices and their copy
    out) takes at most 1/8 of the free memory; fewer (down to 1) only when memory is short.
    """
    memory = available_memory() if memory is None else memory
    per_slice = 4 * (3 * n_angles * width + 2 * rows * cols)
    fits = memory // 8 // per_slice
    if fits >= 32:
        return int(min(most, fits // 32 * 32))
    return int(max(1, fits))


def fbp(sino: np.ndarray, axis: float | None = None, filter: str = "ramp", cutoff: float = 1.0,
        angle_step: float | None = None, angle_offset: float = 0.0, padding: str = "zero",
        roi: tuple[int, int, int | None, int | None] = (0, 0, None, None), workers: int | None = None,
        centre: float | None = None, angles: np.ndarray | None = None) -> np.ndarray:
    """Filtered back-projection in one call (sinogram rows are angles, columns detector pixels);
    `angles` as in `backproject`."""
    filtered = filter_rows(sino, filter, cutoff, padding=padding, workers=workers or available_cores())
    return backproject(filtered, axis, angle_step, angle_offset, roi, centre=centre, angles=angles)
