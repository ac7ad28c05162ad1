"""The GPU forwardproject gives the CPU task's sinograms (`pytest -m gpu`).

The CPU task is checked against the analytic Radon transform and scikit-image in
test_tasks_projection.py; here the same graph runs on a GPU and on the CPU. Both sum the same
samples in float64 and store float32: tolerance 1e-5 relative, and a mirrored result must fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.gpu import available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]


def _slices() -> np.ndarray:
    rng = np.random.default_rng()
    y, x = np.mgrid[:72, :96]  # not square: rows and columns must not be swapped
    blob = np.exp(-((x - 60) ** 2 + (y - 30) ** 2) / 90.0) + 0.5 * ((x - 30) ** 2 + (y - 45) ** 2 < 12 ** 2)
    return (blob + 0.1 * rng.random((2, 72, 96))).astype(np.float32)


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(got, np.float64) - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("props", [{"number": 90}, {"number": 37, "angle_step": 0.07, "angle_offset": 0.3, "axis": 51.25},
                                   {"number": 45, "orientation": "ufo"}])
def test_gpu_forwardproject_equals_the_cpu_task(props: dict) -> None:
    import ufo

    slices = _slices()
    cpu = np.stack(ufo.task("forwardproject", **props)(slices).collect(device="cpu"))
    gpu = np.stack(ufo.task("forwardproject", **props)(slices).collect(device="0"))
    assert gpu.shape == cpu.shape == (2, props["number"], 96) and np.all(np.isfinite(gpu))
    assert _rel(gpu, cpu) < 1e-5, _rel(gpu, cpu)
    assert _rel(gpu[..., ::-1], cpu) > 1e-3  # the bound can fail


def test_forwardproject_is_planned_on_the_gpu() -> None:
    from ufo.gpu.tasks import GPU_TASKS

    assert "forwardproject" in GPU_TASKS
