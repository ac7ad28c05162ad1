"""The benchmark suite behind `ufo bench`: ufo and its peers measured in the same run.

All measuring code lives here, one module per area, so no measurement is written twice:
each area's `measure()` returns `Measure`s for `ufo bench`, and the scripts under
benchmarks/ only parse arguments and print what these modules' functions return, with
larger sizes (docs/benchmarks.md). Modules: runtime, storage, camera, reco (the `ufo bench`
rows, CPU and GPU), reco_fair (CPU FBP per core and per machine, every tool in its own
pinned or unpinned processes), gpu_files (`ufo reco` file to file against its I/O floor and
GPU peers), kernels (median, stripes, axis), stream and stream_acceptance
(camera-rate scans), cluster (Dask), tango (streams between hosts), startup (how soon the
`ufo` command answers), jit and jit_kernels (@jit), gpu and gpu_check (device machine only:
they import CuPy at the top).
"""

from __future__ import annotations

from collections.abc import Callable

from .measure import Measure

AREAS = ("runtime", "storage", "camera", "reco", "gpu")


def measure(area: str, scale: float = 1.0, directory: str | None = None) -> list[Measure]:
    """Run one area's benchmarks (imported on demand: the GPU one needs CuPy)."""
    if area == "runtime":
        from .runtime import measure as run
        return run(scale)
    if area == "storage":
        from .storage import measure as store
        return store(scale, directory)
    if area == "camera":
        from .camera import measure as grab
        return grab(scale)
    if area == "reco":
        from .reco import measure as reconstruct
        return reconstruct(scale)
    if area == "gpu":
        from ..core.resources import available

        if not available():
            return [Measure("gpu", "FBP on a GPU", 0.0, "-", None, "GUPS", "no GPU here (CuPy and CUDA needed)")]
        from .reco import measure_gpu
        return measure_gpu(scale)
    raise ValueError(f"unknown benchmark area '{area}'; choose from {', '.join(AREAS)}")


def run_all(areas: tuple[str, ...] = AREAS, scale: float = 1.0, directory: str | None = None,
            on_area: Callable[[str], None] | None = None) -> list[Measure]:
    """Every area in turn (`on_area` hears each one's name as it starts, for a progress line)."""
    results: list[Measure] = []
    for area in areas:
        if on_area is not None:
            on_area(area)
        results.extend(measure(area, scale, directory))
    return results


__all__ = ["AREAS", "Measure", "measure", "run_all"]
