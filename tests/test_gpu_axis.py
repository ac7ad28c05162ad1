"""`ufo reco --axis auto`'s search (Vo's metric) on the GPU finds the CPU's axis (`pytest -m gpu`).

The CPU search is checked against the phantom's true axis in test_tomo.py; the GPU computes
the same metric in float32 with another FFT, so the two may differ by one candidate of the
finest level (0.05 px) where two candidates tie to rounding; both must be within 0.15 px of the
truth (the metric itself is 0.05-0.08 px off on this phantom), and a mirrored sinogram (axis
at width - 1 - a) must move the GPU's answer there.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.gpu import available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not available(), reason="needs CuPy and a CUDA GPU")]


@pytest.mark.parametrize("offset", [-7.3, 4.6])
def test_gpu_axis_search_finds_the_cpu_axis(offset: float) -> None:
    from ufo.tomo.axis import axis_from_sinogram
    from ufo.tomo.phantom import Phantom

    width, angles = 256, 400
    phantom = Phantom(width, height=8)
    truth = width / 2 + offset
    sino = np.stack([phantom.projection(a, truth)[4] for a in np.arange(angles) * np.pi / angles])
    sino += np.random.default_rng().normal(0, 0.01 * sino.max(), sino.shape)
    cpu = axis_from_sinogram(sino)
    gpu = axis_from_sinogram(sino, device="gpu")
    assert abs(gpu - cpu) <= 0.05 + 1e-9, (gpu, cpu)
    assert abs(gpu - truth) < 0.15, (gpu, truth)
    mirrored = axis_from_sinogram(np.ascontiguousarray(sino[:, ::-1]), device="gpu")
    assert abs(mirrored - (width - 1 - truth)) < 0.15 and abs(mirrored - gpu) > 1


def test_search_device_follows_gpus() -> None:
    from ufo.tomo.axis import search_device

    assert search_device("cpu") == "cpu"
    assert search_device("all") == "gpu"
