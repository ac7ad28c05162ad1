"""CPU FBP against its peers on equal terms: the same cores, the same data, warm-up for every tool.

A ratio between a tool running on every core and one running on a single thread measures
the thread count, not the tool. So each tool is timed twice, in a fresh process of its own:

- per core: the process pinned to one core (`sched_setaffinity`), every thread it starts
  shares that core;
- whole machine: the tool as it uses the machine: ufo with one replica per core, algotom with
  its numba threads, the single-threaded tools (scikit-image, ASTRA's CPU FBP) as one process
  per core started together (wall time from the first start to the last finish).

Every process first reconstructs one small slice untimed (numba compilation, FFT plans,
imports), then waits at a barrier so that the timed work starts together. Data: exact
line integrals of the analytic Shepp-Logan phantom, float32 for every tool.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..reco.options import SLICES_PER_PASS


def _ufo(sinos: np.ndarray, slices: int, threads: int, stacked: bool = True) -> np.ndarray:
    """ufo through its runtime: `slices` copies of the sinogram, stacked SLICES_PER_PASS at a time (the path
    `ufo reco` takes) or one sinogram a frame (the Python API's short form)."""
    import ufo

    stack = np.ascontiguousarray(np.broadcast_to(sinos[0], (slices, *sinos[0].shape)))
    out: list[np.ndarray] = []
    if stacked:
        stream = ufo.Unstack()(ufo.Backproject(replicas=threads)(ufo.Stack(number=SLICES_PER_PASS, partial=True)(stack)))
    else:
        stream = ufo.Backproject(replicas=threads)(stack)
    ufo.MemoryOut(out=out)(stream).run(device="cpu").wait()
    return np.asarray(out[0])


def _ufo_single(sinos: np.ndarray, slices: int, threads: int) -> np.ndarray:
    return _ufo(sinos, slices, threads, stacked=False)


def _skimage(sinos: np.ndarray, slices: int, threads: int) -> np.ndarray:
    from skimage.transform import iradon

    sino = sinos[0]
    theta = np.arange(sino.shape[0]) * 180.0 / sino.shape[0]
    for _ in range(slices):
        image = iradon(sino.T, theta=theta, filter_name="ramp")
    return np.asarray(image)


def _astra(sinos: np.ndarray, slices: int, threads: int) -> np.ndarray:
    import astra

    n_angles, width = sinos[1].shape
    vol = astra.create_vol_geom(width, width)
    proj = astra.create_proj_geom("parallel", 1.0, width, np.arange(n_angles) * np.pi / n_angles)
    projector = astra.create_projector("linear", proj, vol)
    sid = astra.data2d.create("-sino", proj, sinos[1])
    rid = astra.data2d.create("-vol", vol)
    cfg = astra.astra_dict("FBP")
    cfg.update(ReconstructionDataId=rid, ProjectionDataId=sid, ProjectorId=projector, option={"FilterType": "ram-lak"})
    alg = astra.algorithm.create(cfg)
    for _ in range(slices):
        astra.algorithm.run(alg)
    image = astra.data2d.get(rid)
    astra.algorithm.delete(alg)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(projector)
    return np.asarray(image)


def _algotom(sinos: np.ndarray, slices: int, threads: int) -> np.ndarray:
    from algotom.rec.reconstruction import fbp_reconstruction

    sino = sinos[1]
    n = sino.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(slices):
            image = fbp_reconstruction(sino, (sino.shape[1] - 1) / 2, angles=np.arange(n) * np.pi / n,
                                       filter_name=None, apply_log=False, gpu=False, ratio=None)
    return np.asarray(image)


def rmse_best(image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """RMSE for the orientation of `image` that fits best (tools differ in axis conventions)."""
    candidates = [image, image[::-1], image[:, ::-1], image.T, image[::-1, ::-1], image.T[::-1], image.T[:, ::-1]]
    return min(float(np.sqrt(np.mean((c - truth)[mask] ** 2))) for c in candidates)


def phantom_data(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sinogram with the axis at n/2, at (n-1)/2, their two true slices, the disk the RMSE is taken in)."""
    from ufo.tomo.phantom import Phantom

    phantom = Phantom(n)
    angles = np.arange(m) * np.pi / m
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    return (phantom.sinogram(angles).astype(np.float32), phantom.sinogram(angles, axis=(n - 1) / 2).astype(np.float32),
            phantom.slice(), phantom.slice(centre=(n - 1) / 2), mask)


@dataclass(frozen=True)
class Tool:
    """One FBP implementation and how it fills a machine."""

    name: str  # as the tables print it, with its configuration
    run: Callable[[np.ndarray, int, int], np.ndarray]  # (sinograms [centred, half-pixel], slices, threads) -> a slice
    grid: int  # which sinogram/phantom convention it uses: 0 axis at n/2, 1 axis at (n-1)/2
    threads_inside: bool  # True: one process uses every core itself; False: one process per core
    module: str  # what to import to know it is installed


TOOLS = (
    Tool(f"ufo (stack of {SLICES_PER_PASS} sinograms, back-project, unstack)", _ufo, 0, True, "numba"),
    Tool("ufo API, one sinogram a frame (Backproject over a stream)", _ufo_single, 0, True, "numba"),
    Tool("scikit-image iradon (ramp, float32 in)", _skimage, 0, False, "skimage"),
    Tool("ASTRA CPU FBP (ram-lak, linear projector)", _astra, 1, False, "astra"),
    Tool("algotom fbp_reconstruction(gpu=False) (numba parallel)", _algotom, 1, True, "algotom"),
)


def _worker(tool: int, pin: int | None, sinos: np.ndarray, slices: int, threads: int, barrier: Any,
            results: Any) -> None:
    """One timed process: pin, warm up on a small problem, wait for the others, time, report."""
    try:
        if pin is not None:
            os.sched_setaffinity(0, {pin})
        run = TOOLS[tool].run
        small = np.ascontiguousarray(sinos[:, ::8, ::4])
        run(small, 1, threads)  # warm-up: compilation, imports, plans, outside the timing
        barrier.wait()
        t0, c0 = time.monotonic(), time.process_time()  # CLOCK_MONOTONIC: one clock for every process
        image = run(sinos, slices, threads)
        results.put((t0, time.monotonic(), time.process_time() - c0, image, None))
    except Exception as exc:  # reported to the parent, which names the tool
        barrier.abort()
        results.put((0.0, 0.0, 0.0, None, f"{type(exc).__name__}: {exc}"))


def timed(tool: int, sinos: np.ndarray, slices: int, processes: int, threads: int,
          pin: int | None) -> tuple[float, float, np.ndarray]:
    """(wall seconds from the first timed start to the last finish, CPU seconds of all of them,
    one slice) of `processes` fresh processes each reconstructing `slices` slices of
    `TOOLS[tool]` with `threads` threads."""
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_worker, args=(tool, pin, sinos, slices, threads, barrier, results))
               for _ in range(processes)]
    for w in workers:
        w.start()
    got: list[tuple[float, float, float, Any, str | None]] = []
    try:
        while len(got) < processes:
            try:
                got.append(results.get(timeout=1.0))
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and results.empty():
                    codes = [w.exitcode for w in workers]
                    raise RuntimeError(f"{TOOLS[tool].name}: its benchmark process ended without a result "
                                       f"(exit codes {codes})") from None
    except BaseException:  # Ctrl-C, SIGTERM: the timing processes go too (one blocked on its result's
        for w in workers:  # pipe held the command's exit for good)
            if w.is_alive():
                w.kill()
            w.join(5)
        results.cancel_join_thread()
        raise
    for w in workers:
        w.join()
    errors = [g[4] for g in got if g[4]]
    if errors:
        raise RuntimeError(f"{TOOLS[tool].name} failed in its benchmark process: {errors[0]}")
    return max(g[1] for g in got) - min(g[0] for g in got), sum(g[2] for g in got), got[0][3]


def installed(tool: Tool) -> bool:
    """Whether the tool's package imports here (the peers are the `bench` extra)."""
    import importlib.util

    return importlib.util.find_spec(tool.module) is not None


def core_to_pin() -> int:
    """The last core this process may run on (the first ones tend to take interrupts)."""
    return max(os.sched_getaffinity(0))


@dataclass
class Timing:
    """One tool's figures at one scope ('per core' or 'whole machine'). On a shared machine the
    wall time includes waiting for other people's work; the CPU time (every thread of the
    tool's processes) does not, so `gups_cpu`, voxel updates per core-second, is the steadier
    per-core figure there."""

    slices: int
    seconds: float
    cpu_seconds: float
    gups: float
    gups_cpu: float
    rmse: float
    dtype: str


@dataclass
class FairRun:
    """Every tool per core and on the whole machine, same phantom data (GUPS: angles x pixels^2 x slices / s)."""

    size: int
    angles: int
    cores: int
    timings: dict[str, dict[str, Timing]] = field(default_factory=dict)  # tool -> scope -> figures
    missing: dict[str, str] = field(default_factory=dict)  # tool -> module not installed


def compare(size: int, angles: int, ufo_slices: int, peer_slices: int, cores: int | None = None,
            tools: tuple[int, ...] | None = None, log: Callable[[str], None] = lambda _: None) -> FairRun:
    """Time each tool per core and on the whole machine (`cores`, default: the cores this process
    may use); `ufo_slices` for ufo (fast), `peer_slices` per process for each peer."""
    cores = cores or len(os.sched_getaffinity(0))
    n, m = size, angles
    sino, sino_half, truth, truth_half, mask = phantom_data(n, m)
    sinos = np.stack([sino, sino_half])
    run = FairRun(n, m, cores)
    for index in tools if tools is not None else range(len(TOOLS)):
        tool = TOOLS[index]
        if not installed(tool):
            run.missing[tool.name] = tool.module
            continue
        ours = tool.run in (_ufo, _ufo_single)
        scopes = {"per core": (1, 1, core_to_pin()),
                  "whole machine": (1, cores, None) if tool.threads_inside else (cores, 1, None)}
        run.timings[tool.name] = {}
        for scope, (processes, threads, pin) in scopes.items():
            # ufo's replicas each take stacks of SLICES_PER_PASS sinograms: give every core at least one
            slices = max(ufo_slices, SLICES_PER_PASS * threads) if ours else peer_slices
            log(f"{tool.name}, {scope}: {processes} process(es) x {slices} slices, {threads} thread(s)")
            seconds, cpu, image = timed(index, sinos, slices, processes, threads, pin)
            updates = m * n * n * slices * processes / 1e9
            reference = truth_half if tool.grid else truth
            run.timings[tool.name][scope] = Timing(slices * processes, seconds, cpu, updates / seconds, updates / cpu,
                                                   rmse_best(np.squeeze(image), reference, mask), str(image.dtype))
    return run
