"""Direct Fourier inversion (DFI) of parallel-beam sinograms: the second reconstruction method.

Why a second method: filtered back-projection costs O(angles x width^2) per slice; DFI costs
O(angles x width x L^2 + G^2 log G) (L the kernel width, G the Fourier grid), several times
less at beamline sizes, for the same values. It re-creates UFO's `dfi-sinc` task.

Method (the Fourier slice theorem, computed as gridding, "gridrec"): each projection is
zero-padded to the FBP length M (`padded_size`), Fourier transformed and ramp-filtered with
the very filter FBP uses (`fbp_filter`), its phase turned so the rotation axis sits at the
origin (a sub-pixel Fourier shift), and weighted by FBP's angle weight. The radial lines
(frequency k at angle theta lies at (k cos theta, -k sin theta) / M) are then spread onto a
Cartesian grid of G >= oversampling x width points with a small kernel (Kaiser-Bessel, or
UFO's Hamming-windowed sinc) read from a presampled table; an inverse 2-D FFT gives the
slice times the kernel's Fourier transform, which is divided out (de-apodization).

Why this and not plain polar-to-Cartesian interpolation: the weights |k| dk dtheta of the
spread samples are exactly FBP's quadrature, so the result is FBP's sum
`sum_i q_i(x cos theta_i - y sin theta_i + axis) * weight` with q_i evaluated by exact
band-limited (trigonometric) interpolation instead of FBP's linear one, up to a gridding
error of about 1e-6 (Kaiser-Bessel kernel of 7 points, oversampling 2). The slice therefore
overlays `fbp`'s: same orientation, centre, scale (docs/conventions.md), 180- and 360-degree
scans alike. Only outside the inscribed circle do they differ: FBP reads zeros beyond the
detector, DFI the filtered sinogram's tails.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.fft

from ..core.resources import available_cores
from ..kernels.backproject import geometry
from ..kernels.wedge import one_weight_problem
from .fbp import slice_grid
from .filters import fbp_filter, padded_size

KERNELS = ("kaiser-bessel", "sinc")
Roi = tuple[int, int, int | None, int | None]


@numba.njit(nogil=True, fastmath=True, cache=True)
def _spread(values, cos_, sin_, radial, table, table_scale, size, first, stop, grid):  # pragma: no cover - compiled
    """Add values[a, k] at (k cos_a, -k sin_a) * radial onto the periodic grid, angles first..stop.

    Each sample touches size x size grid points with separable kernel weights read from
    `table` (the kernel at |distance| * table_scale, linearly interpolated; zero-padded).
    """
    n_k = values.shape[1]
    g = grid.shape[0]
    half = size / 2.0
    wx = np.empty(size, np.float32)
    wy = np.empty(size, np.float32)
    cx = np.empty(size, np.int64)
    for a in range(first, stop):
        ux = cos_[a] * radial
        uy = -sin_[a] * radial
        for k in range(n_k):
            v = values[a, k]
            if v.real == 0.0 and v.imag == 0.0:
                continue
            gx = k * ux
            gy = k * uy
            px = int(math.floor(gx - half)) + 1
            py = int(math.floor(gy - half)) + 1
            for j in range(size):
                d = abs(gx - (px + j)) * table_scale
                i = int(d)
                wx[j] = table[i] + (d - i) * (table[i + 1] - table[i])
                cx[j] = (px + j) % g
                d = abs(gy - (py + j)) * table_scale
                i = int(d)
                wy[j] = table[i] + (d - i) * (table[i + 1] - table[i])
            for jy in range(size):
                row = grid[(py + jy) % g]
                vy = v * wy[jy]
                for jx in range(size):
                    row[cx[jx]] += vy * wx[jx]


def kernel_table(kernel: str = "kaiser-bessel", size: int = 7, oversampling: float = 2.0,
                 samples: int = 2047) -> tuple[np.ndarray, float]:
    """The gridding kernel on [0, size / 2], `samples` values over the full support (UFO's
    presampled table), plus two zeros; and the factor from distance to table index.

    Kaiser-Bessel's beta follows Beatty et al. (IEEE TMI 24, 2005) for the grid's oversampling,
    which makes it the most accurate kernel of its width; 'sinc' is UFO's Hamming-windowed sinc.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown DFI kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    if size < 1 or samples < 3:
        raise ValueError(f"kernel size must be >= 1 and presampled values >= 3, got {size} and {samples}")
    n_half = max(1, (samples - 1) // 2)
    scale = n_half / (size / 2.0)
    s = np.arange(n_half + 1) / scale
    u = np.clip(2.0 * s / size, 0.0, 1.0)
    if kernel == "kaiser-bessel":
        sigma = max(oversampling, 1.01)
        beta = math.pi * math.sqrt(max((size / sigma) ** 2 * (sigma - 0.5) ** 2 - 0.8, 1e-6))
        values = np.i0(beta * np.sqrt(1.0 - u * u)) / np.i0(beta)
    else:
        values = np.sinc(s) * (0.54 + 0.46 * np.cos(np.pi * u))
    return np.concatenate((values, [0.0, 0.0])).astype(np.float32), float(scale)


def deapodization(table: np.ndarray, scale: float, positions: np.ndarray, grid: int) -> np.ndarray:
    """The kernel's Fourier transform at image positions n (sum_p phi(p) e^{2 pi i p n / G}
    approximated by the integral over the table, trapezoid rule): what gridding multiplied by."""
    s = np.arange(len(table) - 2) / scale
    w = np.full(len(s), 1.0 / scale)
    w[0] = w[-1] = 0.5 / scale
    phases = np.cos(2 * np.pi * np.outer(np.asarray(positions, np.float64), s) / grid)
    return 2.0 * (phases @ (table[:-2].astype(np.float64) * w))


def _region(width: int, roi: Roi, centre: float | None) -> tuple[int, int, float, float, int, int]:
    """Integer grid offsets of the first output pixel, their fractional rests, and the size."""
    x0, y0, cols, rows = slice_grid(width, roi, centre)  # type: ignore[arg-type]
    nx0, ny0 = math.floor(x0), math.floor(y0)
    return nx0, ny0, x0 - nx0, y0 - ny0, cols, rows


@dataclass(frozen=True)
class Plan:
    """Everything DFI derives from the geometry alone, shared by the CPU and GPU versions.

    `phase` (angles, pad // 2 + 1) multiplies the projections' rfft: FBP's filter and angle
    weight, the axis (and region offset) as a Fourier shift, 2 for the conjugate half line.
    """

    size: int  # the Cartesian grid, size x size
    pad: int  # projection rows are padded to this length (FBP's)
    left: int  # leading pad of an edge-padded row
    radial: float  # grid points per frequency index of the padded rows
    table: np.ndarray
    table_scale: float
    kernel_size: int
    cos: np.ndarray
    sin: np.ndarray
    phase: np.ndarray  # read-only: shared by every call with the same geometry
    ys: np.ndarray  # grid rows of the output rows (may be negative: modulo size)
    xs: np.ndarray
    apod: np.ndarray  # the kernel's transform at the output pixels, divided out

    def padded(self, stack: np.ndarray, xp: Any = np) -> np.ndarray:
        """Edge-padded rows for `padding='edge'`; else the rows themselves (the FFT pads zeros)."""
        if not self.left:
            return stack
        return xp.pad(stack, ((0, 0), (0, 0), (self.left, self.pad - stack.shape[-1] - self.left)), mode="edge")


@functools.lru_cache(maxsize=4)
def plan(shape: tuple[int, ...], axis: float | None = None, angle_step: float | None = None, angle_offset: float = 0.0,
         oversampling: float = 2.0, kernel: str = "kaiser-bessel", kernel_size: int = 7, table_size: int = 2047,
         filter: str = "ramp", cutoff: float = 1.0, order: int = 4, padding: str = "zero",
         roi: Roi = (0, 0, None, None), centre: float | None = None) -> Plan:
    """The `Plan` for sinograms of `shape` (..., angles, width); arguments as for `dfi`.

    Cached (a few plans): a task gets one sinogram at a time, and the plan of a 2048-pixel,
    3000-angle sinogram takes as long as gridding it.
    """
    if oversampling < 1.5:
        raise ValueError(f"oversampling must be >= 1.5 (the grid's size over the slice's), got {oversampling}")
    if padding not in ("zero", "edge"):
        raise ValueError(f"padding must be 'zero' or 'edge', got {padding!r}")
    n_angles, width = shape[-2:]
    axis = width / 2 if axis is None else float(axis)
    if (problem := one_weight_problem(n_angles, np.pi / n_angles if angle_step is None else angle_step)) is not None:
        raise ValueError(f"direct Fourier inversion: {problem}; back-project (FBP weighs each projection)")
    cos_, sin_, weight = geometry(n_angles, angle_step, angle_offset)
    nx0, ny0, fx, fy, cols, rows = _region(width, roi, centre)

    # The grid must hold the output region with room to spare: G >= oversampling x extent.
    extent = max(width, 2 * max(abs(nx0), abs(ny0), abs(nx0 + cols), abs(ny0 + rows)))
    size_g = scipy.fft.next_fast_len(int(math.ceil(oversampling * extent)))
    table, table_scale = kernel_table(kernel, kernel_size, size_g / extent, table_size)
    pad = padded_size(width)
    left = (pad - width) // 2 if padding == "edge" else 0  # FBP's edge padding centres the row

    # Filtered, phase-shifted spectra of the half line k >= 0 (the other half is its conjugate).
    k = np.arange(pad // 2 + 1, dtype=np.float64)
    factor = fbp_filter(pad, filter, cutoff, order) * weight / pad * np.where(k > 0, 2.0, 1.0)
    factor[-1] = 0.0  # the Nyquist bin has no conjugate partner; FBP's linear interpolation all but drops it
    phase = np.exp(2j * np.pi * k * (axis + left) / pad) * factor
    if fx or fy:  # a region off the integer grid: a shift that depends on the angle
        shift = (cos_.astype(np.float64) * fx - sin_.astype(np.float64) * fy)[:, None]
        phase = phase * np.exp(2j * np.pi * k * shift / pad)
    phase = np.atleast_2d(phase).astype(np.complex64)  # (1 or angles, pad // 2 + 1): broadcasts over angles
    ys = np.arange(ny0, ny0 + rows)
    xs = np.arange(nx0, nx0 + cols)
    apod_y = deapodization(table, table_scale, ys, size_g)
    apod_x = apod_y if np.array_equal(xs, ys) else deapodization(table, table_scale, xs, size_g)
    apod = (apod_y[:, None] * apod_x[None, :]).astype(np.float32)
    for array in (table, cos_, sin_, phase, ys, xs, apod):
        array.setflags(write=False)
    return Plan(size_g, pad, left, size_g / pad, table, table_scale, kernel_size, cos_, sin_, phase, ys, xs, apod)


def dfi(sino: np.ndarray, axis: float | None = None, angle_step: float | None = None, angle_offset: float = 0.0,
        oversampling: float = 2.0, kernel: str = "kaiser-bessel", kernel_size: int = 7, table_size: int = 2047,
        filter: str = "ramp", cutoff: float = 1.0, order: int = 4, padding: str = "zero", roi: Roi = (0, 0, None, None),
        centre: float | None = None, workers: int | None = None) -> np.ndarray:
    """Direct Fourier inversion: (angles, width) -> slice, (K, angles, width) -> K slices.

    Parameters mean what they mean for `fbp` (docs/conventions.md): `axis` the detector
    position of the rotation axis (default width / 2), angles `angle_offset + i * angle_step`
    (default step pi / angles; 360-degree scans average their two half turns as FBP does),
    `roi` (x, y, width, height) a window of the width x width slice whose rotation centre is
    `centre`. `oversampling` is the Cartesian grid's size over the slice's (>= 1.5; 2 is
    accurate to ~1e-6 with the default kernel), `kernel`/`kernel_size` the gridding kernel and
    its support in grid points, `table_size` its presampled values,
    `filter`/`cutoff`/`order`/`padding` FBP's filters (`filter='none'` for sinograms filtered
    upstream). `workers` threads share each slice's angles (default: all cores).
    """
    data = np.asarray(sino, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise ValueError(f"dfi needs a sinogram (angles, width) or a stack of them, got shape {data.shape}")
    stack = data if data.ndim == 3 else data[None]
    p = plan(tuple(stack.shape[-2:]), axis, angle_step, angle_offset, oversampling, kernel, kernel_size, table_size,
             filter, cutoff, order, padding, tuple(roi), centre)
    workers = max(1, workers or available_cores())
    spectra = scipy.fft.rfft(p.padded(stack), n=p.pad, axis=-1, workers=workers)
    spectra *= p.phase

    n_slices, n_angles = stack.shape[:2]
    bounds = np.linspace(0, n_angles, min(workers, n_angles) + 1).astype(int)
    out = np.empty((n_slices, len(p.ys), len(p.xs)), np.float32)
    grids = [np.zeros((p.size, p.size), np.complex64) for _ in range(len(bounds) - 1)]

    def spread(part: int, values: np.ndarray) -> None:
        grids[part][:] = 0
        _spread(values, p.cos, p.sin, np.float32(p.radial), p.table, np.float32(p.table_scale), p.kernel_size,
                bounds[part], bounds[part + 1], grids[part])

    with ThreadPoolExecutor(max_workers=len(grids)) as pool:
        for s in range(n_slices):
            values = np.ascontiguousarray(spectra[s])
            list(pool.map(lambda part: spread(part, values), range(len(grids))))
            total = grids[0]
            for extra in grids[1:]:
                total += extra
            image = scipy.fft.ifft2(total, norm="forward", workers=workers)
            out[s] = image[np.ix_(p.ys % p.size, p.xs % p.size)].real / p.apod
    return out if data.ndim == 3 else out[0]
