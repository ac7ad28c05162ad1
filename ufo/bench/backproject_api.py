"""Per-core CPU FBP through the Python API's short form against ufo's stacked path and two peers.

The short form (UFO's 2014 API: `out(Backproject(axis=...)(source))` over a stream of single
sinograms) used to run the one-slice kernel, at a third of the stacked path's speed; the task
now batches single sinograms itself (`Backproject.batch_size`). This measures both paths,
ASTRA's CPU FBP and scikit-image's iradon in one run, on the same sinogram (exact line
integrals of the Shepp-Logan phantom), in float32, each on the threads the process may use
(pin it with `taskset -c 0` for per-core figures: every tool then runs on one core). Every
tool reconstructs the same slices; ufo's kernels are compiled on a small input first, the
peers have nothing to compile. No warm-up runs of the full data, for anyone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import ufo
from ufo.core.resources import available_cores

from .reco import _data, rmse_best, run_astra, run_skimage


@dataclass
class Row:
    """One tool's figures: slices reconstructed, seconds, GUPS (angles x pixels x slices / s / 1e9), RMSE;
    `gups_cpu` divides by the CPU seconds of the process instead, which on a shared machine leave out
    the time other processes took the core (the ratios use it)."""

    tool: str
    slices: int
    seconds: float
    gups: float
    rmse: float
    cpu_seconds: float = 0.0
    gups_cpu: float = 0.0


def api_path(sino: np.ndarray, slices: int, axis: float) -> tuple[float, np.ndarray]:
    """(seconds, first slice) of `slices` single sinograms through `Backproject(axis=...)`, memory to memory."""
    out: list[np.ndarray] = []
    frames = [sino] * slices
    t0 = time.perf_counter()
    ufo.MemoryOut(out=out)(ufo.Backproject(axis=axis)(ufo.MemoryIn(data=frames))).run(device="cpu").wait()
    return time.perf_counter() - t0, out[0]


def stacked_path(sino: np.ndarray, slices: int, axis: float, per_stack: int = 32) -> tuple[float, np.ndarray]:
    """(seconds, first slice) through `ufo reco`'s graph: stack ! backproject ! unstack, `per_stack`
    sinograms a stack (its --slices-per-pass default)."""
    out: list[np.ndarray] = []
    frames = [sino] * slices
    t0 = time.perf_counter()
    stream = ufo.Unstack()(ufo.Backproject(axis=axis)(ufo.Stack(number=per_stack, partial=True)(ufo.MemoryIn(data=frames))))
    ufo.MemoryOut(out=out)(stream).run(device="cpu").wait()
    return time.perf_counter() - t0, out[0]


def compare(size: int, angles: int, slices: int, peer_slices: int | None = None) -> list[Row]:
    """[ufo API path, ufo stacked path, ASTRA CPU FBP, scikit-image iradon]; a peer that is not
    installed gets a row naming it with zero slices. `peer_slices` (default: `slices`) lets slow
    peers reconstruct fewer slices; GUPS counts each tool's own slices."""
    n, m = size, angles
    sino, sino_half, truth, truth_half, mask = _data(n, m)
    axis = n / 2
    api_path(sino[:32, :64], 3, 32.0)  # compile the kernels (one-slice, stacked) outside the timing
    stacked_path(sino[:32, :64], 3, 32.0)

    def row(tool: str, count: int, call: Callable[[], tuple[float, np.ndarray]], truth_: np.ndarray) -> Row:
        cpu = time.process_time()
        seconds, image = call()
        cpu = time.process_time() - cpu
        updates = m * n * n * count / 1e9
        return Row(tool, count, seconds, updates / seconds, rmse_best(np.squeeze(np.asarray(image)), truth_, mask),
                   cpu, updates / cpu if cpu > 0 else 0.0)

    rows = [row("ufo Backproject(axis=...) over single sinograms (API)", slices, lambda: api_path(sino, slices, axis),
                truth),
            row("ufo stack ! backproject ! unstack (ufo reco's path)", slices, lambda: stacked_path(sino, slices, axis),
                truth)]
    k = peer_slices or slices
    for tool, call, truth_ in (("ASTRA CPU FBP (ram-lak, linear)", lambda: run_astra(sino_half, k), truth_half),
                               ("scikit-image iradon (ramp)", lambda: run_skimage(sino, k), truth)):
        try:
            rows.append(row(tool, k, call, truth_))
        except ImportError as exc:
            rows.append(Row(f"{tool}: not installed ({exc.name})", 0, 0.0, 0.0, float("nan")))
    return rows


def threads() -> int:
    """The cores every tool may use here (1 under `taskset -c 0`)."""
    return available_cores()
