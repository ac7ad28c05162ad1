"""Filtered back-projection against its peers: scikit-image, ASTRA and algotom on the CPU, algotom on a GPU.

Same data for every tool: exact line integrals of the analytic Shepp-Logan phantom. Speed
in GUPS (giga voxel updates per second: angles x pixels x slices / seconds), accuracy as
RMSE against the phantom inside the reconstruction circle, each tool on its own grid.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ufo
from ufo.tomo.phantom import Phantom

from .measure import Measure


def rmse_best(image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """RMSE for the orientation of `image` that fits best (tools differ in axis conventions)."""
    candidates = [image, image[::-1], image[:, ::-1], image.T, image[::-1, ::-1], image.T[::-1], image.T[:, ::-1]]
    return min(float(np.sqrt(np.mean((c - truth)[mask] ** 2))) for c in candidates)


def run_ufo(sinos: np.ndarray, slices: int, replicas: int) -> tuple[float, np.ndarray]:
    """(seconds, first slice) for `slices` copies of the sinogram through stack ! backproject ! unstack on the CPU."""
    stack = np.ascontiguousarray(np.broadcast_to(sinos[0], (slices, *sinos[0].shape)))
    out = []
    t0 = time.perf_counter()
    stream = ufo.Unstack()(ufo.Backproject(replicas=replicas)(ufo.Stack(number=16, partial=True)(stack)))
    ufo.MemoryOut(out=out)(stream).run(device="cpu").wait()  # the CPU benchmark, also on GPU machines
    return time.perf_counter() - t0, out[0]


def run_skimage(sino: np.ndarray, slices: int) -> tuple[float, Any]:
    """(seconds, last slice) of scikit-image's iradon, one slice a call."""
    from skimage.transform import iradon

    n = sino.shape[0]
    theta = np.arange(n) * 180.0 / n
    t0 = time.perf_counter()
    for _ in range(slices):
        image = iradon(sino.T, theta=theta, filter_name="ramp")
    return time.perf_counter() - t0, image


def run_astra(sino: np.ndarray, slices: int) -> tuple[float, Any]:
    """(seconds, last slice) of ASTRA's CPU FBP, one slice a run."""
    import astra

    n_angles, width = sino.shape
    vol = astra.create_vol_geom(width, width)
    proj = astra.create_proj_geom("parallel", 1.0, width, np.arange(n_angles) * np.pi / n_angles)
    projector = astra.create_projector("linear", proj, vol)
    sid = astra.data2d.create("-sino", proj, sino)
    rid = astra.data2d.create("-vol", vol)
    cfg = astra.astra_dict("FBP")
    cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid, ProjectorId=projector, option={"FilterType": "ram-lak"})
    alg = astra.algorithm.create(cfg)
    t0 = time.perf_counter()
    for _ in range(slices):
        astra.algorithm.run(alg)
    elapsed = time.perf_counter() - t0
    image = astra.data2d.get(rid)
    astra.algorithm.delete(alg)
    astra.data2d.delete([sid, rid])
    return elapsed, image


def run_algotom(sino: np.ndarray, slices: int, centre: float) -> tuple[float, np.ndarray]:
    """(seconds, last slice) of algotom's CPU FBP, its numba kernels compiled before the timing."""
    from algotom.rec.reconstruction import fbp_reconstruction

    n = sino.shape[0]
    angles = np.arange(n) * np.pi / n
    with warnings.catch_warnings():  # compile its numba kernels outside the timing
        warnings.simplefilter("ignore")
        fbp_reconstruction(sino[::16, :64].copy(), 32.0, angles=angles[::16], filter_name=None, apply_log=False,
                           gpu=False, ratio=None)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(slices):
            image = fbp_reconstruction(sino, centre, angles=angles, filter_name=None, apply_log=False, gpu=False,
                                       ratio=None)
    return time.perf_counter() - t0, np.asarray(image)


def _data(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    phantom = Phantom(n)
    angles = np.arange(m) * np.pi / m
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    return (phantom.sinogram(angles).astype(np.float32), phantom.sinogram(angles, axis=(n - 1) / 2).astype(np.float32),
            phantom.slice(), phantom.slice(centre=(n - 1) / 2), mask)


@dataclass
class CpuRun:
    """One CPU FBP comparison: ufo's figures and each peer's, on the same data (GUPS: giga voxel updates/s)."""

    angles: int
    size: int
    slices: int
    replicas: int
    seconds: float
    gups: float
    rmse: float
    # (short name, full name, slices, seconds, GUPS, RMSE, module missing or None) of each peer
    peers: list[tuple[str, str, int, float, float, float, str | None]] = field(default_factory=list)


CPU_PEERS = (("scikit-image iradon", "scikit-image iradon (ramp)"), ("ASTRA CPU FBP", "ASTRA CPU FBP (ram-lak, linear)"),
             ("algotom fbp (CPU)", "algotom fbp_reconstruction(gpu=False)"))


def run_cpu(size: int, angles: int, slices: int, peer_slices: int, replicas: int) -> CpuRun:
    """ufo's CPU FBP of `slices` sinograms against each peer's of `peer_slices`, same phantom data;
    a peer that is not installed keeps zeros and names the missing module."""
    n, m = size, angles
    sino, sino_half, truth, truth_half, mask = _data(n, m)  # sino: axis at n / 2 (ufo, scikit-image)
    run_ufo(sino[None, :64, :64], 2, 1)  # warm up the compiled kernels outside the timing
    t, image = run_ufo(sino[None], slices, replicas)
    run = CpuRun(m, n, slices, replicas, t, m * n * n * slices / t / 1e9, rmse_best(image, truth, mask))
    calls = [(lambda k: run_skimage(sino, k), truth), (lambda k: run_astra(sino_half, k), truth_half),
             (lambda k: run_algotom(sino_half, k, (n - 1) / 2), truth_half)]
    for (short, full), (fn, ref) in zip(CPU_PEERS, calls):
        try:
            t, image = fn(peer_slices)
        except ImportError as exc:
            run.peers.append((short, full, 0, 0.0, 0.0, float("nan"), exc.name or "?"))
            continue
        run.peers.append((short, full, peer_slices, t, m * n * n * peer_slices / t / 1e9,
                          rmse_best(np.squeeze(image), ref, mask), None))
    return run


def compare_cpu(size: int, angles: int, slices: int, peer_slices: int,
                replicas: int) -> list[tuple[str, int, float, float, float]]:
    """benchmarks/reco_cpu.py's table: [(tool, slices, seconds, GUPS, RMSE)], ufo first; a peer
    that is not installed gets a row that says so (0 slices, NaN RMSE)."""
    r = run_cpu(size, angles, slices, peer_slices, replicas)
    rows = [(f"ufo (replicas={replicas}, 16 slices per pass)", r.slices, r.seconds, r.gups, r.rmse)]
    for _, full, k, t, gups, rmse, missing in r.peers:
        rows.append((f"{full}: not installed ({missing})", 0, 0.0, 0.0, float("nan")) if missing else
                    (full, k, t, gups, rmse))
    return rows


def measure(scale: float = 1.0, replicas: int | None = None) -> list[Measure]:
    """`ufo bench`'s reco rows: ufo's CPU FBP against each peer that is installed."""
    import os

    n = max(128, int(512 * scale ** 0.5) // 16 * 16)
    replicas = replicas or os.cpu_count() or 1
    slices = 16 * max(2, replicas)  # a stack of 16 sinograms for every thread
    r = run_cpu(n, n, slices, 1, replicas)
    what = f"FBP {n} angles x {n} px, {slices} slices, CPU (RMSE {r.rmse:.4f})"
    return [Measure("reco", what, r.gups, short, None, "GUPS", f"not installed ({missing}): pip install -e '.[bench]'")
            if missing else Measure("reco", what, r.gups, short, gups, "GUPS", f"peer RMSE {rmse:.4f}")
            for short, _, _, _, gups, rmse, missing in r.peers]


def measure_gpu(scale: float = 1.0) -> list[Measure]:
    """ufo's GPU FBP through the runtime (host memory in and out) against algotom's numba-cuda FBP."""
    n = m = max(256, int(2048 * scale ** 0.5) // 16 * 16)
    slices = max(16, min(int(256 * scale), 2**31 // (m * n)) // 16 * 16)  # the input stack stays within 8 GiB
    sino, sino_half, truth, truth_half, mask = _data(n, m)
    stack = np.ascontiguousarray(np.broadcast_to(sino, (slices, m, n)))
    out: list[np.ndarray] = []

    def once() -> float:
        out.clear()
        t0 = time.perf_counter()
        stream = ufo.Unstack()(ufo.Backproject()(ufo.Stack(number=16, partial=True)(stack)))
        ufo.MemoryOut(out=out)(stream).run(device="all").wait()
        return time.perf_counter() - t0

    once()  # kernels compiled and memory pools filled outside the timing
    t = min(once() for _ in range(2))
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
