"""The GPU variants of median-filter, blur and non-local-means give the CPU tasks' numbers (`pytest -m gpu`).

The CPU tasks are checked against scipy.ndimage and closed forms in test_tasks_filters2d.py and
test_tasks_denoise.py; here the same graph runs on a GPU and on the CPU. Tolerance: 1e-5 relative
(float32 on both sides; the median is exact), and a mirrored result must fail it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.gpu import available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]


def _frames() -> np.ndarray:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[:96, :128]
    clean = 100 + 50 * ((x - 70) ** 2 + (y - 40) ** 2 < 30 ** 2) + 0.3 * x
    return (clean + rng.normal(0, 4, (3, 96, 128))).astype(np.float32)


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(got, np.float64) - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("name, props", [
    ("median-filter", {"size": 3}), ("median-filter", {"size": 7}),
    ("blur", {"size": 9, "sigma": 2.0}),
    ("non-local-means", {"search_radius": 4, "patch_radius": 2, "h": 6.0, "sigma": 4.0}),
    ("non-local-means", {"search_radius": 3, "patch_radius": 1, "fast": False}),  # h, sigma from the first frame
])
def test_gpu_variant_equals_the_cpu_task(name: str, props: dict) -> None:
    import ufo

    frames = _frames()
    cpu = np.stack(ufo.task(name, **props)(frames).collect(device="cpu"))
    # one stream: the frame an estimated h comes from is then frame 0 for sure (with several
    # replicas, the first to reach the shared estimate: see NonLocalMeansGpu)
    gpu = np.stack(ufo.task(name, **props)(frames).collect(device="0", gpu_streams=1))
    assert gpu.shape == cpu.shape and np.all(np.isfinite(gpu))
    assert _rel(gpu, cpu) < 1e-5, _rel(gpu, cpu)
    assert _rel(gpu[..., ::-1], cpu) > 1e-5  # the bound can fail


def test_gpu_non_local_means_keeps_one_estimate_over_replicas() -> None:
    """h and sigma estimated once per stream, also over 4 replicas (2 "GPUs" x 2 streams on one):
    every frame is filtered with the same h, the one of the first frame of the CPU task or of
    another frame (which replica gets there first is not fixed), never a per-replica mixture."""
    import ufo
    from ufo.tasks.denoise import non_local_means
    from ufo.tasks.filters2d import estimate_noise_sigma

    frames = _frames()
    gpu = np.stack(ufo.task("non-local-means", search_radius=3, patch_radius=1)(frames).collect(device="0,0"))
    errors = []
    for source in frames:  # the estimate from each candidate frame, applied to all frames
        sigma = estimate_noise_sigma(source, "mirrored_repeat")
        ref = np.stack([non_local_means(f, 3, 1, sigma, 0.0, False) for f in frames])  # h = the estimate, sigma 0
        errors.append(_rel(gpu, ref))
    assert min(errors) < 1e-5, errors


def test_the_gpu_variants_are_planned_on_the_gpu() -> None:
    from ufo.gpu.tasks import GPU_TASKS

    assert {"median-filter", "blur", "non-local-means"} <= set(GPU_TASKS)


@pytest.mark.parametrize("size", [3, 7])
def test_gpu_median_leaves_nan_out_as_the_cpu_task(size: int) -> None:
    """cupyx's median orders NaN by accident, as scipy's does: a frame with NaN is filtered as on the
    CPU (each window's median of its other values)."""
    import ufo

    frames = _frames()
    frames[0, 10, 10] = frames[1, 50:53, 60] = np.nan
    cpu = np.stack(ufo.task("median-filter", size=size)(frames).collect(device="cpu"))
    gpu = np.stack(ufo.task("median-filter", size=size)(frames).collect(device="0", gpu_streams=1))
    assert np.all(np.isfinite(cpu)) and np.array_equal(gpu, cpu)


def test_gpu_remove_stripes_leaves_nan_out_as_the_cpu_task() -> None:
    """The sliding median of sorted columns corrupted a row after one NaN on the CPU; cupyx's orders
    NaN by accident. A sinogram with NaN is done as on the CPU (each window's median of its numbers)."""
    import ufo

    sino = np.random.default_rng(7).random((2, 90, 64)).astype(np.float32)
    sino[0, 3, 3] = sino[1, 40:44, 20] = np.nan
    cpu = np.stack(ufo.task("remove-stripes", size=5)(sino).collect(device="cpu"))
    gpu = np.stack(ufo.task("remove-stripes", size=5)(sino).collect(device="0", gpu_streams=1))
    assert np.all(np.isfinite(cpu)) and np.array_equal(gpu, cpu)
