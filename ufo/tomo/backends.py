"""Which step classes reconstruct on a device: the CPU ones (ufo.tomo.steps) or the CUDA ones.

The choice lives above both modules: ufo.tomo.steps_cuda subclasses ufo.tomo.steps, so a
choice made in ufo.tomo.steps would import its own subclasses back. The CUDA module is imported
only when the GPU is chosen, so a CPU-only machine never imports CuPy.
"""

from __future__ import annotations

from ..core.errors import UsageError
from .steps import Backprojector, FlatField, RowFilter, Staging


def _check(device: str) -> None:
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device is 'cpu', 'gpu' or 'auto', not '{device}'")
    if device == "gpu":  # a bare "No module named 'cupy'" from an import below said nothing of the fix
        from ..core.resources import available

        if not available():
            raise UsageError("device 'gpu': no GPU is usable here (CuPy with CUDA and an NVIDIA GPU are needed: "
                             "pip install 'ufo[gpu]'); use device 'cpu' or 'auto'")


def backend(device: str) -> tuple[type[FlatField], type[RowFilter], type[Backprojector]]:
    """The step classes of a device: 'cpu' or 'gpu' (CuPy's current device)."""
    _check(device)
    if device == "gpu":
        from .steps_cuda import BackprojectorCuda, FlatFieldCuda, RowFilterCuda

        return FlatFieldCuda, RowFilterCuda, BackprojectorCuda
    return FlatField, RowFilter, Backprojector


def staging(device: str) -> type[Staging]:
    """Where a device's frame bands wait for a full batch: in place (CPU) or uploaded as they come (GPU)."""
    _check(device)
    if device == "gpu":
        from .steps_cuda import StagingCuda

        return StagingCuda
    return Staging
