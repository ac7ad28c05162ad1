"""Every GPU step against its CPU implementation or an independent reference (`pytest -m gpu`).

Why here: these checks lived in a script (benchmarks/gpu_check.py) that CI cannot run, so a GPU
regression showed only when someone remembered to run it. As tests they run wherever a GPU is
(benchmarks/gpu_checks.sh on the device machine) and skip cleanly without CuPy or CUDA.

Tolerances, relative error ||gpu - cpu|| / ||cpu|| (float32 on both sides, different summation
orders and FFT libraries): 1e-5 for element-wise maps and filters, 1e-4 for back-projection and
direct Fourier inversion (sums over hundreds of angles), 5e-3 for fp16 storage of projections
(11-bit mantissa). Device allocations are poisoned with NaN bytes, so a pixel a kernel forgot to
write fails. Each comparison also shows that a mirrored result would fail the same bound.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ufo.gpu import available
from ufo.kernels.backproject import fbp_weight
from ufo.tomo.phantom import Phantom

from .reference import assert_matches

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]

if available():
    from ufo.bench import gpu_check

    CASES = list(gpu_check.cases())
else:
    CASES = []

N, ANGLES, AXIS = 128, 180, 64 + 2.3
THETA = np.arange(ANGLES) * np.pi / ANGLES


def rel(got: np.ndarray, ref: np.ndarray) -> float:
    """||got - ref|| / ||ref||; infinite where `got` has NaN or infinity (an unwritten pixel)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))


def assert_close(got: np.ndarray, ref: np.ndarray, bound: float) -> None:
    """Within `bound`, and a mirrored result would not be: the comparison can fail."""
    assert rel(got, ref) < bound, (rel(got, ref), bound)
    assert rel(np.asarray(got)[..., ::-1], ref) > bound


@pytest.fixture(scope="module", autouse=True)
def poisoned_memory() -> Iterator[None]:
    """New device memory filled with 0xFF bytes (NaN) for this module, the default pool after."""
    import cupy

    cupy.cuda.set_allocator(gpu_check.poisoning_allocator())
    yield
    cupy.cuda.set_allocator(cupy.get_default_memory_pool().malloc)


@pytest.mark.parametrize("name,task,inputs,collected,bound", CASES, ids=[c[0] for c in CASES])
def test_gpu_task_equals_its_cpu_task(name, task, inputs, collected, bound):
    ref, got = gpu_check.run_pair(task, inputs, collected)
    assert got.shape == ref.shape
    assert_close(got, ref, bound)


def test_graphs_through_gpu_segments_equal_the_cpu_graph():
    """Stack ! backproject ! unstack on one and on two "devices" (order restored), flat-field
    correction with flats after (index metadata), `ufo reco` end to end: GPU against CPU."""
    results = gpu_check.graph_checks()
    assert len(results) == 4
    failed = [(name, error, bound) for name, error, bound in results if not error < bound]
    assert not failed, failed


def _scan() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw frames (angles, 6 rows, N) of the phantom, darks, flats, and the line integrals of row 3."""
    rng = np.random.default_rng(11)
    phantom = Phantom(N, height=6)
    clean = np.stack([100 + 3000 * np.exp(-0.01 * phantom.projection(a, AXIS)) for a in THETA])
    frames = np.rint(clean + rng.normal(0, 5, clean.shape)).astype(np.uint16)
    darks = np.full((2, 6, N), 100, np.uint16)
    flats = np.full((2, 6, N), 3100, np.uint16)
    return frames, darks, flats, -np.log((frames[:, 3].astype(np.float64) - 100) / 3000)


def test_reconstruction_steps_equal_the_cpu_steps_and_the_phantom():
    """tomo/steps_cuda.py: flat field, row filter and back-projection on the device, step by step
    against tomo/steps.py, and the slice against the phantom (tests/reference.py)."""
    import cupy

    from ufo.tomo.steps import Backprojector, FlatField, RowFilter
    from ufo.tomo.steps_cuda import BackprojectorCuda, FlatFieldCuda, RowFilterCuda

    frames, darks, flats, sino = _scan()
    steps = {}  # kind -> (corrected, filtered, slices) on the host
    for kind, (flat_cls, filter_cls, bp_cls) in {"cpu": (FlatField, RowFilter, Backprojector),
                                                 "gpu": (FlatFieldCuda, RowFilterCuda, BackprojectorCuda)}.items():
        flat = flat_cls()
        flat.reduce(list(darks), list(flats))
        corrected = flat.correct(frames)
        filtered = filter_cls().apply(corrected)
        projector = bp_cls(N, 6)
        for start in range(0, ANGLES, 45):  # batches, as frames arrive
            projector.add(filtered[start: start + 45], THETA[start: start + 45], AXIS)
        projector.synchronize()
        host = cupy.asnumpy if kind == "gpu" else np.asarray
        steps[kind] = (host(corrected), host(filtered), projector.slices(fbp_weight(ANGLES, np.pi / ANGLES)))
    for cpu, gpu, bound in zip(steps["cpu"], steps["gpu"], (1e-5, 1e-5, 1e-4)):
        assert gpu.shape == cpu.shape
        assert_close(gpu, cpu, bound)
    truth = 0.01 * Phantom(N, height=6).slice(z=0)
    assert_matches(steps["gpu"][2][3], truth, sino, THETA, AXIS)


def test_gpu_backproject_graph_reconstructs_the_phantom():
    """ufo.Filter ! ufo.Backproject through a GPU segment: the phantom, oriented and scaled right."""
    import ufo

    _, _, _, sino = _scan()
    image = ufo.Backproject(axis=AXIS)(ufo.Filter()(sino[None].astype(np.float32))).collect(device="0")[0]
    truth = 0.01 * Phantom(N, height=6).slice(z=0)
    assert_matches(image, truth, sino, THETA, AXIS)


@pytest.mark.parametrize("kernel", ["kaiser-bessel", "sinc"])
def test_dfi_on_the_gpu_equals_the_cpu(kernel):
    from ufo.tomo.dfi import dfi
    from ufo.tomo.dfi_cuda import dfi_gpu

    import cupy

    _, _, _, sino = _scan()
    sino = sino.astype(np.float32)
    got = cupy.asnumpy(dfi_gpu(cupy.asarray(sino), axis=AXIS, kernel=kernel))
    assert_close(got, dfi(sino, axis=AXIS, kernel=kernel), 1e-4)


def test_phase_retrieval_on_the_gpu_equals_the_cpu_function_and_the_closed_form():
    """The retrieve-phase task on the device against ufo.tomo.phase.retrieve_phase; on a uniform
    frame of transmission t, Paganin's filter passes only its DC term (1): -ln t everywhere."""
    import ufo
    from ufo.tomo.phase import retrieve_phase

    rng = np.random.default_rng(4)
    frame = (0.3 + 0.7 * rng.random((96, 128))).astype(np.float32)
    options = dict(energy=20, distance=0.1, pixel_size=1e-6, delta_beta=250)
    _, got = gpu_check.run_pair(ufo.RetrievePhase(**options), [frame])
    assert_close(got, retrieve_phase(frame, 1e-6, 0.1, 20, 250), 1e-5)
    _, uniform = gpu_check.run_pair(ufo.RetrievePhase(**options), [np.full((40, 50), 0.4, np.float32)])
    np.testing.assert_allclose(uniform, -np.log(0.4), rtol=1e-5)
