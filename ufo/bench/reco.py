"""`ufo bench`'s reconstruction rows: CPU FBP against scikit-image, ASTRA and algotom (measured by
reco_fair: per core and per machine), GPU FBP against algotom's numba-cuda FBP.

Same data for every tool: exact line integrals of the analytic Shepp-Logan phantom. Speed
in GUPS (giga voxel updates per second: angles x pixels x slices / seconds), accuracy as
RMSE against the phantom inside the reconstruction circle, each tool on its own grid.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

import ufo
from ufo.reco.options import SLICES_PER_PASS

from .measure import Measure
from .reco_fair import TOOLS, compare, phantom_data, rmse_best


def _in_process(tool: int, sino: np.ndarray, slices: int) -> tuple[float, np.ndarray]:
    """(seconds, last slice) of one reco_fair tool in this process, on one sinogram."""
    sinos = np.stack([sino, sino])
    t0 = time.perf_counter()
    image = TOOLS[tool].run(sinos, slices, 1)
    return time.perf_counter() - t0, image


def run_skimage(sino: np.ndarray, slices: int) -> tuple[float, np.ndarray]:
    """(seconds, last slice) of scikit-image's iradon in this process (for the API benchmark)."""
    return _in_process(2, sino, slices)


def run_astra(sino: np.ndarray, slices: int) -> tuple[float, np.ndarray]:
    """(seconds, last slice) of ASTRA's CPU FBP in this process (for the API benchmark)."""
    return _in_process(3, sino, slices)


_data = phantom_data  # the API benchmark's name for it (ufo/bench/backproject_api.py)


def measure(scale: float = 1.0) -> list[Measure]:
    """`ufo bench`'s reco rows: ufo's CPU FBP against each installed peer, per core and on the
    whole machine, each ratio between runs on the same cores."""
    n = max(128, int(512 * scale ** 0.5) // 16 * 16)
    cores = len(os.sched_getaffinity(0))
    run = compare(n, n, 16 * max(2, cores), 1, cores, tools=(0, 2, 3, 4))
    ours = run.timings.get(TOOLS[0].name, {})
    rows = []
    for tool in TOOLS[2:]:
        short = tool.name.split(" (")[0]
        if tool.name in run.missing:
            rows.append(Measure("reco", f"FBP {n} angles x {n} px, CPU", ours["per core"].gups if ours else 0.0, short,
                                None, "GUPS", f"not installed ({run.missing[tool.name]}): pip install -e '.[bench]'"))
            continue
        mine, theirs = ours["per core"], run.timings[tool.name]["per core"]
        rows.append(Measure("reco", f"FBP {n} angles x {n} px, 1 core each, GUPS per CPU-second (RMSE {mine.rmse:.4f})",
                            mine.gups_cpu, short, theirs.gups_cpu, "GUPS", f"peer RMSE {theirs.rmse:.4f}"))
        mine, theirs = ours["whole machine"], run.timings[tool.name]["whole machine"]
        rows.append(Measure("reco", f"FBP {n} angles x {n} px, {cores} cores each, wall time", mine.gups, short,
                            theirs.gups, "GUPS", "peer: one process per core" if not tool.threads_inside else
                            "peer: its own threads"))
    return rows


def measure_gpu(scale: float = 1.0) -> list[Measure]:
    """ufo's GPU FBP through the runtime (host memory in and out) against algotom's numba-cuda FBP, both fp32,
    each warmed up once and then timed once."""
    n = m = max(256, int(2048 * scale ** 0.5) // 16 * 16)
    slices = max(16, min(int(256 * scale), 2**31 // (m * n)) // 16 * 16)  # the input stack stays within 8 GiB
    sino, sino_half, truth, truth_half, mask = phantom_data(n, m)
    stack = np.ascontiguousarray(np.broadcast_to(sino, (slices, m, n)))
    out: list[np.ndarray] = []

    def once() -> float:
        out.clear()
        t0 = time.perf_counter()
        stream = ufo.Unstack()(ufo.Backproject()(ufo.Stack(number=SLICES_PER_PASS, partial=True)(stack)))
        ufo.MemoryOut(out=out)(stream).run(device="all").wait()
        return time.perf_counter() - t0

    once()  # kernels compiled and memory pools filled outside the timing
    t = once()  # one timed run, as the peer gets
    gups = m * n * n * slices / t / 1e9
    what = f"FBP {m} angles x {n} px, {slices} slices, GPU, host to host (RMSE {rmse_best(out[0], truth, mask):.4f})"
    try:
        from ..kernels.jit.compile import cuda_module

        cuda_module()  # numba-cuda before numpy 2.4 still names np.row_stack; algotom imports it
        from algotom.rec.reconstruction import fbp_reconstruction
    except ImportError as exc:
        return [Measure("gpu", what, gups, "algotom fbp (numba-cuda)", None, "GUPS", f"not installed ({exc.name})")]
    angles = np.arange(m) * np.pi / m
    k = min(slices, 64)
    batch = np.ascontiguousarray(np.broadcast_to(sino_half[:, None, :], (m, k, n)))  # algotom: angles, slices, width
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fbp_reconstruction(batch[:, :2], (n - 1) / 2, angles=angles, filter_name=None, apply_log=False, gpu=True,
                           ratio=None)
        t0 = time.perf_counter()
        image = fbp_reconstruction(batch, (n - 1) / 2, angles=angles, filter_name=None, apply_log=False, gpu=True,
                                   ratio=None)
        peer = m * n * n * k / (time.perf_counter() - t0) / 1e9
    first = np.asarray(image)[:, 0] if np.asarray(image).ndim == 3 else np.asarray(image)
    return [Measure("gpu", what, gups, f"algotom fbp (numba-cuda, {k} slices a call)", peer, "GUPS",
                    f"peer RMSE {rmse_best(first, truth_half, mask):.4f}")]
