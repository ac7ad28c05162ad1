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
    gpu = np.stack(ufo.task(name, **props)(frames).collect(device="0"))
    assert gpu.shape == cpu.shape and np.all(np.isfinite(gpu))
    assert _rel(gpu, cpu) < 1e-5, _rel(gpu, cpu)
    assert _rel(gpu[..., ::-1], cpu) > 1e-5  # the bound can fail


def test_the_gpu_variants_are_planned_on_the_gpu() -> None:
    from ufo.gpu.tasks import GPU_TASKS

    assert {"median-filter", "blur", "non-local-means"} <= set(GPU_TASKS)
