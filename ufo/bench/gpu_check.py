"""Every GPU task against its CPU implementation, on fresh random data (benchmarks/gpu_check.py
prints these on the device machine; CuPy is imported here at the top).

Device allocations are poisoned (NaN bytes) before use, so a pixel a kernel forgot to write
shows up as NaN and fails the check. Bounds: relative error (||gpu - cpu|| / ||cpu||) below
1e-5 for elementwise maps, 1e-4 for FBP. Also runs whole graphs through GPU segments
(several streams, and two "devices" on one GPU to exercise the multi-GPU order restoration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cupy
import numpy as np

import ufo
from ufo.core import Context, Spec
from ufo.gpu.tasks import GPU_TASKS

RNG = np.random.default_rng()


def poisoning_allocator() -> Callable[[int], Any]:
    """A CuPy allocator that fills new memory with 0xFF bytes (NaN): unwritten pixels fail the checks."""
    pool = cupy.cuda.MemoryPool()

    def allocate(size):
        memory = pool.malloc(size)
        cupy.cuda.runtime.memsetAsync(memory.ptr, 0xFF, size, cupy.cuda.get_current_stream().ptr)
        return memory

    return allocate


def run_pair(task: Any, inputs: Sequence[np.ndarray],
             collected: Sequence[Sequence[np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(cpu output, gpu output) of one task on numpy inputs."""
    specs = tuple(Spec(a.shape, a.dtype, 7) for a in inputs) + tuple(Spec(c[0].shape, c[0].dtype, len(c)) for c in collected)
    out_spec = task.output_spec(*specs)
    cpu = task.clone()
    cpu.setup(Context(node=task.name, input_specs=specs, output_spec=out_spec))
    gpu_cls = GPU_TASKS[task.name]
    gpu = gpu_cls.__new__(gpu_cls)
    gpu.__dict__ = dict(task.__dict__)
    gpu.setup(Context(node=task.name, input_specs=specs, output_spec=out_spec))
    for i, frames in enumerate(collected, start=len(inputs)):
        cpu.collected(i, list(frames))
        gpu.collected(i, list(frames))
    out = np.full(out_spec.shape, np.nan, out_spec.dtype) if out_spec.shape else None
    kwargs = {"meta": {"index": 3}} if task.uses_meta else {}
    ref = cpu.process(*inputs, out=out, **kwargs)
    got = gpu.process(*[cupy.asarray(a) for a in inputs], out=None, **kwargs)
    return np.asarray(ref, np.float64), cupy.asnumpy(got).astype(np.float64)


def rel(got: np.ndarray, ref: np.ndarray) -> float:
    """||got - ref|| / ||ref||; infinite where `got` has NaN or infinity."""
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))


def cases() -> Iterator[tuple[str, Any, list[np.ndarray], list[list[np.ndarray]], float]]:
    """(name, task, inputs, collected inputs, bound) of every GPU task on fresh random data."""
    frame = RNG.random((96, 128)).astype(np.float32)
    sino = RNG.random((180, 128)).astype(np.float32)
    stack = RNG.random((6, 180, 128)).astype(np.float32)
    proj = (100 + 3000 * RNG.random((64, 80))).astype(np.float32)
    darks = [(100 + RNG.random((64, 80))).astype(np.float32) for _ in range(3)]
    flats = [(3200 + 50 * RNG.random((64, 80))).astype(np.float32) for _ in range(3)]
    flats2 = [(3300 + 50 * RNG.random((64, 80))).astype(np.float32) for _ in range(3)]
    transmission = (0.2 + 0.8 * RNG.random((96, 128))).astype(np.float32)
    zingers = frame.copy()
    zingers[RNG.integers(0, 96, 30), RNG.integers(0, 128, 30)] += 5
    yield "flat-field-correct", ufo.FlatFieldCorrect(absorption=True), [proj], [darks, flats], 1e-5
    yield "flat-field-correct flats2", ufo.FlatFieldCorrect(), [proj], [darks, flats, flats2], 1e-5
    for name in ("ramp", "shepp-logan", "hann", "parzen", "butterworth"):
        yield f"filter {name}", ufo.Filter(filter=name, filter_cutoff=0.9), [sino], [], 1e-5
    yield "filter edge padding", ufo.Filter(padding="edge"), [sino], [], 1e-5
    yield "backproject one sinogram", ufo.Backproject(axis=66.3, angle_offset=0.2), [sino], [], 1e-4
    yield "backproject stack of 6", ufo.Backproject(axis=61.7), [stack], [], 1e-4
    yield "backproject roi", ufo.Backproject(roi_x=10, roi_y=20, roi_width=50, roi_height=70), [stack], [], 1e-4
    yield "backproject fp16 storage", ufo.Backproject(precision="fp16"), [stack], [], 1e-4
    yield "retrieve-phase", ufo.RetrievePhase(energy=20, distance=0.1, pixel_size=1e-6, delta_beta=250), [transmission], [], 1e-5
    yield "remove-outliers", ufo.RemoveOutliers(threshold=4), [zingers], [], 1e-5
    yield "remove-stripes", ufo.RemoveStripes(size=11), [sino], [], 1e-5
    yield "crop", ufo.Crop(x=5, y=7, width=60, height=50), [frame], [], 1e-5
    for mode in ("constant", "clamp", "mirror", "repeat"):
        yield f"pad {mode}", ufo.Pad(width=150, height=120, addressing_mode=mode, value=-1), [frame], [], 1e-5
    yield "bin mean", ufo.Bin(size=3), [frame], [], 1e-5
    yield "bin sum", ufo.Bin(size=2, mode="sum"), [frame], [], 1e-5
    yield "rescale linear", ufo.Rescale(factor=1.7), [frame], [], 1e-5
    yield "rescale cubic", ufo.Rescale(x_factor=0.5, y_factor=1.3, interpolation="cubic"), [frame], [], 1e-5


def graph_checks() -> list[tuple[str, float, float]]:
    """(name, relative error, bound) of whole graphs through GPU segments against the CPU graph."""
    rows = []
    sinos = RNG.random((37, 90, 64)).astype(np.float32)
    stream = ufo.Unstack()(ufo.Backproject(axis=30.5)(ufo.Stack(number=8, partial=True)(sinos)))
    cpu = stream.collect(device="cpu")
    for gpus in ("0", "0,0"):  # "0,0": two "devices" on one GPU, 4 replicas, order restored
        gpu = ufo.Unstack()(ufo.Backproject(axis=30.5)(ufo.Stack(number=8, partial=True)(sinos))).collect(device=gpus)
        rows.append((f"graph: stack ! backproject ! unstack, gpus {gpus}", rel(gpu.astype(np.float64), cpu.astype(np.float64)), 1e-4))
    flat_graph = ufo.FlatFieldCorrect(absorption=True)
    proj = (100 + 3000 * RNG.random((20, 16, 24))).astype(np.float32)
    darks = (100 + RNG.random((2, 16, 24))).astype(np.float32)
    flats = (3200 + RNG.random((2, 16, 24))).astype(np.float32)
    flats2 = (3300 + RNG.random((2, 16, 24))).astype(np.float32)
    cpu = flat_graph(proj, darks, flats, flats2).collect(device="cpu")
    gpu = ufo.FlatFieldCorrect(absorption=True)(proj, darks, flats, flats2).collect(device="0")
    rows.append(("graph: flat-field-correct with flats2 (index metadata)", rel(gpu.astype(np.float64), cpu.astype(np.float64)), 1e-5))
    rows.append(reco_check())
    return rows


def reco_check() -> tuple[str, float, float]:
    """ufo reco on a simulated scan (TIFF files, darks, flats, auto axis, rings, outliers): GPU against CPU."""
    import os
    import tempfile

    import tifffile

    from ufo import reco
    from ufo.tomo.phantom import Phantom

    root = tempfile.mkdtemp()
    n, rows, angles = 128, 12, 180
    phantom = Phantom(n, height=rows)
    dark = 100 + np.random.default_rng(7).random((rows, n))  # its own generator: the same data in any test order
    os.makedirs(f"{root}/proj")
    for i, angle in enumerate(np.arange(angles) * np.pi / angles):
        frame = dark + 2000 * np.exp(-0.02 * phantom.projection(angle, axis=n / 2 + 3.4))
        tifffile.imwrite(f"{root}/proj/p-{i:04d}.tif", frame.astype(np.float32))
    tifffile.imwrite(f"{root}/darks.tif", np.stack([dark] * 3).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(f"{root}/flats.tif", np.stack([dark + 2000] * 3).astype(np.float32), photometric="minisblack")
    results = {}
    for gpus in ("cpu", "all"):
        options = reco.RecoOptions(projections=f"{root}/proj", darks=f"{root}/darks.tif", flats=f"{root}/flats.tif",
                                   axis="auto", remove_stripes=11, remove_outliers=6, output=f"{root}/{gpus}.h5:/s",
                                   pass_height=5, gpus=gpus)
        reco.run(reco.plan(options))
        import h5py

        with h5py.File(f"{root}/{gpus}.h5") as f:
            results[gpus] = f["s"][:].astype(np.float64)
    return ("ufo reco end to end (auto axis, rings, outliers, 3 passes)", rel(results["all"], results["cpu"]), 1e-4)


def run_checks() -> list[tuple[str, float, float]]:
    """[(check, relative error, bound)] of every GPU task and graph against the CPU, with
    device allocations poisoned (set for the rest of the process)."""
    cupy.cuda.set_allocator(poisoning_allocator())
    results = []
    for name, task, inputs, collected, bound in cases():
        ref, got = run_pair(task, inputs, collected)
        results.append((name, rel(got, ref), bound))
    return results + graph_checks()

